"""Bootstrap confidence intervals and the paired bootstrap test, vectorised.

A resample draws ``n`` examples with replacement. Rather than rescoring each
resample example by example, it is turned into a weight row (how often each
example was drawn, via ``np.bincount``); one matrix product of those weights
with the per-example count table (:mod:`mrekit.metrics.table`) gives the
summed counts of a whole chunk of resamples, and the corpus formulas run on all
of them at once.

Intervals are percentile intervals. A resample in which a level scores no
example (possible with partial annotation) leaves that metric NaN and is left
out of its interval.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from mrekit.metrics.match import match_predictions
from mrekit.metrics.table import METRIC_KEYS, CountTable, build_table, corpus_metrics, point_metrics
from mrekit.schema import Example

# Weight entries per chunk: bounds memory at ~32 MB of float64 whatever the corpus size.
_CHUNK_CELLS = 4_000_000

Layout = list[tuple[str, int, int, tuple[int, ...]]]


def resample_weights(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """How often each of ``n`` examples is drawn in each of ``size`` resamples.

    Example:
        >>> w = resample_weights(np.random.default_rng(0), 5, 3)
        >>> w.shape, w.sum(1).tolist()
        ((3, 5), [5.0, 5.0, 5.0])
    """
    draws = rng.integers(0, n, size=(size, n))
    # Offsetting each row by row * n lets one bincount count all rows at once.
    flat = (draws + (np.arange(size) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=size * n).reshape(size, n).astype(np.float64)


def _stack(counts: dict[str, np.ndarray]) -> tuple[np.ndarray, Layout]:
    layout, blocks, start = [], [], 0
    for name, col in counts.items():
        block = col.reshape(len(col), -1)
        layout.append((name, start, block.shape[1], col.shape[1:]))
        blocks.append(block)
        start += block.shape[1]
    return np.concatenate(blocks, axis=1), layout


def _unstack(summed: np.ndarray, layout: Layout) -> dict[str, np.ndarray]:
    size = len(summed)
    return {name: summed[:, a : a + w].reshape((size, *shape)) for name, a, w, shape in layout}


def _resampled_totals(tables: Sequence[CountTable], n_resamples: int, seed: int) -> Iterator[list[dict]]:
    # Every table sees the same resamples: that is what makes the paired test paired.
    n = tables[0].n_examples
    rng = np.random.default_rng(seed)
    stacked = [_stack(table.compact()) for table in tables]
    step = max(1, _CHUNK_CELLS // max(n, 1))
    for first in range(0, n_resamples, step):
        weights = resample_weights(rng, n, min(step, n_resamples - first))
        yield [_unstack(weights @ matrix, layout) for matrix, layout in stacked]


def bootstrap_distribution(table: CountTable, *, n_resamples: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    """Every corpus metric on ``n_resamples`` resamples of the table's examples.

    Returns:
        Metric name -> array of shape ``(n_resamples,)`` (NaN where undefined).

    Example:
        >>> from mrekit.schema import Example
        >>> table = build_table([(Example("a", labels=["x"]), Example("a", labels=["x"]))])
        >>> bootstrap_distribution(table, n_resamples=3)["text_accuracy"].tolist()
        [1.0, 1.0, 1.0]
    """
    if table.n_examples == 0 or n_resamples <= 0:
        return {name: np.full(max(n_resamples, 0), np.nan) for name in METRIC_KEYS}
    parts = [corpus_metrics(totals) for (totals,) in _resampled_totals([table], n_resamples, seed)]
    return {name: np.concatenate([part[name] for part in parts]) for name in METRIC_KEYS}


def percentile_interval(values: np.ndarray, confidence: float = 0.95) -> list[float] | None:
    """The central ``confidence`` percentile interval of the finite values (``None`` if there are none).

    Example:
        >>> percentile_interval(np.arange(101.0), 0.5)
        [25.0, 75.0]
    """
    values = values[~np.isnan(values)]
    if not len(values):
        return None
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def table_ci(
    table: CountTable, *, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> dict[str, list[float]]:
    """Percentile intervals of the metrics defined on the whole table.

    Example:
        >>> from mrekit.schema import Example
        >>> table = build_table([(Example("a", labels=["x"]), Example("a", labels=["x"]))])
        >>> table_ci(table, n_resamples=10)
        {'text_accuracy': [1.0, 1.0], 'text_micro_f1': [1.0, 1.0], 'text_macro_f1': [1.0, 1.0]}
    """
    defined = [name for name, value in point_metrics(table).items() if value is not None]
    samples = bootstrap_distribution(table, n_resamples=n_resamples, seed=seed)
    intervals = {name: percentile_interval(samples[name], confidence) for name in defined}
    return {name: interval for name, interval in intervals.items() if interval is not None}


def bootstrap_ci(
    gold: Sequence[Example],
    pred: Sequence[Example],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, list[float]]:
    """Bootstrap percentile confidence intervals of every corpus metric defined on gold.

    Args:
        gold: Reference examples.
        pred: Predictions, matched with :func:`match_predictions`.
        n_resamples: Number of resamples of the examples.
        seed: Seed of the ``numpy.random.Generator``; the same seed gives the same intervals.
        confidence: Coverage of the interval.

    Returns:
        Metric name -> ``[low, high]``.

    Example:
        >>> g = [Example("a", labels=["x"]), Example("b", labels=["y"])]
        >>> bootstrap_ci(g, g, n_resamples=50)["text_accuracy"]
        [1.0, 1.0]
    """
    table = build_table(match_predictions(gold, pred))
    return table_ci(table, n_resamples=n_resamples, seed=seed, confidence=confidence)


@dataclass(frozen=True)
class PairedBootstrap:
    """Result of :func:`paired_bootstrap` for one metric.

    Attributes:
        metric: The metric compared.
        score_a: The metric of system A on the full corpus.
        score_b: The metric of system B on the full corpus.
        delta: ``score_b - score_a``.
        deltas: ``B - A`` on each resample (resamples where the metric is undefined are dropped).
        ci: Percentile interval of ``deltas``.
        p_value: Two-sided p-value of "no difference".
    """

    metric: str
    score_a: float
    score_b: float
    delta: float
    deltas: np.ndarray
    ci: list[float]
    p_value: float


def paired_bootstrap(
    gold: Sequence[Example],
    pred_a: Sequence[Example],
    pred_b: Sequence[Example],
    *,
    metric: str = "span_f1",
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> PairedBootstrap:
    """Paired bootstrap test of the difference ``B - A`` in one corpus metric.

    Both systems are scored on the same resamples. The p-value tests "no
    difference" two-sided by shifting the bootstrap distribution to the null
    (Berg-Kirkpatrick et al., 2012; Efron & Tibshirani, 1993, sec. 16.4): the
    share of resampled deltas at least ``|delta|`` away from ``delta``, with the
    add-one correction ``(count + 1) / (resamples + 1)`` so it is never 0.

    Args:
        gold: Reference examples.
        pred_a: Predictions of system A.
        pred_b: Predictions of system B.
        metric: One of :data:`mrekit.metrics.METRIC_KEYS`.
        n_resamples: Number of resamples.
        seed: Seed of the ``numpy.random.Generator``.
        confidence: Coverage of the interval of the difference.

    Raises:
        ValueError: for an unknown metric, or one the gold does not define.

    Example:
        >>> g = [Example("a", labels=["x"]), Example("b", labels=["y"])]
        >>> p = [Example("a", labels=["x"]), Example("b", labels=["x"])]
        >>> paired_bootstrap(g, p, g, metric="text_accuracy", n_resamples=100).delta
        0.5
    """
    if metric not in METRIC_KEYS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRIC_KEYS)}")
    tables = [build_table(match_predictions(gold, pred)) for pred in (pred_a, pred_b)]
    score_a, score_b = (point_metrics(table)[metric] for table in tables)
    if score_a is None or score_b is None:
        raise ValueError(f"{metric} is undefined: the gold does not annotate its level")
    chunks = [
        corpus_metrics(totals_b)[metric] - corpus_metrics(totals_a)[metric]
        for totals_a, totals_b in _resampled_totals(tables, n_resamples, seed)
    ]
    deltas = np.concatenate(chunks) if chunks else np.zeros(0)
    deltas = deltas[~np.isnan(deltas)]
    delta = score_b - score_a
    # The tolerance keeps float noise from deciding ties such as |1.0 - 0.5| vs 0.5.
    extreme = int(np.count_nonzero(np.abs(deltas - delta) >= abs(delta) - 1e-12))
    return PairedBootstrap(
        metric=metric,
        score_a=score_a,
        score_b=score_b,
        delta=delta,
        deltas=deltas,
        ci=percentile_interval(deltas, confidence) or [delta, delta],
        p_value=(extreme + 1) / (len(deltas) + 1),
    )
