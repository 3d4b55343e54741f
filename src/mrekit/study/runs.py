"""The runs of a study, their gold-conditioned inputs, and a resumable cache of results."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrekit.conditioning import SEP, append_words, prefix_text, strip_prefix, words_of
from mrekit.encoder.checks import encoder_position_limit
from mrekit.encoder.model import MREModel
from mrekit.formats import jsonl
from mrekit.metrics import evaluate
from mrekit.outputs import atomic_file
from mrekit.runtime import device_name
from mrekit.schema import Example
from mrekit.trainer import TrainingArguments

logger = logging.getLogger(__name__)

#: Separates the original text from the gold information added to it.
GOLD_SEP = SEP


def with_gold_words(example: Example) -> Example:
    """The text with its gold ``Type Entity`` pairs appended; text level only.

    Example:
        >>> from mrekit import Span
        >>> with_gold_words(Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")])).text
        'play muse | artist muse'
    """
    return append_words(example, words_of(example))


def with_gold_text(example: Example) -> Example:
    """The gold text label(s) put before the text; spans shifted; word level only.

    Example:
        >>> from mrekit import Span
        >>> ex = with_gold_text(Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")]))
        >>> ex.text, ex.spans[0].start
        ('PlayMusic | play muse', 17)
    """
    return prefix_text(example, example.labels)


def strip_gold_text(prediction: Example, original: Example) -> Example:
    """Map a prediction on a :func:`with_gold_text` input back onto the original text."""
    return strip_prefix(prediction, original)


def strip_gold_words(prediction: Example, original: Example) -> Example:
    """Map a prediction on a :func:`with_gold_words` input back onto the original text."""
    return Example(original.text, id=original.id, labels=prediction.labels, label_scores=prediction.label_scores)


@dataclass(frozen=True)
class Run:
    """One kind of run: model settings and an optional gold-conditioning of the inputs.

    ``options`` are further :class:`~mrekit.encoder.model.MREModel` settings (conditioned
    training, its controls, the cascade); ``consistency`` is the decoding of
    :meth:`~mrekit.encoder.model.MREModel.predict`; a run with ``reuse`` predicts with that
    run's trained model (same seed) when it is on disk, and trains its own otherwise.
    """

    name: str
    mode: str
    levels: tuple[str, ...] = ("text", "word")
    condition: Callable[[Example], Example] | None = None
    restore: Callable[[Example, Example], Example] | None = None
    #: Subword window: gold-conditioned inputs are longer, and their added gold must not be cut.
    max_length: int = 128
    options: tuple[tuple[str, Any], ...] = ()
    consistency: str = "report"
    reuse: str | None = None


#: Conditioned training's probability of a conditioned copy per example and direction.
CONDITIONED = 0.5
RUNS: dict[str, Run] = {
    run.name: run
    for run in (
        Run("text_only", "isolated", ("text",)),
        Run("word_only", "isolated", ("word",)),
        Run("shared", "shared"),
        Run("mre", "mre"),
        # Consistency-aware decoding: mre's model, spans of types never seen with the predicted label dropped.
        Run("mre_enforce", "mre", consistency="enforce", reuse="mre"),
        Run("text_given_gold_words", "isolated", ("text",), with_gold_words, strip_gold_words, 256),
        Run("words_given_gold_text", "isolated", ("word",), with_gold_text, strip_gold_text, 256),
        # Issue 19's arms: one model, test inputs plain; the controls keep the format, not the content.
        Run("conditioned", "mre", max_length=256, options=(("conditioned", CONDITIONED),)),
        Run(
            "conditioned_shuffled",
            "mre",
            max_length=256,
            options=(("conditioned", CONDITIONED), ("condition_content", "shuffled")),
        ),
        Run(
            "conditioned_neutral",
            "mre",
            max_length=256,
            options=(("conditioned", CONDITIONED), ("condition_content", "neutral")),
        ),
        Run("cascade", "mre", max_length=256, options=(("conditioned", CONDITIONED), ("cascade", True))),
    )
}
#: Joint configurations the study may choose on dev (the controls are not candidates).
CANDIDATES = ("shared", "mre", "mre_enforce", "conditioned", "cascade")


@dataclass
class StudyData:
    """A data set for a study: train (model fitting), dev (selection), test (scoring)."""

    name: str
    train: list[Example]
    dev: list[Example]
    test: list[Example]
    stats: dict[str, Any] = field(default_factory=dict)


def run_folder(output: Path, data: str, run: str, seed: int) -> Path:
    """Where one run's predictions and scores are cached."""
    return output / "runs" / data / f"{run}-seed{seed}"


def run_one(
    data: StudyData, run: Run, seed: int, output: Path, *, encoder: str | Path | None, training: dict[str, Any]
) -> list[Example]:
    """Train and predict one run, or read its cached predictions; returns test predictions."""

    folder = run_folder(output, data.name, run.name, seed)
    cached = folder / "predictions.jsonl"
    if cached.exists():
        return list(jsonl.read(cached))
    condition = run.condition or (lambda ex: ex)
    train, dev, test = ([condition(ex) for ex in part] for part in (data.train, data.dev, data.test))
    args = TrainingArguments(**{**training, "seed": seed})
    model, minutes = _reused(run, output, data.name, seed)
    if model is None:
        started = time.perf_counter()
        # Gold-conditioned inputs are longer (256 subwords); an encoder with fewer positions caps them.
        max_length = min(run.max_length, encoder_position_limit(encoder) or run.max_length)
        model = MREModel(
            mode=run.mode, encoder=encoder, levels=list(run.levels), max_length=max_length, **dict(run.options)
        )
        # A run folder without predictions is an interrupted run of this study: it starts again.
        model.fit(train, dev, args=args, output_dir=folder / "train", overwrite=True)
        minutes = (time.perf_counter() - started) / 60
    started = time.perf_counter()
    predictions = _predict(model, run, test, data.test)
    seconds = time.perf_counter() - started
    dev_predictions = _predict(model, run, dev, data.dev) if data.dev else []
    record = {
        "run": run.name,
        "seed": seed,
        "train_minutes": minutes,
        "test_texts_per_second": len(test) / seconds if seconds else None,
        # The study chooses its configuration on these, never on test.
        "dev": _scores(data.dev, dev_predictions),
        "device": device_name(args.device),
        "parameters": sum(p.numel() for p in model.model_.parameters()),
        "model_mb": (Path(model.path_) / "model.safetensors").stat().st_size / 2**20,
    }
    if model.path_ != folder / "train" / "model-best":
        record["model"] = str(model.path_)
    with atomic_file(folder / "run.json", overwrite=True) as fh:
        fh.write(json.dumps(record))
    jsonl.write(dev_predictions, folder / "dev_predictions.jsonl", overwrite=True)
    jsonl.write(predictions, cached, overwrite=True)  # written last: its presence marks the run as finished
    return predictions


def _reused(run: Run, output: Path, data: str, seed: int) -> tuple[MREModel | None, float | None]:
    """The trained model of the run ``run.reuse`` names (same data set and seed), if on disk, and its minutes."""
    if run.reuse is None:
        return None, None
    base = run_folder(output, data, run.reuse, seed)
    if not (base / "train" / "model-best" / "mrekit.json").exists():
        return None, None
    record = base / "run.json"
    minutes = json.loads(record.read_text()).get("train_minutes") if record.exists() else None
    return MREModel.load(base / "train" / "model-best", backend="torch"), minutes


def _predict(model: MREModel, run: Run, inputs: list[Example], originals: list[Example]) -> list[Example]:
    """Predictions on (conditioned) inputs, moved back onto the original texts, other level blanked."""
    predictions = model.predict([ex.text for ex in inputs], consistency=run.consistency)
    if run.restore is not None:
        predictions = [run.restore(p, o) for p, o in zip(predictions, originals, strict=True)]
    for prediction, gold in zip(predictions, originals, strict=True):
        prediction.id = gold.id
        if "text" not in run.levels:
            prediction.labels, prediction.label_scores = [], None
        if "word" not in run.levels:
            prediction.spans = None
    return predictions


def _scores(gold: list[Example], predictions: list[Example]) -> dict[str, float]:
    if not gold:
        return {}
    scores = evaluate(gold, predictions, bootstrap=0)
    return {k: v for k, v in scores.items() if isinstance(v, float)}


def run_study(
    datasets: Sequence[StudyData],
    output: str | Path,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    runs: Sequence[str] = tuple(RUNS),
    encoder: str | Path | None = None,
    training: dict[str, Any] | None = None,
    progress: Any = None,
) -> dict[str, dict[str, list[list[Example]]]]:
    """Run (or resume) every run of every data set with every seed.

    Returns:
        ``{dataset: {run: [predictions per seed]}}``.
    """
    output = Path(output)
    plan = [(d, RUNS[r], s) for d in datasets for r in runs for s in seeds]
    task = progress.add_task("study", total=len(plan)) if progress else None
    results: dict[str, dict[str, list[list[Example]]]] = {}
    for i, (data, run, seed) in enumerate(plan, start=1):
        if progress:
            progress.update(task, description=f"run {i}/{len(plan)}: {data.name} {run.name} seed {seed}")
        predictions = run_one(data, run, seed, output, encoder=encoder, training=training or {})
        results.setdefault(data.name, {}).setdefault(run.name, []).append(predictions)
        if progress:
            progress.advance(task)
    return results


def read_dev_scores(
    output: str | Path, dataset: str, runs: Sequence[str], seeds: Sequence[int]
) -> dict[str, list[dict[str, float]]]:
    """The cached dev scores of each run with a score for every seed (what the study chooses on).

    Runs cached before dev scores were recorded have none and are left out.
    """
    out: dict[str, list[dict[str, float]]] = {}
    for run in runs:
        records = [run_folder(Path(output), dataset, run, seed) / "run.json" for seed in seeds]
        if all(path.exists() for path in records):
            scores = [json.loads(path.read_text()).get("dev") for path in records]
            if all(scores):
                out[run] = scores
    return out
