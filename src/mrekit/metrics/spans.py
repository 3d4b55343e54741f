"""Word-level metrics: strict span P/R/F1, the MMM "pair" P/R/F1, per label.

* **strict span**: per example, the multiset of predicted ``(start, end, label)``
  keys is matched against the gold multiset (``tp`` = size of the multiset
  intersection); counts are summed over the corpus (micro average). On
  BIO-tagged data decoded with :func:`mrekit.alignment.tags_to_spans` this is
  the conlleval / seqeval default-mode score.
* **pair** (the MMM metric): the same over ``(label, surface string)`` pairs,
  so a right string found at the wrong offset still counts, and a string that
  occurs twice in gold must be predicted twice to be found twice.

Examples whose gold ``spans`` is ``None`` (word level not annotated) are
skipped; a prediction with ``spans=None`` counts as predicting no spans. With no
gold and no predicted spans at all, P, R and F1 are 0, as in seqeval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mrekit.metrics._prf import PRF, multiset_match, prf_arrays
from mrekit.metrics.match import Pair, match_predictions
from mrekit.schema import Example

#: Count columns this module produces (per example) and reads (summed).
COLUMNS = ("span_n", "span_tp", "span_pred", "span_gold", "pair_tp", "pair_pred", "pair_gold")


def span_labels(pairs: Sequence[Pair]) -> list[str]:
    """Sorted union of gold and predicted span labels over the examples scored at the word level.

    Example:
        >>> from mrekit.schema import Span
        >>> span_labels([(Example("ab", spans=[Span(0, 1, "x")]), Example("ab", spans=[Span(1, 2, "y")]))])
        ['x', 'y']
    """
    labels: set[str] = set()
    for gold, pred in pairs:
        if gold.has_word_level:
            labels.update(s.label for s in [*(gold.spans or []), *(pred.spans or [])])
    return sorted(labels)


def span_keys(example: Example) -> list[tuple[int, int, str]]:
    """The strict identities ``(start, end, label)`` of an example's spans (none when absent).

    Example:
        >>> from mrekit.schema import Span
        >>> span_keys(Example("ab", spans=[Span(0, 1, "x")]))
        [(0, 1, 'x')]
    """
    return [span.key for span in example.spans or []]


def surface_pairs(example: Example) -> list[tuple[str, str]]:
    """The MMM pairs ``(label, surface string)`` of an example's spans.

    Example:
        >>> from mrekit.schema import Span
        >>> surface_pairs(Example("ab", spans=[Span(0, 1, "x")]))
        [('x', 'a')]
    """
    return [(span.label, example.surface(span)) for span in example.spans or []]


def span_counts(pairs: Sequence[Pair], labels: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-example count columns for the word level (zero rows for skipped examples).

    Returns:
        ``span_n`` and ``pair_*`` of shape ``(n,)``; ``span_tp``, ``span_pred``
        and ``span_gold`` of shape ``(n, len(labels))`` (per span label).

    Example:
        >>> from mrekit.schema import Span
        >>> pair = (Example("ab", spans=[Span(0, 1, "x")]), Example("ab", spans=[Span(0, 1, "x")]))
        >>> span_counts([pair], ["x"])["span_tp"].tolist()
        [[1.0]]
    """
    n, index = len(pairs), {label: j for j, label in enumerate(labels)}
    out = {name: np.zeros(n) for name in ("span_n", "pair_tp", "pair_pred", "pair_gold")}
    for name in ("span_tp", "span_pred", "span_gold"):
        out[name] = np.zeros((n, len(labels)))
    for i, (gold, pred) in enumerate(pairs):
        if not gold.has_word_level:
            continue
        out["span_n"][i] = 1
        # The key holds the label, so per-label intersections add up to the overall one.
        matched, predicted, wanted = multiset_match(span_keys(gold), span_keys(pred))
        for name, counter in (("span_tp", matched), ("span_pred", predicted), ("span_gold", wanted)):
            for key, count in counter.items():
                out[name][i, index[key[2]]] += count
        matched, predicted, wanted = multiset_match(surface_pairs(gold), surface_pairs(pred))
        out["pair_tp"][i] = matched.total()
        out["pair_pred"][i] = predicted.total()
        out["pair_gold"][i] = wanted.total()
    return out


def span_metrics(totals: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Strict span and pair P/R/F1 from summed counts (leading axis: corpora).

    Per-label columns may arrive already summed to width 1 (the bootstrap does
    that to save work); only their sum over the last axis is used here.

    Example:
        >>> t = {"span_tp": np.array([[1.0]]), "span_pred": np.array([[2.0]]), "span_gold": np.array([[1.0]]),
        ...      "pair_tp": np.array([1.0]), "pair_pred": np.array([1.0]), "pair_gold": np.array([1.0])}
        >>> span_metrics(t)["span_precision"].tolist()
        [0.5]
    """
    out = {}
    span = prf_arrays(totals["span_tp"].sum(-1), totals["span_pred"].sum(-1), totals["span_gold"].sum(-1))
    pair = prf_arrays(totals["pair_tp"], totals["pair_pred"], totals["pair_gold"])
    for prefix, values in (("span", span), ("pair", pair)):
        for name, value in zip(("precision", "recall", "f1"), values, strict=True):
            out[f"{prefix}_{name}"] = value
    return out


def span_per_label(totals: dict[str, np.ndarray], labels: Sequence[str]) -> dict[str, PRF]:
    """Per-span-label :class:`PRF` from counts summed over one corpus (no leading axis).

    Example:
        >>> t = {"span_tp": np.array([1.0]), "span_pred": np.array([1.0]), "span_gold": np.array([2.0])}
        >>> span_per_label(t, ["x"])["x"].recall
        0.5
    """
    return {
        label: PRF.from_counts(totals["span_tp"][j], totals["span_pred"][j], totals["span_gold"][j])
        for j, label in enumerate(labels)
    }


def span_scores(gold: Sequence[Example], pred: Sequence[Example]) -> dict[str, Any]:
    """Word-level scores of a corpus.

    Args:
        gold: Reference examples.
        pred: Predictions, matched with :func:`match_predictions`.

    Returns:
        ``strict`` and ``pair`` (each a :class:`PRF`, ``None`` when no gold
        example has its word level annotated), ``per_label`` (span label ->
        :class:`PRF`) and ``n`` (examples scored).

    Example:
        >>> from mrekit.schema import Span
        >>> g = [Example("new york", spans=[Span(0, 8, "city")])]
        >>> p = [Example("new york", spans=[Span(4, 8, "city")])]
        >>> span_scores(g, p)["strict"].f1
        0.0
    """
    pairs = match_predictions(gold, pred)
    labels = span_labels(pairs)
    totals = {k: v.sum(0) for k, v in span_counts(pairs, labels).items()}
    n = int(totals["span_n"])
    strict = PRF.from_counts(totals["span_tp"].sum(), totals["span_pred"].sum(), totals["span_gold"].sum())
    pair = PRF.from_counts(totals["pair_tp"], totals["pair_pred"], totals["pair_gold"])
    return {
        "strict": strict if n else None,
        "pair": pair if n else None,
        "per_label": span_per_label(totals, labels),
        "n": n,
    }
