"""``mrekit annotate``: run a model over a corpus into sharded, resumable outputs (:mod:`mrekit.annotate`).

Progress goes to stderr: a bar with documents/s and an ETA on a terminal, plain lines
otherwise (one per finished shard, and at least every :data:`PLAIN_SECONDS`); a summary
line ends the run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from mrekit.annotate import AnnotateProgress, get_engine
from mrekit.annotate import annotate as run_annotate
from mrekit.annotate.ray_engine import RayEngine
from mrekit.cli._ui import cli_errors, console, err_console
from mrekit.errors import MrekitError

#: Without a terminal, a plain progress line goes to stderr at least this often (and after each shard).
PLAIN_SECONDS = 30.0


def _rate_and_eta(state: AnnotateProgress) -> tuple[float, float | None]:
    """Documents per second annotated now, and seconds left (``None`` when unknown)."""
    rate = state.annotated / state.seconds if state.seconds > 0 else 0.0
    if state.total is None or rate <= 0:
        return rate, None
    return rate, max(state.total - state.documents, 0) / rate


def _count(number: int, noun: str) -> str:
    """``1 shard``, ``2 shards``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _duration(seconds: float | None) -> str:
    """``1h02m``, ``3m05s``, ``12s``, or ``?``.

    Example:
        >>> _duration(3725), _duration(185), _duration(12.4), _duration(None)
        ('1h02m', '3m05s', '12s', '?')
    """
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class PlainProgress:
    """Progress as plain lines on stderr: after each finished shard, and at least every :data:`PLAIN_SECONDS`."""

    def __init__(self, every: float = PLAIN_SECONDS) -> None:
        self.every, self.last, self.shards = every, time.monotonic(), 0

    def __call__(self, state: AnnotateProgress) -> None:
        shards = state.shards_written + state.shards_skipped
        if shards == self.shards and time.monotonic() - self.last < self.every:
            return
        self.shards, self.last = shards, time.monotonic()
        rate, eta = _rate_and_eta(state)
        total = f"/{state.total}" if state.total is not None else ""
        sys.stderr.write(
            f"annotated {state.documents}{total} documents, {_count(shards, 'shard')} "
            f"({rate:.0f} docs/s, ETA {_duration(eta)}, {_count(state.errors, 'bad row')})\n"
        )

    def close(self) -> None:
        """Nothing to release."""


class RichProgress:
    """A bar on a terminal: documents done of the estimate, documents/s, ETA."""

    def __init__(self) -> None:
        columns = (
            TextColumn("annotating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} docs/s"),
            TextColumn("ETA {task.fields[eta]}"),
            TimeElapsedColumn(),
        )
        self.bar = Progress(*columns, console=err_console, transient=True)
        self.task = self.bar.add_task("annotating", total=None, rate="0", eta="?")
        self.bar.start()

    def __call__(self, state: AnnotateProgress) -> None:
        rate, eta = _rate_and_eta(state)
        self.bar.update(self.task, completed=state.documents, total=state.total, rate=f"{rate:.0f}", eta=_duration(eta))

    def close(self) -> None:
        self.bar.stop()


def summary_line(summary: dict[str, Any]) -> str:
    """The run's last line.

    Example:
        >>> print(summary_line({"documents": 12, "documents_skipped": 5, "errors": 1, "shards": 4,
        ...     "shards_written": 3, "shards_skipped": 1, "seconds": 2.0, "docs_per_second": 6.0, "output": "out"}))
        annotated 12 documents in 3 shards (1 finished shard of 5 documents skipped), 1 bad row in out/errors.jsonl; \
6 docs/s, 2.0s -> out
    """
    skipped = summary["shards_skipped"]
    text = f"annotated {summary['documents']} documents in {_count(summary['shards_written'], 'shard')}"
    if skipped:
        text += f" ({_count(skipped, 'finished shard')} of {summary['documents_skipped']} documents skipped)"
    errors = summary["errors"]
    text += f", {_count(errors, 'bad row')}"
    if errors:
        text += f" in {Path(summary['output']) / 'errors.jsonl'}"
    return text + f"; {summary['docs_per_second']:.0f} docs/s, {summary['seconds']:.1f}s -> {summary['output']}"


def command(
    model_dir: Annotated[Path, typer.Argument(help="Model folder (or a training output folder).", show_default=False)],
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Files or quoted globs ('data/**/*.jsonl'): JSONL, TXT, CSV, TSV, Parquet.", show_default=False
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder of shards.", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", help="Shard format: jsonl or parquet (needs pyarrow).")] = "jsonl",
    shard_size: Annotated[int, typer.Option(help="Documents per shard (the unit of --resume).")] = 10000,
    batch_size: Annotated[int, typer.Option(help="Texts per forward pass.")] = 64,
    workers: Annotated[
        int,
        typer.Option(help="Processes (--engine ray: Ray actors), each loading the model once; results are the same."),
    ] = 1,
    threads: Annotated[
        int | None, typer.Option(help="Torch threads per worker (default with --workers N: cores / N).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --output: write only its missing shards.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Start again in --output, replacing only what mrekit wrote.")] = False,
    text_key: Annotated[str, typer.Option(help="Field (column) holding the text.")] = "text",
    id_key: Annotated[str, typer.Option(help="Field (column) holding the id (default id: FILE-STEM:LINE).")] = "id",
    txt_mode: Annotated[str, typer.Option(help="TXT inputs: lines (a document per line) or file (one per file).")] = (
        "lines"
    ),
    input_format: Annotated[
        str | None, typer.Option(help="Read every input as jsonl, txt, csv, tsv or parquet (default: by suffix).")
    ] = None,
    text: Annotated[bool, typer.Option("--text/--no-text", help="Write each document's text in its row.")] = True,
    engine: Annotated[
        str,
        typer.Option(
            help="What runs the shards: local (this machine) or ray (Ray actors on a Ray cluster; needs the ray extra)."
        ),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="--engine ray: the cluster to join (ray://HEAD:10001, HEAD:6379 or auto; default $RAY_ADDRESS, "
            "else a local Ray of --workers x --cpus-per-worker CPUs, shut down at the end).",
            show_default=False,
        ),
    ] = None,
    cpus_per_worker: Annotated[
        int | None,
        typer.Option(help="--engine ray: CPUs each actor reserves, and its torch threads (default --threads, else 1)."),
    ] = None,
) -> None:
    """Annotate a corpus with a model: sharded, atomic, resumable outputs in a folder.

    OUT gets part-00000.jsonl, part-00001.jsonl, ... with one row per document (id, text, labels, spans, ...).
    Bad input rows go to OUT/errors.jsonl (file, line, code, message); OUT/manifest.json lists the finished shards.
    --resume writes only the shards that are missing, once the inputs, settings and model are the same.
    --engine ray runs the shards on --workers Ray actors; their shards go straight to OUT, which (like the model)
    must be on a filesystem every node of the cluster sees, at the same path. The same OUT resumes with either engine.

    Examples:
        mrekit annotate runs/snips texts.txt -o annotated
        mrekit annotate runs/snips 'data/**/*.jsonl' notes.csv -o annotated --workers 4 --shard-size 5000
        mrekit annotate runs/snips 'data/**/*.jsonl' notes.csv -o annotated --resume
        mrekit annotate runs/snips docs/*.txt --txt-mode file --format parquet --no-text -o annotated
        mrekit annotate runs/snips 'data/*.jsonl' -o annotated --engine ray --workers 2 --cpus-per-worker 1
        mrekit annotate /nfs/snips '/nfs/docs/*' -o /nfs/out --engine ray --ray-address ray://head:10001 --workers 8
    """
    chosen: Any = cli_errors(_engine)(engine, ray_address, cpus_per_worker)
    reporter: Any = RichProgress() if err_console.is_terminal else PlainProgress()
    try:
        summary = cli_errors(run_annotate)(
            model_dir,
            inputs,
            output,
            shard_size=shard_size,
            batch_size=batch_size,
            workers=workers,
            resume=resume,
            overwrite=overwrite,
            text_key=text_key,
            id_key=id_key,
            txt_mode=txt_mode,
            input_format=input_format,
            fmt=fmt,
            include_text=text,
            engine=chosen,
            threads=threads,
            progress=reporter,
        )
    finally:
        reporter.close()
    console.print(Text.assemble(("✔ ", "green"), summary_line(summary)), highlight=False, soft_wrap=True)


def _engine(name: str, ray_address: str | None, cpus_per_worker: int | None) -> Any:
    """The engine to run: its name, or a :class:`RayEngine` with the ray options (``E220``, ``E183``)."""
    get_engine(name)  # E220 for an unknown engine, or ray without the ray extra
    if name == "ray":
        return RayEngine(address=ray_address, cpus_per_worker=cpus_per_worker)
    for option, value in (("--ray-address", ray_address), ("--cpus-per-worker", cpus_per_worker)):
        if value is not None:
            field = option.lstrip("-").replace("-", "_")
            raise MrekitError("E183", f"{option} is an option of --engine ray", field=field)
    return name
