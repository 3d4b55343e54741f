"""The runs of a study, their gold-conditioned inputs, and a resumable cache of results."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mrekit.encoder.checks import encoder_position_limit
from mrekit.encoder.model import MREModel
from mrekit.formats import jsonl
from mrekit.outputs import atomic_file
from mrekit.runtime import device_name
from mrekit.schema import Example
from mrekit.trainer import TrainingArguments

logger = logging.getLogger(__name__)

#: Separates the original text from the gold information added to it.
GOLD_SEP = " | "


def with_gold_words(example: Example) -> Example:
    """The text with its gold ``Type Entity`` pairs appended; text level only.

    Example:
        >>> from mrekit import Span
        >>> with_gold_words(Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")])).text
        'play muse | artist muse'
    """
    pairs = " ; ".join(f"{s.label} {example.surface(s)}" for s in example.spans or [])
    return Example(example.text + GOLD_SEP + pairs, id=example.id, labels=list(example.labels), meta=dict(example.meta))


def with_gold_text(example: Example) -> Example:
    """The gold text label(s) put before the text; spans shifted; word level only.

    Example:
        >>> from mrekit import Span
        >>> ex = with_gold_text(Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")]))
        >>> ex.text, ex.spans[0].start
        ('PlayMusic | play muse', 17)
    """
    prefix = " ".join(example.labels) + GOLD_SEP
    spans = None
    if example.spans is not None:
        spans = [replace(s, start=s.start + len(prefix), end=s.end + len(prefix)) for s in example.spans]
    return Example(prefix + example.text, id=example.id, spans=spans, meta={**example.meta, "prefix": len(prefix)})


def strip_gold_text(prediction: Example, original: Example) -> Example:
    """Map a prediction on a :func:`with_gold_text` input back onto the original text."""
    shift = len(prediction.text) - len(original.text)
    spans = [replace(s, start=s.start - shift, end=s.end - shift) for s in prediction.spans or [] if s.start >= shift]
    return Example(original.text, id=original.id, spans=spans)


def strip_gold_words(prediction: Example, original: Example) -> Example:
    """Map a prediction on a :func:`with_gold_words` input back onto the original text."""
    return Example(original.text, id=original.id, labels=prediction.labels, label_scores=prediction.label_scores)


@dataclass(frozen=True)
class Run:
    """One kind of run: model settings and an optional gold-conditioning of the inputs."""

    name: str
    mode: str
    levels: tuple[str, ...] = ("text", "word")
    condition: Callable[[Example], Example] | None = None
    restore: Callable[[Example, Example], Example] | None = None
    #: Subword window: gold-conditioned inputs are longer, and their added gold must not be cut.
    max_length: int = 128


RUNS: dict[str, Run] = {
    run.name: run
    for run in (
        Run("text_only", "isolated", ("text",)),
        Run("word_only", "isolated", ("word",)),
        Run("shared", "shared"),
        Run("mre", "mre"),
        Run("text_given_gold_words", "isolated", ("text",), with_gold_words, strip_gold_words, 256),
        Run("words_given_gold_text", "isolated", ("word",), with_gold_text, strip_gold_text, 256),
    )
}


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
    started = time.perf_counter()
    args = TrainingArguments(**{**training, "seed": seed})
    # Gold-conditioned inputs are longer (256 subwords); an encoder with fewer positions caps them.
    max_length = min(run.max_length, encoder_position_limit(encoder) or run.max_length)
    model = MREModel(mode=run.mode, encoder=encoder, levels=list(run.levels), max_length=max_length)
    model.fit(train, dev, args=args, output_dir=folder / "train")
    minutes = (time.perf_counter() - started) / 60
    predictions = model.predict([ex.text for ex in test])
    if run.restore is not None:
        predictions = [run.restore(p, o) for p, o in zip(predictions, data.test, strict=True)]
    for prediction, gold in zip(predictions, data.test, strict=True):
        prediction.id = gold.id
        if "text" not in run.levels:
            prediction.labels, prediction.label_scores = [], None
        if "word" not in run.levels:
            prediction.spans = None
    record = {
        "run": run.name,
        "seed": seed,
        "train_minutes": minutes,
        "device": device_name(args.device),
        "parameters": sum(p.numel() for p in model.model_.parameters()),
        "model_mb": (folder / "train" / "model-best" / "model.safetensors").stat().st_size / 2**20,
    }
    with atomic_file(folder / "run.json", overwrite=True) as fh:
        fh.write(json.dumps(record))
    jsonl.write(predictions, cached, overwrite=True)  # written last: its presence marks the run as finished
    return predictions


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
