"""``mrekit calibrate MODEL DEV``: temperature scaling of the text level, stored in the model folder.

One temperature ``T`` divides the text head's logits (softmax), fitted on DEV to
minimise the negative log-likelihood; predicted labels never change, only their
probabilities. It is stored in the manifest's model config (the folder is written
again, so its hashes stay valid) and applied by every backend after
``mrekit.load``. Multi-label (sigmoid) models are refused (``E176``): their
per-label thresholds were tuned on the uncalibrated scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mrekit.cli._data import read_examples
from mrekit.cli._ui import cli_errors, console
from mrekit.encoder.model import MREModel
from mrekit.errors import MrekitError
from mrekit.predictor import engine_of, model_folder


def calibrate(
    model_dir: str | Path, dev: str | Path, *, dev_format: str | None = None, batch_size: int = 64, save: bool = True
) -> dict[str, Any]:
    """Fit the text level's temperature on ``dev`` and (unless ``save`` is false) store it in the folder.

    Returns:
        ``temperature``, ``n`` (dev examples used), and dev ``nll`` / ``ece`` ``before`` and ``after``.

    Raises:
        MrekitError: ``E175`` for a model that is not an encoder model; ``E176`` for a
            multi-label one; ``E177`` when no dev example has a label the model knows.

    Example:
        >>> calibrate("runs/snips", "snips:dev")["after"]["nll"]  # doctest: +SKIP
        0.21...
    """
    folder = model_folder(model_dir)
    engine = engine_of(folder)
    if engine != "encoder":
        raise MrekitError("E175", f"calibration is for encoder models; this is a {engine} model", path=folder)
    examples = read_examples(dev, dev_format, field="dev")
    nlp = MREModel.load(folder, backend="torch")  # the exact scores of the weights
    result = nlp.calibrate(examples, batch_size=batch_size)
    if save:
        nlp.save_calibration()
    return result


def _print(result: dict[str, Any], folder: Path, saved: bool) -> None:
    table = Table("on dev", "before", "after", title=f"Temperature scaling on {result['n']} dev examples")
    table.add_row("NLL", f"{result['before']['nll']:.4f}", f"{result['after']['nll']:.4f}")
    table.add_row("ECE (10 bins)", f"{result['before']['ece']:.2%}", f"{result['after']['ece']:.2%}")
    console.print(table)
    where = f"stored in {folder}" if saved else "not stored (--dry-run)"
    console.print(f"[green]✔[/] temperature {result['temperature']:.4f} {where}")


def command(
    model_dir: Annotated[Path, typer.Argument(help="Model folder (or a training output folder).")],
    dev: Annotated[str, typer.Argument(help="Development data with text labels (file, folder or snips:dev).")],
    dev_format: Annotated[str | None, typer.Option(help="Format of DEV; inferred if omitted.")] = None,
    batch_size: Annotated[int, typer.Option(help="Texts per batch.")] = 64,
    dry_run: Annotated[bool, typer.Option(help="Report the fit without changing the model folder.")] = False,
) -> None:
    """Calibrate text-label probabilities (temperature scaling) on DEV; reports NLL and ECE before/after.

    Examples:
        mrekit calibrate runs/snips snips:dev
    """
    result = cli_errors(calibrate)(model_dir, dev, dev_format=dev_format, batch_size=batch_size, save=not dry_run)
    _print(result, model_folder(model_dir), not dry_run)
