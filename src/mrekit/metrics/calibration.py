"""Calibration: does a confidence of 0.8 mean right 80% of the time?

Expected calibration error (ECE) with equal-width bins: confidences in ``[0, 1]``
fall into ``n_bins`` bins ``[0, 0.1), [0.1, 0.2), ..., [0.9, 1.0]`` (the last one
closed); ECE is the mean over bins of ``|accuracy - mean confidence|``, each bin
weighted by its share of the items. 0 is perfectly calibrated.

Per level (:func:`calibration_report`):

* text: one item per predicted text label, its probability (``label_scores``) as the
  confidence, correct when the gold example has that label (for single-label models:
  the max-probability vs whether the predicted label is right);
* spans: one item per predicted span with a ``score``, correct when a gold span has
  the same offsets and label (strict match).

Temperature scaling (Guo et al., 2017) of a softmax text head divides its logits
by one temperature ``T`` fitted on dev to minimise the negative log-likelihood;
it never changes which label is predicted. :func:`apply_temperature` works on
probabilities (``softmax(log p / T)``), so every backend's output can be rescaled.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from mrekit.schema import Example

#: Bins of the expected calibration error and the reliability plot.
N_BINS = 10
#: The search interval of :func:`fit_temperature` (``T`` between 0.05 and 20).
TEMPERATURE_RANGE = (0.05, 20.0)
_EPS = 1e-12


def reliability_bins(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = N_BINS
) -> list[dict[str, Any]]:
    """Per equal-width bin: its bounds, item count, mean confidence and accuracy (``None`` when empty).

    Example:
        >>> [b["count"] for b in reliability_bins([0.05, 0.95, 1.0], [False, True, True], n_bins=2)]
        [1, 2]
    """
    conf = np.asarray(confidences, dtype=np.float64)
    hits = np.asarray(correct, dtype=np.float64)
    index = np.clip(np.floor(conf * n_bins).astype(np.int64), 0, n_bins - 1)
    bins = []
    for b in range(n_bins):
        members = index == b
        count = int(members.sum())
        bins.append(
            {
                "lower": b / n_bins,
                "upper": (b + 1) / n_bins,
                "count": count,
                "confidence": float(conf[members].mean()) if count else None,
                "accuracy": float(hits[members].mean()) if count else None,
            }
        )
    return bins


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = N_BINS
) -> float | None:
    """ECE over equal-width bins (``None`` without items).

    Example:
        >>> round(expected_calibration_error([0.9, 0.9, 0.6, 0.6], [True, True, True, False]), 4)
        0.1
    """
    total = len(confidences)
    if total == 0:
        return None
    bins = reliability_bins(confidences, correct, n_bins)
    return float(sum(b["count"] / total * abs(b["accuracy"] - b["confidence"]) for b in bins if b["count"]))


def text_confidences(pairs: Iterable[tuple[Example, Example]]) -> tuple[list[float], list[bool]]:
    """Confidence and correctness of each predicted text label with a score (gold text level annotated).

    Example:
        >>> gold = Example("a", labels=["x"])
        >>> text_confidences([(gold, Example("a", labels=["y"], label_scores={"x": 0.3, "y": 0.7}))])
        ([0.7], [False])
    """
    confidences, correct = [], []
    for gold, pred in pairs:
        if not gold.labels or not pred.label_scores:
            continue
        for label in pred.labels:
            if label in pred.label_scores:
                confidences.append(float(pred.label_scores[label]))
                correct.append(label in gold.labels)
    return confidences, correct


def span_confidences(pairs: Iterable[tuple[Example, Example]]) -> tuple[list[float], list[bool]]:
    """Score and strict correctness of each scored predicted span (gold word level annotated).

    Example:
        >>> from mrekit.schema import Span
        >>> gold = Example("play muse", spans=[Span(5, 9, "artist")])
        >>> pred = Example("play muse", spans=[Span(5, 9, "artist", score=0.9), Span(0, 4, "x", score=0.2)])
        >>> span_confidences([(gold, pred)])
        ([0.9, 0.2], [True, False])
    """
    confidences, correct = [], []
    for gold, pred in pairs:
        if gold.spans is None or not pred.spans:
            continue
        truth = {(s.start, s.end, s.label) for s in gold.spans}
        for span in pred.spans:
            if span.score is not None:
                confidences.append(float(span.score))
                correct.append((span.start, span.end, span.label) in truth)
    return confidences, correct


def calibration_report(
    gold: Sequence[Example], pred: Sequence[Example], n_bins: int = N_BINS
) -> dict[str, dict[str, Any]]:
    """``{"text": {...}, "span": {...}}``, each with ``ece``, ``n`` (items) and the ``bins``.

    Example:
        >>> g = [Example("a", labels=["x"])]
        >>> p = [Example("a", labels=["x"], label_scores={"x": 0.75})]
        >>> calibration_report(g, p)["text"]["ece"]
        0.25
    """
    pairs = list(zip(gold, pred, strict=True))
    report = {}
    for level, collect in (("text", text_confidences), ("span", span_confidences)):
        confidences, correct = collect(pairs)
        report[level] = {
            "ece": expected_calibration_error(confidences, correct, n_bins),
            "n": len(confidences),
            "bins": reliability_bins(confidences, correct, n_bins),
        }
    return report


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax probabilities rescaled by a temperature: ``softmax(log p / T)`` along the last axis.

    Example:
        >>> apply_temperature(np.array([[0.8, 0.2]]), 2.0).round(4).tolist()
        [[0.6667, 0.3333]]
    """
    if temperature == 1.0:
        return probs
    logits = np.log(np.clip(np.asarray(probs, dtype=np.float64), _EPS, None)) / temperature
    scaled = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (scaled / scaled.sum(axis=-1, keepdims=True)).astype(np.asarray(probs).dtype)


def negative_log_likelihood(probs: np.ndarray, gold: Sequence[int], temperature: float = 1.0) -> float:
    """Mean ``-log p(gold label)`` of softmax probabilities, after ``temperature``.

    Example:
        >>> round(negative_log_likelihood(np.array([[0.5, 0.5]]), [0]), 4)
        0.6931
    """
    scaled = apply_temperature(np.asarray(probs, dtype=np.float64), temperature)
    picked = scaled[np.arange(len(gold)), np.asarray(gold, dtype=np.int64)]
    return float(-np.log(np.clip(picked, _EPS, None)).mean())


def fit_temperature(probs: np.ndarray, gold: Sequence[int], *, iterations: int = 80) -> float:
    """The temperature minimising :func:`negative_log_likelihood` (golden-section search on ``log T``).

    The NLL of temperature scaling is convex in ``1 / T``, so a one-dimensional search
    over :data:`TEMPERATURE_RANGE` finds its minimum; no optimiser library is needed.

    Example:
        >>> probs = np.array([[0.99, 0.01], [0.99, 0.01], [0.01, 0.99], [0.99, 0.01]])
        >>> fit_temperature(probs, [0, 0, 1, 1]) > 1  # over-confident: soften
        True
    """
    probs = np.asarray(probs, dtype=np.float64)

    def loss(log_t: float) -> float:
        return negative_log_likelihood(probs, gold, math.exp(log_t))

    low, high = (math.log(t) for t in TEMPERATURE_RANGE)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = loss(a), loss(b)
    for _ in range(iterations):
        if fa <= fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = loss(a)
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = loss(b)
    return float(math.exp((low + high) / 2))


def softmax_calibration(probs: np.ndarray, gold: Sequence[int], temperature: float = 1.0) -> dict[str, float]:
    """Dev ``nll`` and ``ece`` (max-probability vs correctness) of softmax probabilities at ``temperature``.

    Example:
        >>> softmax_calibration(np.array([[0.75, 0.25]]), [0])["ece"]
        0.25
    """
    scaled = apply_temperature(np.asarray(probs, dtype=np.float64), temperature)
    correct = (scaled.argmax(axis=1) == np.asarray(gold)).tolist()
    ece = expected_calibration_error(scaled.max(axis=1).tolist(), correct)
    return {"nll": negative_log_likelihood(probs, gold, temperature), "ece": float(ece or 0.0)}
