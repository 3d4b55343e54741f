"""Precision, recall and F1 from counts, with seqeval's zero-division convention.

Every metric in :mod:`mrekit.metrics` is a ratio of summed per-example counts.
The formulas here work on numpy arrays of any shape so that the same code
gives the point estimate (one corpus) and the bootstrap (many resampled
corpora at once).

Convention: a ratio whose denominator is 0 is 0. So precision is 0 when nothing
was predicted, recall is 0 when there is nothing to find, and F1 is 0 when there
is neither, exactly as ``seqeval.metrics`` (default ``zero_division="warn"``)
and ``sklearn.metrics`` report them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np


def safe_div(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    """Divide elementwise, giving 0 where the denominator is 0.

    Example:
        >>> safe_div(np.array([1.0, 1.0]), np.array([4.0, 0.0])).tolist()
        [0.25, 0.0]
    """
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den != 0)
    return out


def prf_arrays(tp: np.ndarray, n_pred: np.ndarray, n_gold: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 from true-positive, predicted and gold counts.

    F1 is computed as ``2 tp / (n_pred + n_gold)``: one rounding, so hand
    computed fractions compare exactly; it equals ``2PR / (P + R)``.

    Example:
        >>> [a.item() for a in prf_arrays(np.array(1), np.array(2), np.array(4))]
        [0.5, 0.25, 0.3333333333333333]
    """
    precision = safe_div(tp, n_pred)
    recall = safe_div(tp, n_gold)
    f1 = safe_div(2 * np.asarray(tp, dtype=np.float64), np.asarray(n_pred) + np.asarray(n_gold))
    return precision, recall, f1


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1 with the counts they come from.

    Example:
        >>> PRF.from_counts(tp=1, n_pred=2, n_gold=4).recall
        0.25
    """

    precision: float
    recall: float
    f1: float
    tp: int
    n_pred: int
    n_gold: int

    @classmethod
    def from_counts(cls, tp: float, n_pred: float, n_gold: float) -> PRF:
        """Build from counts using the zero-division convention of this module."""
        p, r, f = prf_arrays(np.asarray(tp), np.asarray(n_pred), np.asarray(n_gold))
        return cls(float(p), float(r), float(f), int(tp), int(n_pred), int(n_gold))

    @property
    def support(self) -> int:
        """The number of gold items (scikit-learn's ``support``)."""
        return self.n_gold

    def as_dict(self) -> dict[str, float | int]:
        """``{"precision", "recall", "f1", "support"}`` as reported per label."""
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "support": self.support}


def multiset_match(gold: Iterable[Hashable], pred: Iterable[Hashable]) -> tuple[Counter, Counter, Counter]:
    """Matched, predicted and gold multisets: an item predicted twice matches at most as often as it is gold.

    Example:
        >>> tp, _, _ = multiset_match(["a", "a", "b"], ["a", "c"])
        >>> sorted(tp.elements())
        ['a']
    """
    gold_c, pred_c = Counter(gold), Counter(pred)
    return gold_c & pred_c, pred_c, gold_c
