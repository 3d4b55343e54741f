"""``mrekit evaluate``: score predictions against gold annotations."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mrekit import datasets
from mrekit.cli._ui import cli_errors, console
from mrekit.cli.predict import load_with_backend
from mrekit.metrics import evaluate, match_predictions
from mrekit.metrics.calibration import N_BINS, calibration_report
from mrekit.metrics.errors_report import error_records, text_confusion
from mrekit.outputs import atomic_file, check_output_file
from mrekit.schema import Example, Span

#: The headline metrics, in display order, with their names in the table.
HEADLINE = {
    "text_accuracy": "text accuracy",
    "text_micro_f1": "text micro F1",
    "text_macro_f1": "text macro F1",
    "span_precision": "span precision",
    "span_recall": "span recall",
    "span_f1": "span F1 (strict)",
    "pair_f1": "pair F1 (label, surface)",
    "span_attr_f1": "span attribute F1 (end to end)",
    "span_attr_accuracy": "span attribute accuracy (paired spans)",
    "span_attr_macro_f1": "span attribute macro F1 (paired spans)",
    "label_attr_f1": "label attribute F1 (end to end)",
    "label_attr_accuracy": "label attribute accuracy (paired labels)",
    "frame_accuracy": "frame accuracy",
    "relation_f1": "relation F1 (strict)",
    "relation_boundary_f1": "relation F1 (boundaries, entity types ignored)",
    "relation_f1_macro": "relation macro F1 (strict)",
    "relation_boundary_f1_macro": "relation macro F1 (boundaries)",
    "event_trigger_id_f1": "event trigger identification F1",
    "event_trigger_f1": "event trigger F1",
    "event_argument_id_f1": "event argument identification F1",
    "event_argument_f1": "event argument F1",
    "event_main_argument_id_f1": "event main argument identification F1",
    "event_main_argument_f1": "event main argument F1 (PHEE EM)",
    "on_gold.span_attr_accuracy": "span attribute accuracy (gold spans)",
    "on_gold.span_attr_macro_f1": "span attribute macro F1 (gold spans)",
    "on_gold.label_attr_accuracy": "label attribute accuracy (gold labels)",
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
    errors: str | Path | None = None,
    plot: str | Path | None = None,
    reliability_plot: str | Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Score a prediction file against a gold file (paired by id, else by order).

    Besides the metrics, the report holds ``calibration`` (ECE per level, see
    :mod:`mrekit.metrics.calibration`) and ``confusion`` (text labels). ``errors``
    receives the wrong examples as JSONL, ``plot`` the confusion matrix and
    ``reliability_plot`` the reliability diagram (PNGs); all are checked first.

    Example:
        >>> evaluate_files("snips:test", "snips:test", bootstrap=0)["frame_accuracy"]
        1.0
    """

    extras = ExtraOutputs(errors, plot, reliability_plot, overwrite)
    extras.check(inputs=[gold, pred])
    gold_examples = _read(gold, gold_format)
    pred_examples = _read(pred, pred_format)
    pairs = match_predictions(gold_examples, pred_examples)
    golds, preds = [g for g, _ in pairs], [p for _, p in pairs]
    return extras.finish(golds, preds, evaluate(golds, preds, bootstrap=bootstrap, seed=seed), inputs=[gold, pred])


def evaluate_model(
    model_dir: str | Path,
    data: str | Path,
    *,
    data_format: str | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    backend: str = "auto",
    batch_size: int = 64,
    errors: str | Path | None = None,
    plot: str | Path | None = None,
    reliability_plot: str | Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Predict ``data`` with a model (on ``backend``) and score the predictions (see :func:`evaluate_files`).

    Example:
        >>> evaluate_model("runs/snips/model-best", "snips:test")["frame_accuracy"]  # doctest: +SKIP
    """

    extras = ExtraOutputs(errors, plot, reliability_plot, overwrite)
    extras.check(inputs=[data, model_dir])
    gold = _read(data, data_format)
    nlp = load_with_backend(model_dir, backend)
    generative = hasattr(nlp, "generation_metrics")
    # A gold-conditioned generative model reads the given level from the examples themselves.
    pred = nlp.predict(gold if generative else [ex.text for ex in gold], batch_size=batch_size)
    for example, prediction in zip(gold, pred, strict=True):
        prediction.id = example.id
    report = evaluate(gold, pred, bootstrap=bootstrap, seed=seed)
    learnt = getattr(nlp, "attributes_", None) or {}
    if any(learnt.values()) and any(ex.label_attrs or any(s.attrs for s in ex.spans or []) for ex in gold):
        report["on_gold"] = attributes_on_gold(nlp, gold, bootstrap=bootstrap, seed=seed, batch_size=batch_size)
    if generative:  # how often the output parsed, and how many entities it invented
        report.update(nlp.generation_metrics(pred))
    report["backend"] = nlp.info().get("backend")
    return extras.finish(gold, pred, report, inputs=[data, model_dir])


#: The attribute metrics scored on gold spans and labels (the ABSA "on gold terms" protocol).
ON_GOLD = ("span_attr_accuracy", "span_attr_macro_f1", "label_attr_accuracy")


def attributes_on_gold(
    nlp: Any, gold: list[Example], *, bootstrap: int = 1000, seed: int = 0, batch_size: int = 64
) -> dict[str, Any]:
    """Attribute accuracy on the gold spans and labels: only the attributes are predicted.

    The literature's polarity accuracy "on gold aspect terms" and "on gold categories"
    (:meth:`~mrekit.encoder.model.MREModel.predict_attributes`). Metrics are ``None`` when
    the gold has no attributes or the model learnt none.

    Returns:
        ``{metric: value, "ci": {metric: [low, high]}}`` for :data:`ON_GOLD`.
    """
    given = [
        Example(
            ex.text,
            id=ex.id,
            labels=list(ex.labels),
            spans=None if ex.spans is None else [Span(s.start, s.end, s.label) for s in ex.spans],
        )
        for ex in gold
    ]
    scores = evaluate(gold, nlp.predict_attributes(given, batch_size=batch_size), bootstrap=bootstrap, seed=seed)
    out: dict[str, Any] = {key: scores.get(key) for key in ON_GOLD}
    out["ci"] = {key: scores["ci"][key] for key in ON_GOLD if key in scores.get("ci", {})}
    return out


@dataclass
class ExtraOutputs:
    """The optional outputs of an evaluation: wrong examples (JSONL) and two PNGs."""

    errors: str | Path | None = None
    plot: str | Path | None = None
    reliability_plot: str | Path | None = None
    overwrite: bool = False

    def paths(self) -> list[str | Path]:
        return [p for p in (self.errors, self.plot, self.reliability_plot) if p is not None]

    def check(self, inputs: list[str | Path]) -> None:
        """``E170``/``E172``/``E173`` before any work, as the writers would refuse later."""
        for path in self.paths():
            if str(path) != "-":
                check_output_file(path, overwrite=self.overwrite, inputs=inputs)

    def finish(
        self, gold: list[Example], pred: list[Example], report: dict[str, Any], inputs: list[str | Path]
    ) -> dict[str, Any]:
        """Add calibration and confusion to ``report`` and write the outputs asked for."""
        report["calibration"] = calibration_report(gold, pred)
        report["confusion"] = text_confusion(zip(gold, pred, strict=True))
        if self.errors is not None:
            report["n_errors"] = write_errors(gold, pred, self.errors, overwrite=self.overwrite, inputs=inputs)
        if self.plot is not None:
            plot_confusion(report["confusion"], self.plot, overwrite=self.overwrite)
        if self.reliability_plot is not None:
            plot_reliability(report["calibration"], self.reliability_plot, overwrite=self.overwrite)
        return report


def write_errors(
    gold: list[Example], pred: list[Example], path: str | Path, *, overwrite: bool = False, inputs: list = ()
) -> int:
    """Write :func:`~mrekit.metrics.errors_report.error_records` as JSONL (atomically); returns how many.

    Example:
        >>> import pathlib, tempfile
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "errors.jsonl"
        >>> write_errors([Example("a", labels=["x"])], [Example("a", labels=["y"])], out)
        1
    """
    count = 0
    with atomic_file(path, overwrite=overwrite, inputs=inputs) as fh:
        for record in error_records(zip(gold, pred, strict=True)):
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path, overwrite: bool) -> None:
    try:
        with atomic_file(path, overwrite=overwrite, binary=True) as fh:
            fig.savefig(fh, dpi=120, format="png")
    finally:
        _pyplot().close(fig)


def plot_confusion(confusion: dict[str, Any], path: str | Path, *, overwrite: bool = False) -> None:
    """Save the text-label confusion matrix (rows gold, columns predicted) as a PNG."""
    plt = _pyplot()
    labels, matrix = confusion["labels"], confusion["matrix"]
    size = max(4, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix or [[0]], cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            if value:
                ax.text(j, i, str(value), ha="center", va="center", fontsize=7)
    ax.set_title("Text labels: confusion matrix")
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    _save(fig, path, overwrite)


def plot_reliability(calibration: dict[str, Any], path: str | Path, *, overwrite: bool = False) -> None:
    """Save a reliability diagram per level (accuracy per confidence bin against the diagonal) as a PNG."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    for ax, (level, data) in zip(axes, calibration.items(), strict=True):
        bins = [b for b in data["bins"] if b["count"]]
        ax.bar(
            [b["lower"] for b in bins],
            [b["accuracy"] for b in bins],
            width=[b["upper"] - b["lower"] for b in bins],
            align="edge",
            edgecolor="black",
            alpha=0.7,
            label="accuracy",
        )
        ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
        ece = "n/a" if data["ece"] is None else f"{data['ece']:.2%}"
        ax.set_title(f"{level}: ECE {ece} (n={data['n']})")
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    _save(fig, path, overwrite)


def _read(spec: str | Path, fmt: str | None) -> list:
    return datasets.read_data(spec, fmt)


def _print(report: dict[str, Any]) -> None:
    table = Table("metric", "value", "95% CI", title=f"Evaluation on {report.get('n_examples', '?')} examples")
    for key, name in HEADLINE.items():
        part, _, metric = key.rpartition(".")
        block = (report.get(part) or {}) if part else report
        value, ci = block.get(metric), block.get("ci") or {}
        if value is None:
            continue
        interval = f"{ci[metric][0]:.2%} – {ci[metric][1]:.2%}" if metric in ci else ""
        table.add_row(name, f"{value:.2%}", interval)
    _calibration_rows(table, report.get("calibration") or {})
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
    _print_confusion(report.get("confusion") or {})


def _calibration_rows(table: Table, calibration: dict[str, Any]) -> None:
    for level, data in calibration.items():
        if data.get("ece") is not None:
            table.add_row(f"{level} ECE ({N_BINS} bins, n={data['n']})", f"{data['ece']:.2%}", "")


#: The printed confusion matrix is left out above this many labels (the JSON and --plot have it).
MAX_PRINTED_LABELS = 20


def _print_confusion(confusion: dict[str, Any]) -> None:
    labels = confusion.get("labels") or []
    if not labels or len(labels) > MAX_PRINTED_LABELS:
        return
    table = Table("gold \\ predicted", *labels, title="Text labels: confusion matrix")
    for label, row in zip(labels, confusion["matrix"], strict=True):
        table.add_row(label, *(str(v) if v else "·" for v in row))
    console.print(table)


def command(
    model: Annotated[str | None, typer.Argument(help="Model folder; with DATA, predict DATA and score it.")] = None,
    data: Annotated[str | None, typer.Argument(help="Gold data to predict and score with MODEL.")] = None,
    gold: Annotated[str | None, typer.Option(help="Gold data: file, folder or bundled set such as snips:test.")] = None,
    pred: Annotated[str | None, typer.Option(help="Predictions in any readable format (JSONL by default).")] = None,
    gold_format: Annotated[str | None, typer.Option(help="Format of --gold or DATA; inferred if omitted.")] = None,
    pred_format: Annotated[str | None, typer.Option(help="Format of --pred; inferred if omitted.")] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for 95% CIs (0 = none).")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    backend: Annotated[str, typer.Option(help="MODEL's backend: torch, onnx, onnx-int8 or auto.")] = "auto",
    batch_size: Annotated[int, typer.Option(help="Texts per batch (MODEL DATA).")] = 64,
    errors: Annotated[Path | None, typer.Option(help="Write the wrongly predicted examples here (JSONL).")] = None,
    plot: Annotated[Path | None, typer.Option(help="Save the text-label confusion matrix as a PNG.")] = None,
    reliability_plot: Annotated[Path | None, typer.Option(help="Save a reliability diagram (PNG).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace existing --errors / --plot files.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Score a model on data (MODEL DATA) or predictions against gold (--gold G --pred P).

    Prints text accuracy / F1, strict span P/R/F1, pair F1, attribute scores (when the gold has
    attributes, e.g. polarity) and frame accuracy with bootstrap CIs, the expected calibration
    error per level (10 equal-width bins) and a confusion matrix.

    Examples:
        mrekit evaluate runs/snips snips:test --errors errors.jsonl --plot confusion.png
        mrekit evaluate --gold snips:test --pred predictions.jsonl --reliability-plot reliability.png
    """
    outputs = {"errors": errors, "plot": plot, "reliability_plot": reliability_plot, "overwrite": overwrite}
    common = {"bootstrap": bootstrap, "seed": seed, **outputs}
    if model is not None and data is not None:
        report = cli_errors(evaluate_model)(
            model, data, data_format=gold_format, backend=backend, batch_size=batch_size, **common
        )
    elif gold is not None and pred is not None:
        report = cli_errors(evaluate_files)(gold, pred, gold_format=gold_format, pred_format=pred_format, **common)
    else:
        raise typer.BadParameter("give MODEL DATA, or --gold and --pred")
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    _print(report)
    if errors is not None:
        console.print(f"[green]✔[/] wrote {report['n_errors']} wrong examples to {errors}")
