"""K-shot sampling with repeated seeds, and the comparison of verbalizers and fine-tuning.

Methods:

* ``names`` / ``file`` / ``wli``: the embedding scorer with that verbalizer,
  fine-tuned on the K shots from it (``finetune_epochs=0`` keeps it zero-training);
* ``finetune``: the joint model's text head (isolated, text level only) trained on the K shots.

Multi-label data: shots are sampled per label; the scorers predict one label
per text, so a text with several gold labels counts as wrong at accuracy.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mrekit.encoder.model import MREModel
from mrekit.fewshot.scorers import EmbeddingScorer
from mrekit.fewshot.verbalizers import Verbalizer, names_verbalizer, read_verbalizer, wli_verbalizer
from mrekit.metrics import evaluate, summarize
from mrekit.schema import Example
from mrekit.trainer import TrainingArguments

METHODS = ("names", "file", "wli", "finetune")


def sample_shots(train: Sequence[Example], k: int, seed: int) -> list[Example]:
    """Up to ``k`` examples per text label (all of a label if it has fewer), seeded.

    An example is drawn for the first label that still needs one, so a
    multi-label example is not counted twice.

    Example:
        >>> data = [Example(str(i), labels=["a" if i % 2 else "b"]) for i in range(10)]
        >>> sorted(ex.labels[0] for ex in sample_shots(data, 2, seed=0))
        ['a', 'a', 'b', 'b']
    """
    order = [ex for ex in train if ex.labels]
    random.Random(seed).shuffle(order)
    need = {label: k for ex in order for label in ex.labels}
    shots = []
    for ex in order:
        label = next((lab for lab in ex.labels if need[lab] > 0), None)
        if label is not None:
            need[label] -= 1
            shots.append(ex)
    return shots


@dataclass
class FewShotConfig:
    """Settings of a few-shot comparison.

    Args:
        shots: The K values.
        seeds: Number of repeated samplings per K.
        top_k: WLI words per label.
        min_specificity: WLI keeps a word for a label only if at least this share of its occurrences is under it.
        finetune_epochs: Epochs of fine-tuning the embedding scorer on the shots (0: none).
        head_epochs: Epochs of the ``finetune`` baseline.
        verbalizer_file: Path of the manual verbalizer, for the ``file`` method.
        encoder: Encoder for every method (bundled MiniLM by default).
    """

    shots: tuple[int, ...] = (1, 2, 4, 8, 16)
    seeds: int = 5
    top_k: int = 100
    min_specificity: float = 0.7
    finetune_epochs: int = 10
    head_epochs: int = 20
    verbalizer_file: str | Path | None = None
    encoder: str | Path | None = None


def build_verbalizer(
    method: str, shots: Sequence[Example], labels: list[str], config: FewShotConfig, pool: Sequence[Example]
) -> Verbalizer:
    """The verbalizer of a method for one sample of shots."""
    if method == "names":
        return names_verbalizer(labels)
    if method == "file":
        if config.verbalizer_file is None:
            raise ValueError("the file method needs verbalizer_file")
        return read_verbalizer(config.verbalizer_file)
    return wli_verbalizer(shots, labels, pool=pool, top_k=config.top_k, min_specificity=config.min_specificity)


def run_method(
    method: str,
    shots: list[Example],
    test: Sequence[Example],
    labels: list[str],
    config: FewShotConfig,
    pool: Sequence[Example],
    seed: int,
) -> list[Example]:
    """Predictions of one method trained on one sample of shots."""
    texts = [ex.text for ex in test]
    if method == "finetune":
        args = TrainingArguments(
            epochs=config.head_epochs, batch_size=8, learning_rate=1e-4, seed=seed, warmup_ratio=0.0
        )
        model = MREModel(mode="isolated", encoder=config.encoder, levels=["text"]).fit(shots, None, args=args)
        return [Example(p.text, labels=p.labels) for p in model.predict(texts)]
    scorer = EmbeddingScorer(config.encoder)
    scorer.set_verbalizer(build_verbalizer(method, shots, labels, config, pool))
    if config.finetune_epochs:
        scorer.fit(shots, epochs=config.finetune_epochs, seed=seed)
    return [Example(t, labels=[label]) for t, label in zip(texts, scorer.predict(texts), strict=True)]


def run_fewshot(
    train: Sequence[Example],
    test: Sequence[Example],
    methods: Sequence[str],
    config: FewShotConfig,
    *,
    pool: Sequence[Example] = (),
    progress: Any = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """Every method at every K over ``config.seeds`` samplings.

    Returns:
        ``{"<method>@<K>": {"text_accuracy": {mean, sd, n}, "text_macro_f1": {...}}}``.
    """
    labels = sorted({label for ex in train for label in ex.labels})
    gold = [Example(ex.text, id=ex.id, labels=ex.labels) for ex in test]
    plan = [(k, seed, m) for k in config.shots for seed in range(config.seeds) for m in methods]
    task = progress.add_task("few-shot", total=len(plan)) if progress else None
    scores: dict[str, dict[str, list[float]]] = {}
    for k, seed, method in plan:
        if progress:
            progress.update(task, description=f"{method}@{k} seed {seed}")
        shots = sample_shots(train, k, seed)
        report = evaluate(gold, run_method(method, shots, test, labels, config, pool, seed), bootstrap=0)
        cell = scores.setdefault(f"{method}@{k}", {"text_accuracy": [], "text_macro_f1": []})
        for metric in cell:
            cell[metric].append(report[metric])
        if progress:
            progress.advance(task)
    return {key: {m: summarize(v) for m, v in cell.items()} for key, cell in scores.items()}
