"""``mrekit predict``: run a model over texts (TXT, one per line, or any readable data) to JSONL."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mrekit.cli._data import read_examples
from mrekit.cli._ui import cli_errors, console
from mrekit.files import iter_lines
from mrekit.formats import jsonl
from mrekit.outputs import check_output_file
from mrekit.predictor import load
from mrekit.schema import Example


def read_inputs(spec: str | Path) -> list[Example]:
    """Texts to predict: a ``.txt`` file gives one text per non-empty line; other inputs keep ids."""
    path = Path(spec)
    if path.suffix == ".txt":
        return [Example(line, id=str(n)) for n, line in iter_lines(path) if line.strip()]

    return read_examples(spec)


def predict(
    model_dir: str | Path,
    inputs: str | Path,
    output: str | Path | None = None,
    *,
    batch_size: int = 64,
    consistency: str = "report",
    overwrite: bool = False,
) -> list[Example]:
    """Predict every input text and write JSONL to ``output`` (atomically) when given.

    ``output`` is never one of the inputs (``E172``) and an existing file is kept
    unless ``overwrite`` (``E170``); both are checked before the model is loaded.

    Example:
        >>> predict("runs/snips/model-best", "texts.txt", "pred.jsonl")  # doctest: +SKIP
    """

    if output is not None and str(output) != "-":
        check_output_file(output, overwrite=overwrite, inputs=[inputs])
    nlp = load(model_dir)
    examples = read_inputs(inputs)
    results = nlp.predict([ex.text for ex in examples], batch_size=batch_size, consistency=consistency)
    for source, result in zip(examples, results, strict=True):
        result.id = source.id
    if output is not None:
        jsonl.write(results, output, overwrite=overwrite, inputs=[inputs])
    return results


def command(
    model_dir: Annotated[Path, typer.Argument(help="Model folder (or a training output folder).")],
    inputs: Annotated[str, typer.Argument(help="TXT (one text per line), JSONL or any readable data.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="JSONL output (default: stdout).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --output file.")] = False,
    batch_size: Annotated[int, typer.Option(help="Texts per batch.")] = 64,
    consistency: Annotated[str, typer.Option(help="report, enforce or off: text/span label consistency.")] = "report",
) -> None:
    """Predict text labels and spans; results are the schema's JSONL.

    Examples:
        mrekit predict runs/snips texts.txt -o predictions.jsonl
        mrekit predict runs/snips snips:test --overwrite -o predictions.jsonl
    """
    results = cli_errors(predict)(
        model_dir, inputs, output, batch_size=batch_size, consistency=consistency, overwrite=overwrite
    )
    if output is None or str(output) == "-":
        for result in results:
            sys.stdout.write(jsonl.dumps(result) + "\n")
    else:
        console.print(f"[green]✔[/] wrote {len(results)} predictions to {output}")
