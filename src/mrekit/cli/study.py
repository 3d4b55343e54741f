"""``mrekit study``: measure the Mutual Reinforcement Effect on one or more data sets."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mrekit.cli._data import training_progress
from mrekit.cli._ui import cli_errors, console
from mrekit.study import RUNS, run_study
from mrekit.study.data import load_study_data
from mrekit.study.report import build_report, markdown, write_report
from mrekit.study.runs import read_dev_scores


def study(
    data: list[str],
    output: str | Path,
    *,
    seeds: int = 3,
    runs: list[str] | None = None,
    encoder: str | Path | None = None,
    training: dict[str, Any] | None = None,
    max_train: int | None = None,
    n_resamples: int = 1000,
) -> dict[str, Any]:
    """Run (or resume) the study of each data set and write its report into ``output``.

    Example:
        >>> report = study(["snips"], "study-out", seeds=3)  # doctest: +SKIP
        >>> report["snips"]["verdict"]["word_to_text"]["verdict"]  # doctest: +SKIP
        'present'
    """

    sets = [load_study_data(spec) for spec in data]
    for dataset in sets:
        dataset.train = dataset.train[:max_train]
    chosen = runs or list(RUNS)
    with training_progress() as progress:
        results = run_study(
            sets, output, seeds=range(seeds), runs=chosen, encoder=encoder, training=training, progress=progress
        )
    command = "mrekit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    dev = {d.name: read_dev_scores(output, d.name, chosen, range(seeds)) for d in sets}
    report = build_report(sets, results, command=command, n_resamples=n_resamples, dev_scores=dev)
    write_report(report, output)
    return report


def command(
    data: Annotated[list[str] | None, typer.Argument(help="Bundled set (snips) or folder with train/dev/test.")] = None,
    datasets: Annotated[list[str] | None, typer.Option("--datasets", help="Several data sets (repeat).")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Report, plots and cached runs go here.")] = Path(
        "mrekit-study"
    ),
    seeds: Annotated[int, typer.Option(help="Seeds per run.")] = 3,
    runs: Annotated[list[str] | None, typer.Option("--run", help="Only these runs (repeat); default all.")] = None,
    encoder: Annotated[str | None, typer.Option(help="Local encoder folder (default: bundled MiniLM).")] = None,
    epochs: Annotated[int, typer.Option(help="Epochs of every run (same budget for all).")] = 5,
    lr: Annotated[float, typer.Option(help="Encoder learning rate.")] = 2e-4,
    batch_size: Annotated[int, typer.Option(help="Texts per step.")] = 32,
    max_train: Annotated[int | None, typer.Option(help="Use only the first N training texts.")] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for CIs and paired tests.")] = 1000,
) -> None:
    """Does solving both levels together help each level? Runs × seeds, paired tests, verdicts, plots.

    Runs: text_only, word_only, shared, mre, mre_enforce (mre's model with consistency-aware
    decoding), conditioned (gold of the other level in the
    training input, plain test input), its controls conditioned_shuffled and conditioned_neutral,
    cascade (conditioned on its own first pass), text_given_gold_words, words_given_gold_text.
    The verdict tests the joint run with the best dev frame accuracy against the isolated runs.
    Finished runs are cached in OUTPUT, so an interrupted study resumes where it stopped.

    Examples:
        mrekit study snips --output runs/study --seeds 3
        mrekit study snips --epochs 2 --run mre --run shared
        mrekit study snips --run text_only --run word_only --run conditioned --run conditioned_neutral
    """
    specs = list(data or []) + list(datasets or [])
    if not specs:
        raise typer.BadParameter("give a data set (e.g. snips) or --datasets")
    training = {"epochs": epochs, "learning_rate": lr, "batch_size": batch_size}
    report = cli_errors(study)(
        specs,
        output,
        seeds=seeds,
        runs=runs,
        encoder=encoder,
        training=training,
        max_train=max_train,
        n_resamples=bootstrap,
    )

    console.print(markdown(report).split("## Summary")[-1])
    console.print(f"[green]✔[/] report written to {output / 'report.md'} (and report.json, effects.png, levels.png)")
