"""``mrekit quickstart``: the main job: train an ``mre`` model on the bundled SNIPS data and show what it does."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from mrekit.cli._data import training_progress
from mrekit.cli._ui import cli_errors, console
from mrekit.cli.evaluate import _print
from mrekit.datasets import load_builtin
from mrekit.encoder.model import MREModel
from mrekit.metrics import evaluate
from mrekit.trainer import TrainingArguments, refuse_earlier_run

EXAMPLES = [
    "play the new album by muse on spotify",
    "will it rain in paris tomorrow afternoon",
    "book a table for four at a sushi bar near me",
    "add this song to my evening chill playlist",
]


def quickstart(
    output: str | Path = "mrekit-quickstart",
    *,
    epochs: int = 3,
    max_train: int | None = None,
    seed: int = 0,
    encoder: str | Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train on ``snips:train`` (select on ``snips:dev``), evaluate on ``snips:test``, save the model.

    Returns:
        The test report of :func:`mrekit.metrics.evaluate`, with ``train_minutes`` added.

    Raises:
        MrekitError: ``E170`` when ``output`` holds an earlier run and ``overwrite`` is not set.
    """

    refuse_earlier_run(Path(output), overwrite=overwrite)  # before the data loads
    train = load_builtin("snips", "train")[:max_train]
    dev, test = load_builtin("snips", "dev"), load_builtin("snips", "test")
    args = TrainingArguments(epochs=epochs, learning_rate=2e-4, seed=seed, threads=None)
    started = time.perf_counter()
    with training_progress() as progress:
        model = MREModel(mode="mre", encoder=encoder).fit(
            train, dev, args=args, output_dir=output, overwrite=overwrite, progress=progress
        )
    minutes = (time.perf_counter() - started) / 60
    report = evaluate(test, model.predict([ex.text for ex in test]), bootstrap=1000, seed=seed)
    report["train_minutes"] = minutes
    report["examples"] = [model(text) for text in EXAMPLES]
    return report


def _show_predictions(examples: list) -> None:
    from rich.table import Table

    table = Table("text", "label", "spans", title="A few predictions")
    for ex in examples:
        label = ", ".join(f"{label} ({ex.label_scores[label]:.2f})" for label in ex.labels)
        spans = "; ".join(f"{ex.surface(s)} → {s.label}" for s in ex.spans or [])
        table.add_row(ex.text, label, spans)
    console.print(table)


def command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where the run and model-best/ go.")] = Path(
        "mrekit-quickstart"
    ),
    epochs: Annotated[int, typer.Option(help="Epochs (the quick recipe uses 3; the benchmark recipe more).")] = 3,
    max_train: Annotated[int | None, typer.Option(help="Use only the first N training texts (faster).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    encoder: Annotated[str | None, typer.Option(help="Local encoder folder instead of the bundled MiniLM.")] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Start again in an --output that holds an earlier quickstart (its files only).")
    ] = False,
) -> None:
    """Train an mre model on the bundled SNIPS data, evaluate it on SNIPS test, show predictions, save it.

    Examples:
        mrekit quickstart
        mrekit quickstart --output runs/quick --epochs 1 --max-train 500
        mrekit quickstart --overwrite        # again, into the same mrekit-quickstart/
    """

    console.print(
        f"[bold]mrekit quickstart[/]: joint intent + slot model (mode mre, bundled MiniLM) on SNIPS, {epochs} epochs. "
        "This is the quick recipe; bench/joint.py runs the full benchmark recipe."
    )
    report = cli_errors(quickstart)(
        output, epochs=epochs, max_train=max_train, seed=seed, encoder=encoder, overwrite=overwrite
    )
    _print({k: v for k, v in report.items() if k != "per_label"})
    _show_predictions(report["examples"])
    console.print(f"[green]✔[/] trained in {report['train_minutes']:.1f} min; model saved to {output / 'model-best'}")
    best = output / "model-best"
    console.print(f"   use it: [bold]mrekit predict {best} texts.txt[/] or [bold]mrekit.load('{best}')[/]")
