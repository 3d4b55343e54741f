"""Joint metric: frame accuracy (the ATIS/SNIPS "overall" or "ALL" accuracy).

An example is a correct frame when its predicted label set equals the gold
label set *and* its predicted spans equal the gold spans exactly, compared as
multisets of ``(start, end, label)`` (the same identity the strict span metric
uses). Only examples whose gold annotates both levels are scored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from mrekit.metrics._prf import safe_div
from mrekit.metrics.match import Pair, match_predictions
from mrekit.metrics.spans import span_keys
from mrekit.schema import Example

#: Count columns this module produces (per example) and reads (summed).
COLUMNS = ("frame_n", "frame_correct")


def is_frame_correct(gold: Example, pred: Example) -> bool:
    """Whether both levels of ``pred`` equal ``gold`` (labels as a set, spans as a multiset).

    Example:
        >>> from mrekit.schema import Span
        >>> g = Example("ab", labels=["x"], spans=[Span(0, 1, "s")])
        >>> is_frame_correct(g, Example("ab", labels=["x"], spans=[]))
        False
    """
    return set(gold.labels) == set(pred.labels) and Counter(span_keys(gold)) == Counter(span_keys(pred))


def frame_counts(pairs: Sequence[Pair]) -> dict[str, np.ndarray]:
    """Per-example ``frame_n`` (scored or not) and ``frame_correct`` columns.

    Example:
        >>> frame_counts([(Example("a", labels=["x"], spans=[]), Example("a", labels=["x"]))])["frame_correct"]
        array([1.])
    """
    n = len(pairs)
    out = {"frame_n": np.zeros(n), "frame_correct": np.zeros(n)}
    for i, (gold, pred) in enumerate(pairs):
        if gold.has_text_level and gold.has_word_level:
            out["frame_n"][i] = 1
            out["frame_correct"][i] = is_frame_correct(gold, pred)
    return out


def frame_metrics(totals: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Frame accuracy from summed counts (leading axis: corpora).

    Example:
        >>> frame_metrics({"frame_n": np.array([4.0]), "frame_correct": np.array([3.0])})["frame_accuracy"]
        array([0.75])
    """
    return {"frame_accuracy": safe_div(totals["frame_correct"], totals["frame_n"])}


def frame_accuracy(gold: Sequence[Example], pred: Sequence[Example]) -> float | None:
    """Share of fully annotated gold examples whose prediction is right at both levels.

    Returns:
        The accuracy, or ``None`` when no gold example annotates both levels.

    Example:
        >>> from mrekit.schema import Span
        >>> g = [Example("ab", labels=["x"], spans=[Span(0, 1, "s")]), Example("cd", labels=["y"], spans=[])]
        >>> p = [Example("ab", labels=["x"], spans=[Span(0, 2, "s")]), Example("cd", labels=["y"], spans=[])]
        >>> frame_accuracy(g, p)
        0.5
    """
    totals = {k: v.sum(0, keepdims=True) for k, v in frame_counts(match_predictions(gold, pred)).items()}
    if not totals["frame_n"][0]:
        return None
    return float(frame_metrics(totals)["frame_accuracy"][0])
