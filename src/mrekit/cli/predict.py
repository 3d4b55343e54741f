"""``mrekit predict``: stream a model over texts (TXT, one per line, stdin, or any readable data) to JSONL.

Inputs are read lazily (TXT, JSONL and stdin line by line; other formats are read
whole) and predicted ``batch_size * 8`` texts at a time through
:func:`mrekit.predictor.stream_predictions`, the streaming path ``mrekit annotate``'s
shards use too, and each result is written as it comes: memory stays constant however many
texts there are. The output file appears atomically when complete; without
``--output`` (or with ``-o -``) results go to stdout.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from mrekit.cli._data import read_examples
from mrekit.cli._ui import cli_errors, console, err_console, progress
from mrekit.encoder.windows import check_long_texts as check_window_options
from mrekit.errors import MrekitError
from mrekit.files import iter_lines
from mrekit.formats import jsonl
from mrekit.outputs import atomic_file, check_output_file
from mrekit.predictor import Predictor, engine_of, load
from mrekit.predictor import stream_predictions as stream
from mrekit.schema import Example

#: What ``--backend`` accepts (encoder models; ``auto`` for every engine).
BACKENDS = ("torch", "onnx", "onnx-int8", "auto")
#: Without a terminal, a plain progress line goes to stderr every this many texts.
PLAIN_EVERY = 1000


def check_backend(model_dir: str | Path, backend: str) -> None:
    """Refuse an unknown backend (``E183``), or one other than ``auto`` for a model without backends (``E175``).

    Example:
        >>> check_backend("runs/snips", "cuda")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E183] field 'backend': backend must be one of torch, onnx, ..., not 'cuda'
    """
    if backend not in BACKENDS:
        raise MrekitError("E183", f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}", field="backend")
    if backend != "auto" and (engine := engine_of(model_dir)) != "encoder":
        message = f"--backend {backend} is for encoder models; this is a {engine} model"
        raise MrekitError("E175", message, field="backend")


def check_long_texts(model_dir: str | Path, long_texts: str | None, stride: int | None) -> None:
    """Refuse a bad ``--long-texts`` / ``--stride`` (``E183``), or either for a model other than an encoder (``E175``).

    Example:
        >>> check_long_texts("runs/snips", "cut", None)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E183] field 'long_texts': long_texts must be one of window, truncate, not 'cut'
    """
    if long_texts is None and stride is None:
        return
    check_window_options(long_texts or "window", stride)
    if (engine := engine_of(model_dir)) != "encoder":
        message = f"--long-texts and --stride are for encoder models; this is a {engine} model"
        raise MrekitError("E175", message, field="long_texts" if long_texts is not None else "stride")


def load_with_backend(model_dir: str | Path, backend: str = "auto") -> Predictor:
    """Load a model folder with an inference backend (``torch``, ``onnx``, ``onnx-int8`` or ``auto``).

    Raises:
        MrekitError: see :func:`check_backend`, and :func:`mrekit.load`'s errors.

    Example:
        >>> load_with_backend("runs/snips", "onnx-int8").info()["backend"]  # doctest: +SKIP
        'onnx-int8'
    """
    check_backend(model_dir, backend)
    return load(model_dir, backend=backend)


def iter_inputs(spec: str | Path) -> Iterator[Example]:
    """Texts to predict, lazily: ``-`` (stdin) and ``.txt`` give one text per non-empty line, ids = line numbers.

    A ``.jsonl`` file streams its examples (ids kept); any other input is read whole.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.txt"
        >>> _ = path.write_text("play muse\\n\\nbook a table\\n")
        >>> [(ex.id, ex.text) for ex in iter_inputs(path)]
        [('1', 'play muse'), ('3', 'book a table')]
    """
    if str(spec) == "-":
        return _text_lines(enumerate((line.rstrip("\r\n") for line in sys.stdin), start=1))
    path = Path(spec)
    if path.suffix == ".txt":
        return _text_lines(iter_lines(path))
    if path.suffix == ".jsonl" and path.is_file():
        return jsonl.read(path)
    return iter(read_examples(spec))


def _text_lines(lines: Iterable[tuple[int, str]]) -> Iterator[Example]:
    return (Example(line, id=str(n)) for n, line in lines if line.strip())


def read_inputs(spec: str | Path) -> list[Example]:
    """All of :func:`iter_inputs`, in memory."""
    return list(iter_inputs(spec))


def stream_predictions(
    nlp: Predictor,
    examples: Iterable[Example],
    *,
    batch_size: int = 64,
    consistency: str = "report",
    long_texts: str | None = None,
    stride: int | None = None,
) -> Iterator[Example]:
    """:func:`mrekit.predictor.stream_predictions` (the path ``mrekit annotate`` uses too), with
    ``long_texts`` and ``stride`` (encoder models) passed on only when given.

    Example:
        >>> class Upper(Predictor):
        ...     def predict(self, texts, *, batch_size=64, consistency="report"):
        ...         return [Example(t.upper()) for t in texts]
        >>> [(ex.id, ex.text) for ex in stream_predictions(Upper(), [Example("a", id="7")])]
        [('7', 'A')]
    """
    options = {k: v for k, v in (("long_texts", long_texts), ("stride", stride)) if v is not None}
    return stream(nlp, examples, batch_size=batch_size, consistency=consistency, **options)


def predict(
    model_dir: str | Path,
    inputs: str | Path,
    output: str | Path | None = None,
    *,
    batch_size: int = 64,
    consistency: str = "report",
    overwrite: bool = False,
    backend: str = "auto",
    long_texts: str | None = None,
    stride: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Predict every input text and write JSONL to ``output`` (atomically; ``None`` or ``-``: stdout).

    ``output`` is never one of the inputs (``E172``) and an existing file is kept
    unless ``overwrite`` (``E170``); both are checked before the model is loaded.

    Args:
        model_dir: A model folder (or a training output folder).
        inputs: TXT, JSONL or any readable data; ``-`` reads texts from stdin.
        output: The JSONL file (``None`` / ``-``: stdout).
        batch_size: Texts per forward pass.
        consistency: ``report``, ``enforce`` or ``off`` (see :meth:`MREModel.predict`).
        overwrite: Replace an existing output file.
        backend: ``torch``, ``onnx``, ``onnx-int8`` or ``auto`` (encoder models).
        long_texts: ``window`` or ``truncate`` (encoder models; ``None``: the model's default, ``window``).
        stride: Subwords shared by consecutive windows (encoder models; ``None``: a quarter of a window).
        on_progress: Called with the number of texts done after each result.

    Returns:
        How many predictions were written.

    Example:
        >>> predict("runs/snips/model-best", "texts.txt", "pred.jsonl")  # doctest: +SKIP
        2
    """
    target = "-" if output is None else output
    protected = [] if str(inputs) == "-" else [inputs]
    if str(target) != "-":
        check_output_file(target, overwrite=overwrite, inputs=protected)
    check_long_texts(model_dir, long_texts, stride)
    nlp = load_with_backend(model_dir, backend)
    count = 0
    stream = stream_predictions(
        nlp, iter_inputs(inputs), batch_size=batch_size, consistency=consistency, long_texts=long_texts, stride=stride
    )
    with atomic_file(target, overwrite=overwrite, inputs=protected) as fh:
        for result in stream:
            fh.write(jsonl.dumps(result) + "\n")
            count += 1
            if on_progress is not None:
                on_progress(count)
    return count


class PlainProgress:
    """Progress as plain lines on stderr (no terminal): every :data:`PLAIN_EVERY` texts and at the end."""

    def __init__(self, every: int = PLAIN_EVERY) -> None:
        self.every, self.start, self.done = every, time.monotonic(), 0

    def __call__(self, done: int) -> None:
        self.done = done
        if done % self.every == 0:
            sys.stderr.write(f"predicted {done} texts ({self._rate()})\n")

    def close(self) -> None:
        """Nothing to release."""

    def finish(self) -> None:
        sys.stderr.write(f"predicted {self.done} texts in {time.monotonic() - self.start:.1f}s ({self._rate()})\n")

    def _rate(self) -> str:
        return f"{self.done / max(time.monotonic() - self.start, 1e-9):.0f} texts/s"


class RichProgress:
    """A rich progress display on a terminal (total unknown: texts are streamed)."""

    def __init__(self) -> None:
        self._ticks = progress(iter(int, 1), "predicting")  # an endless iterator, advanced once per text

    def __call__(self, done: int) -> None:
        next(self._ticks)

    def close(self) -> None:
        self._ticks.close()

    def finish(self) -> None:
        """The bar is transient: nothing stays."""


def command(
    model_dir: Annotated[Path, typer.Argument(help="Model folder (or a training output folder).")],
    inputs: Annotated[str, typer.Argument(help="TXT (one text per line), JSONL, any readable data, or - for stdin.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="JSONL output (default: stdout).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --output file.")] = False,
    batch_size: Annotated[int, typer.Option(help="Texts per batch.")] = 64,
    consistency: Annotated[str, typer.Option(help="report, enforce or off: text/span label consistency.")] = "report",
    backend: Annotated[str, typer.Option(help="torch, onnx, onnx-int8 or auto (encoder models).")] = "auto",
    long_texts: Annotated[
        str | None,
        typer.Option(help="window (default) or truncate: texts longer than the model's max_length (encoder models)."),
    ] = None,
    stride: Annotated[
        int | None, typer.Option(help="Subwords shared by consecutive windows (default: a quarter of a window).")
    ] = None,
) -> None:
    """Predict text labels and spans, streaming; results are the schema's JSONL.

    Progress goes to stderr (a bar on a terminal, plain lines otherwise).

    Examples:
        mrekit predict runs/snips texts.txt -o predictions.jsonl
        cat texts.txt | mrekit predict runs/snips - > predictions.jsonl
        mrekit predict runs/snips snips:test --backend onnx-int8 --overwrite -o predictions.jsonl
        mrekit predict runs/snips long.txt --long-texts window --stride 32 -o predictions.jsonl
    """
    reporter: Any = RichProgress() if err_console.is_terminal else PlainProgress()
    try:
        count = cli_errors(predict)(
            model_dir,
            inputs,
            output,
            batch_size=batch_size,
            consistency=consistency,
            overwrite=overwrite,
            backend=backend,
            long_texts=long_texts,
            stride=stride,
            on_progress=reporter,
        )
    finally:
        reporter.close()
    reporter.finish()
    if output is not None and str(output) != "-":
        console.print(f"[green]✔[/] wrote {count} predictions to {output}")
