"""``mrekit evaluate``: score predictions against gold annotations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mrekit import datasets
from mrekit.cli._ui import cli_errors, console
from mrekit.metrics import evaluate, match_predictions
from mrekit.predictor import load

#: The headline metrics, in display order, with their names in the table.
HEADLINE = {
    "text_accuracy": "text accuracy",
    "text_micro_f1": "text micro F1",
    "text_macro_f1": "text macro F1",
    "span_precision": "span precision",
    "span_recall": "span recall",
    "span_f1": "span F1 (strict)",
    "pair_f1": "pair F1 (label, surface)",
    "frame_accuracy": "frame accuracy",
    "relation_f1": "relation F1",
    "event_trigger_f1": "event trigger F1",
    "event_argument_f1": "event argument F1",
    "format_accuracy": "format accuracy (generative)",
    "hallucination_rate": "hallucination rate (generative)",
}


def evaluate_files(
    gold: str | Path,
    pred: str | Path,
    *,
    gold_format: str | None = None,
    pred_format: str | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Score a prediction file against a gold file (paired by id, else by order).

    Example:
        >>> evaluate_files("snips:test", "snips:test", bootstrap=0)["frame_accuracy"]
        1.0
    """

    gold_examples = _read(gold, gold_format)
    pred_examples = _read(pred, pred_format)
    pairs = match_predictions(gold_examples, pred_examples)
    return evaluate([g for g, _ in pairs], [p for _, p in pairs], bootstrap=bootstrap, seed=seed)


def evaluate_model(
    model_dir: str | Path, data: str | Path, *, data_format: str | None = None, bootstrap: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Predict ``data`` with a model and score the predictions against its annotations.

    Example:
        >>> evaluate_model("runs/snips/model-best", "snips:test")["frame_accuracy"]  # doctest: +SKIP
    """

    gold = _read(data, data_format)
    nlp = load(model_dir)
    generative = hasattr(nlp, "generation_metrics")
    # A gold-conditioned generative model reads the given level from the examples themselves.
    pred = nlp.predict(gold if generative else [ex.text for ex in gold])
    report = evaluate(gold, pred, bootstrap=bootstrap, seed=seed)
    if generative:  # how often the output parsed, and how many entities it invented
        report.update(nlp.generation_metrics(pred))
    return report


def _read(spec: str | Path, fmt: str | None) -> list:
    return datasets.read_data(spec, fmt)


def _print(report: dict[str, Any]) -> None:
    ci = report.get("ci") or {}
    table = Table("metric", "value", "95% CI", title=f"Evaluation on {report.get('n_examples', '?')} examples")
    for key, name in HEADLINE.items():
        value = report.get(key)
        if value is None:
            continue
        interval = f"{ci[key][0]:.2%} – {ci[key][1]:.2%}" if key in ci else ""
        table.add_row(name, f"{value:.2%}", interval)
    console.print(table)
    for level, rows in (report.get("per_label") or {}).items():
        if not rows:
            continue
        per = Table("label", "precision", "recall", "F1", "support", title=f"Per label: {level}")
        for label, row in sorted(rows.items(), key=lambda kv: -kv[1]["support"]):
            per.add_row(
                label, f"{row['precision']:.2%}", f"{row['recall']:.2%}", f"{row['f1']:.2%}", str(row["support"])
            )
        console.print(per)


def command(
    model: Annotated[str | None, typer.Argument(help="Model folder; with DATA, predict DATA and score it.")] = None,
    data: Annotated[str | None, typer.Argument(help="Gold data to predict and score with MODEL.")] = None,
    gold: Annotated[str | None, typer.Option(help="Gold data: file, folder or bundled set such as snips:test.")] = None,
    pred: Annotated[str | None, typer.Option(help="Predictions in any readable format (JSONL by default).")] = None,
    gold_format: Annotated[str | None, typer.Option(help="Format of --gold or DATA; inferred if omitted.")] = None,
    pred_format: Annotated[str | None, typer.Option(help="Format of --pred; inferred if omitted.")] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for 95% CIs (0 = none).")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Score a model on data (MODEL DATA) or predictions against gold (--gold G --pred P).

    Prints text accuracy / F1, strict span P/R/F1, pair F1 and frame accuracy with bootstrap CIs.
    """
    if model is not None and data is not None:
        report = cli_errors(evaluate_model)(model, data, data_format=gold_format, bootstrap=bootstrap, seed=seed)
    elif gold is not None and pred is not None:
        report = cli_errors(evaluate_files)(
            gold, pred, gold_format=gold_format, pred_format=pred_format, bootstrap=bootstrap, seed=seed
        )
    else:
        raise typer.BadParameter("give MODEL DATA, or --gold and --pred")
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _print(report)
