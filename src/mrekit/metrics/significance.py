"""McNemar's exact test on per-example correctness of two systems."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mrekit.metrics.match import match_predictions
from mrekit.metrics.table import CountTable, build_table
from mrekit.schema import Example

#: Levels at which an example can be right or wrong as a whole.
LEVELS = ("text", "spans", "frame")


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts.

    Under "both systems are equally good" each of the ``n = b + c`` discordant
    examples favours either system with probability 1/2, so ``min(b, c)`` is
    Binomial(n, 1/2): ``p = min(1, 2 * sum_{k <= min(b, c)} C(n, k) / 2**n)``.
    The sum is computed in exact integers, so the only rounding is the final
    division. With no discordant example the p-value is 1.

    Args:
        b: Examples system A got right and system B wrong.
        c: Examples system A got wrong and system B right.

    Example:
        >>> mcnemar_exact(1, 9)
        0.021484375
    """
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be non-negative")
    n = b + c
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2**n)


@dataclass(frozen=True)
class McNemar:
    """Discordant counts and the exact two-sided p-value.

    Attributes:
        b: Examples right for A and wrong for B.
        c: Examples wrong for A and right for B.
        p_value: :func:`mcnemar_exact` of ``b`` and ``c``.
    """

    b: int
    c: int
    p_value: float


def mcnemar_test(correct_a: Sequence[bool] | np.ndarray, correct_b: Sequence[bool] | np.ndarray) -> McNemar:
    """McNemar's exact test from two aligned per-example correctness vectors.

    Example:
        >>> mcnemar_test([True, True, False], [True, False, False])
        McNemar(b=1, c=0, p_value=1.0)
    """
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"correctness vectors differ in length: {a.shape} vs {b.shape}")
    only_a, only_b = int(np.count_nonzero(a & ~b)), int(np.count_nonzero(~a & b))
    return McNemar(b=only_a, c=only_b, p_value=mcnemar_exact(only_a, only_b))


def table_correctness(table: CountTable, level: str = "frame") -> np.ndarray:
    """Per-example correctness at ``level`` over the examples that level scores.

    Example:
        >>> from mrekit.schema import Example
        >>> table = build_table([(Example("a", labels=["x"]), Example("a", labels=["y"]))])
        >>> table_correctness(table, "text").tolist()
        [False]
    """
    counts = table.counts
    if level == "text":
        return counts["text_correct"][counts["text_n"] > 0].astype(bool)
    if level == "frame":
        return counts["frame_correct"][counts["frame_n"] > 0].astype(bool)
    if level == "spans":
        tp, n_pred, n_gold = (counts[k].sum(1) for k in ("span_tp", "span_pred", "span_gold"))
        # An exact multiset match means every gold and every predicted span is a true positive.
        exact = (tp == n_pred) & (tp == n_gold)
        return exact[counts["span_n"] > 0]
    raise ValueError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")


def example_correctness(gold: Sequence[Example], pred: Sequence[Example], *, level: str = "frame") -> np.ndarray:
    """Whether each scored example is entirely right at ``level``.

    Args:
        gold: Reference examples.
        pred: Predictions, matched with :func:`match_predictions`.
        level: ``"text"`` (label set), ``"spans"`` (span multiset) or ``"frame"`` (the whole
            frame, see :mod:`mrekit.metrics.joint`).

    Returns:
        A boolean array over the gold examples that annotate the level, in gold order.

    Example:
        >>> g = [Example("a", labels=["x"]), Example("b")]
        >>> example_correctness(g, g, level="text").tolist()
        [True]
    """
    return table_correctness(build_table(match_predictions(gold, pred)), level)


def mcnemar(
    gold: Sequence[Example], pred_a: Sequence[Example], pred_b: Sequence[Example], *, level: str = "frame"
) -> McNemar:
    """McNemar's exact test of two systems' per-example correctness at ``level``.

    Example:
        >>> g = [Example("a", labels=["x"]), Example("b", labels=["y"])]
        >>> p = [Example("a", labels=["x"]), Example("b", labels=["x"])]
        >>> mcnemar(g, p, g, level="text")
        McNemar(b=0, c=1, p_value=1.0)
    """
    return mcnemar_test(example_correctness(gold, pred_a, level=level), example_correctness(gold, pred_b, level=level))
