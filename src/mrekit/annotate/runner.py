"""``annotate``: run a model over a corpus into a folder of shards, in bounded memory, resumably.

The inputs are read as one stream, in order (:mod:`mrekit.annotate.sources`); their
documents are cut into shards of ``shard_size`` (bad rows go to ``errors.jsonl`` and
count toward no shard), so the shard boundaries depend on the inputs and
``shard_size`` alone. An engine (:mod:`mrekit.annotate.engines`; ``local`` by default)
writes each shard atomically; the runner records each finished shard in
``OUT/manifest.json``. ``resume`` re-reads the inputs, checks that they, the settings
and the model are those of the run in ``OUT`` (``E189``), skips the shards whose files
are in place and unchanged, and writes the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mrekit.annotate.engines import Engine, Job, ShardTask, get_engine
from mrekit.annotate.sinks import ERRORS, FORMATS, ErrorLog, error_log, shard_name
from mrekit.annotate.sources import (
    BadRow,
    ReadOptions,
    Record,
    estimate_documents,
    expand_inputs,
    fingerprint_inputs,
    format_of,
    iter_documents,
    require_pyarrow,
)
from mrekit.annotate.state import (
    check_resume,
    finished_shards,
    model_identity,
    new_manifest,
    prepare_output,
    record_written,
    shard_key,
    write_manifest,
)
from mrekit.errors import MrekitError
from mrekit.predictor import check_batch_size


@dataclass
class AnnotateProgress:
    """Where a run stands, passed to ``progress`` as documents and shards are done.

    ``documents`` counts those annotated now and those in the finished shards that a
    resumed run skips; ``total`` is :func:`~mrekit.annotate.sources.estimate_documents`'s
    estimate of all of them (for an ETA).
    """

    documents: int = 0
    total: int | None = None
    annotated: int = 0
    skipped: int = 0
    errors: int = 0
    shards_written: int = 0
    shards_skipped: int = 0
    seconds: float = 0.0


def annotate(
    model: str | Path,
    inputs: str | Path | Sequence[str | Path],
    output: str | Path,
    *,
    shard_size: int = 10000,
    batch_size: int = 64,
    workers: int = 1,
    resume: bool = False,
    overwrite: bool = False,
    text_key: str = "text",
    id_key: str = "id",
    txt_mode: str = "lines",
    input_format: str | None = None,
    fmt: str = "jsonl",
    include_text: bool = True,
    engine: str | Engine = "local",
    threads: int | None = None,
    load_options: dict[str, Any] | None = None,
    progress: Callable[[AnnotateProgress], None] | None = None,
) -> dict[str, Any]:
    """Annotate every document of ``inputs`` with ``model`` into the folder ``output``.

    Args:
        model: A model folder (or a training output folder holding ``model-best``).
        inputs: Files or glob patterns (``data/**/*.jsonl``): JSONL, TXT, CSV, TSV, Parquet.
        output: The output folder: ``part-NNNNN.jsonl`` (or ``.parquet``), ``errors.jsonl``,
            ``manifest.json``.
        shard_size: Documents per shard.
        batch_size: Texts per forward pass.
        workers: Processes, each loading the model once (spawned; results are the same).
        resume: Continue the run in ``output``: only its missing shards are written.
        overwrite: Start again in ``output``, replacing only what a run wrote there.
        text_key: The field (column) holding the text (JSONL, CSV/TSV, Parquet).
        id_key: The field (column) holding the id; without one, ``<file stem>:<line>``.
        txt_mode: ``lines`` (a document per non-blank line) or ``file`` (a document per TXT file).
        input_format: Read every input as this format instead of by suffix.
        fmt: The shards' format, ``jsonl`` or ``parquet``.
        include_text: Write each document's text in its row.
        engine: What runs the shards: a registered name (``local``, ``ray``; see
            :mod:`mrekit.annotate.engines`) or an engine itself (``RayEngine(address=...)``).
        threads: Torch threads per worker (default with ``workers > 1``: cores / workers).
        load_options: Keyword arguments for :func:`mrekit.load` (e.g. ``{"backend": "onnx"}``).
        progress: Called with an :class:`AnnotateProgress` as documents and shards are done.

    Returns:
        ``documents`` (annotated now), ``documents_skipped`` (in finished shards),
        ``errors``, ``shards`` (in all), ``shards_written``, ``shards_skipped``,
        ``seconds``, ``docs_per_second`` and ``output``.

    Raises:
        MrekitError: ``E183`` for a bad setting, ``E220`` for an engine that is not
            there, ``E100``/``E131`` for inputs, ``E181`` for the model, ``E170``/``E172``/
            ``E173``/``E174`` for the output (see :func:`~mrekit.annotate.state.prepare_output`),
            ``E184``/``E189`` for a resume that does not fit.

    Example:
        >>> import mrekit
        >>> summary = mrekit.annotate("runs/snips", ["docs/*.jsonl"], "annotated", shard_size=1000)  # doctest: +SKIP
        >>> summary["documents"], summary["shards_written"]  # doctest: +SKIP
        (2500, 3)
    """
    start = time.monotonic()
    if resume and overwrite:
        message = "--resume continues the run in the output and --overwrite starts it again: give one"
        raise MrekitError("E183", message, field="resume")
    _check_settings(shard_size=shard_size, batch_size=batch_size, workers=workers, threads=threads, fmt=fmt)
    options = ReadOptions(text_key=text_key, id_key=id_key, txt_mode=txt_mode, input_format=input_format)
    options.check()
    run_engine = engine if callable(engine) else get_engine(engine)
    if fmt == "parquet":
        require_pyarrow("writing Parquet")
    paths = expand_inputs([inputs] if isinstance(inputs, (str, Path)) else inputs)
    if "parquet" in {format_of(path, options) for path in paths}:  # an unknown suffix fails here, E131
        require_pyarrow("reading Parquet")
    identity = model_identity(model)
    out, previous = prepare_output(
        output, resume=resume, overwrite=overwrite, protected=[*paths, Path(identity["folder"])]
    )
    settings = {"shard_size": shard_size, **asdict(options), "format": fmt, "include_text": include_text}
    manifest = new_manifest(inputs=fingerprint_inputs(paths), settings=settings, model=identity)
    finished: dict[int, dict[str, Any]] = {}
    if previous is not None:
        check_resume(previous, manifest, out)
        finished = finished_shards(out, previous)
        manifest["shards"] = {shard_key(i): entry for i, entry in sorted(finished.items())}
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, manifest)
    record_written(out, [ERRORS])

    state = AnnotateProgress(total=estimate_documents(paths, options) if progress is not None else None)

    def report() -> None:
        if progress is not None:
            state.documents = state.annotated + state.skipped
            state.seconds = time.monotonic() - start
            progress(state)

    def on_documents(count: int) -> None:
        state.annotated += count
        report()

    job = Job(
        model=identity["folder"],
        output=str(out),
        fmt=fmt,
        include_text=include_text,
        batch_size=batch_size,
        workers=workers,
        threads=threads,
        row_model={"model": identity["model"], "model_version": identity["model_version"]},
        load_options=dict(load_options or {}),
    )
    planner = _Planner(out, fmt, shard_size, finished, state, report)
    with error_log(out / ERRORS) as errors:
        tasks = planner.tasks(iter_documents(paths, options), errors)
        recorded: set[int] = set()
        for done in run_engine(job, tasks, on_documents):
            if done.index in recorded:  # a retried shard reported twice: one file, recorded once
                continue
            recorded.add(done.index)
            manifest["shards"][shard_key(done.index)] = done.file.to_dict()
            manifest["shards"] = dict(sorted(manifest["shards"].items()))
            write_manifest(out, manifest)
            state.shards_written += 1
            report()
    documents = sum(entry["documents"] for entry in manifest["shards"].values())
    manifest.update(complete=True, documents=documents, errors=errors.count)
    write_manifest(out, manifest)
    seconds = time.monotonic() - start
    report()
    return {
        "documents": state.annotated,
        "documents_skipped": state.skipped,
        "errors": errors.count,
        "shards": planner.shards,
        "shards_written": state.shards_written,
        "shards_skipped": state.shards_skipped,
        "seconds": seconds,
        "docs_per_second": state.annotated / seconds if seconds > 0 else 0.0,
        "output": str(out),
    }


def _check_settings(*, shard_size: Any, batch_size: Any, workers: Any, threads: Any, fmt: Any) -> None:
    check_batch_size(shard_size, name="shard_size")
    check_batch_size(batch_size)
    check_batch_size(workers, name="workers")
    check_batch_size(threads, name="threads", optional=True)
    if fmt not in FORMATS:
        raise MrekitError("E183", f"format must be one of {', '.join(FORMATS)}, not {fmt!r}", field="format")


class _Planner:
    """Cuts the stream of documents into shard tasks, skipping finished shards and logging bad rows."""

    def __init__(
        self,
        out: Path,
        fmt: str,
        shard_size: int,
        finished: dict[int, dict[str, Any]],
        state: AnnotateProgress,
        report: Callable[[], None],
    ) -> None:
        self.out, self.fmt, self.shard_size, self.finished = out, fmt, shard_size, finished
        self.state, self.report = state, report
        self.shards = 0

    def tasks(self, rows: Iterable[Record | BadRow], errors: ErrorLog) -> Iterator[ShardTask]:
        """Shard tasks, lazily: one shard's documents are held at a time."""
        index, buffer = 0, []
        for row in rows:
            if isinstance(row, BadRow):
                errors.write(row)
                self.state.errors = errors.count
                continue
            buffer.append(row)
            if len(buffer) == self.shard_size:
                yield from self._shard(index, buffer)
                index, buffer = index + 1, []
        if buffer:
            yield from self._shard(index, buffer)
            index += 1
        self.shards = index

    def _shard(self, index: int, records: list[Record]) -> Iterator[ShardTask]:
        entry = self.finished.get(index)
        if entry is None:
            name = shard_name(index, self.fmt)
            record_written(self.out, [name])  # before the file exists: overwrite may then replace it
            yield ShardTask(index, tuple(records))
            return
        found = (len(records), records[0].id, records[-1].id)
        if found != (entry.get("documents"), entry.get("first_id"), entry.get("last_id")):
            raise MrekitError(
                "E189",
                f"the inputs no longer give shard {index}'s documents (it holds {entry.get('documents')}, "
                f"ids {entry.get('first_id')}..{entry.get('last_id')}; the inputs give {found[0]}, "
                f"ids {found[1]}..{found[2]})",
                path=self.out / entry["name"],
                hint="pass --overwrite to start again",
            )
        self.state.skipped += len(records)
        self.state.shards_skipped += 1
        self.report()
