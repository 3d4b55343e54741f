"""The results cell shared by every report: mean, sample sd and count over seeds or samplings."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def summarize(values: Sequence[float | None]) -> dict[str, float] | None:
    """``{"mean", "sd", "n"}`` over the values that exist (sd 0 for one value), or ``None`` for none.

    Example:
        >>> summarize([0.5, None, 0.5])
        {'mean': 0.5, 'sd': 0.0, 'n': 2}
        >>> summarize([None]) is None
        True
    """
    kept = [v for v in values if v is not None]
    if not kept:
        return None
    return {"mean": statistics.fmean(kept), "sd": statistics.stdev(kept) if len(kept) > 1 else 0.0, "n": len(kept)}
