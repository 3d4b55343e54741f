"""``mrekit fewshot``: K-shot text classification, label-name vs word-level-information verbalizers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mrekit.cli._data import training_progress
from mrekit.cli._ui import cli_errors, console
from mrekit.errors import MrekitError
from mrekit.fewshot import FewShotConfig, run_fewshot
from mrekit.fewshot.experiment import METHODS
from mrekit.outputs import atomic_file, check_output_file
from mrekit.schema import Example
from mrekit.study.data import load_study_data


def fewshot(
    data: str,
    *,
    methods: list[str],
    shots: list[int],
    seeds: int,
    verbalizer_file: str | None = None,
    encoder: str | None = None,
    finetune_epochs: int = 10,
    pool: bool = True,
    min_specificity: float = 0.7,
) -> dict:
    """Sample K shots per label from train, score test, per method and K.

    With ``pool``, the train examples not drawn as shots lend their spans (not
    their labels) to the WLI verbalizer, as span-only data would.

    Raises:
        MrekitError: ``E183`` for an unknown method or a ``file`` method without a verbalizer file.
    """

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise MrekitError("E183", f"unknown verbalizer(s): {', '.join(unknown)}", hint=f"choose from {list(METHODS)}")
    if "file" in methods and not verbalizer_file:
        raise MrekitError("E183", "--verbalizer file needs --verbalizer-file PATH")
    split = load_study_data(data)
    config = FewShotConfig(
        shots=tuple(shots),
        seeds=seeds,
        verbalizer_file=verbalizer_file,
        encoder=encoder,
        finetune_epochs=finetune_epochs,
        min_specificity=min_specificity,
    )
    span_pool = [Example(ex.text, spans=ex.spans) for ex in split.train] if pool else []
    with training_progress() as progress:
        return run_fewshot(split.train, split.test, methods, config, pool=span_pool, progress=progress)


def command(
    data: Annotated[str, typer.Option("--data", help="Bundled set (snips) or folder with train/test.")],
    verbalizer: Annotated[list[str], typer.Option(help="names, file, wli or finetune (repeat to compare).")] = [  # noqa: B006
        "names",
        "wli",
    ],
    shots: Annotated[list[int], typer.Option(help="K values (repeat).")] = [1, 2, 4, 8, 16],  # noqa: B006
    seeds: Annotated[int, typer.Option(help="Samplings per K.")] = 5,
    verbalizer_file: Annotated[str | None, typer.Option(help="label,word,word lines for --verbalizer file.")] = None,
    encoder: Annotated[str | None, typer.Option(help="Local encoder folder (default: bundled MiniLM).")] = None,
    finetune_epochs: Annotated[int, typer.Option(help="Fine-tuning epochs on the shots (0: none).")] = 10,
    no_pool: Annotated[bool, typer.Option("--no-pool", help="Mine WLI words from the shots only.")] = False,
    min_specificity: Annotated[
        float, typer.Option(help="WLI keeps a word for a label if at least this share of its uses is under it.")
    ] = 0.7,
    output: Annotated[Path | None, typer.Option(help="Write the results JSON here.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --output file.")] = False,
) -> None:
    """K-shot classification: mean ± sd accuracy / macro-F1 per verbalizer and K.

    Examples:
        mrekit fewshot --data snips --shots 1 --shots 4 --seeds 3
        mrekit fewshot --data snips --verbalizer wli --output fewshot.json
    """
    if output:  # refuse a bad output path before the (long) experiment, not after it
        cli_errors(check_output_file)(output, overwrite=overwrite)
    results = cli_errors(fewshot)(
        data,
        methods=verbalizer,
        shots=shots,
        seeds=seeds,
        verbalizer_file=verbalizer_file,
        encoder=encoder,
        finetune_epochs=finetune_epochs,
        pool=not no_pool,
        min_specificity=min_specificity,
    )
    table = Table("K", *verbalizer, title=f"{data}: accuracy (mean ± sd over {seeds} samplings)")
    for k in shots:
        row = [results.get(f"{m}@{k}", {}).get("text_accuracy") for m in verbalizer]
        table.add_row(str(k), *(f"{100 * c['mean']:.1f} ± {100 * c['sd']:.1f}" if c else "–" for c in row))
    console.print(table)
    if output:
        with atomic_file(output, overwrite=overwrite) as fh:
            fh.write(json.dumps(results, indent=2))
        console.print(f"[green]✔[/] wrote {output}")
