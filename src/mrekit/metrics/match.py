"""Pair gold examples with their predictions before scoring."""

from __future__ import annotations

from collections.abc import Sequence

from mrekit.errors import MrekitError
from mrekit.schema import Example

Pair = tuple[Example, Example]


def match_predictions(gold: Sequence[Example], pred: Sequence[Example]) -> list[Pair]:
    """Pair each gold example with its prediction.

    Pairs by ``id`` when every gold and predicted example has one (in gold
    order), else by position. Either way the texts of a pair must be equal,
    since span offsets only mean something against the same text.

    Args:
        gold: The reference examples.
        pred: The predictions, one per gold example.

    Returns:
        ``(gold, pred)`` pairs in gold order.

    Raises:
        MrekitError: ``E160`` when the counts differ, an id is duplicated or
            has no prediction, or the texts of a pair differ (naming the id,
            or the 1-based line when pairing by position).

    Example:
        >>> g = [Example("hi", id="a"), Example("yo", id="b")]
        >>> p = [Example("yo", id="b"), Example("hi", id="a")]
        >>> [(x.id, y.id) for x, y in match_predictions(g, p)]
        [('a', 'a'), ('b', 'b')]
    """
    gold, pred = list(gold), list(pred)
    if len(gold) != len(pred):
        raise MrekitError(
            "E160",
            f"gold has {len(gold)} examples but the predictions have {len(pred)}",
            hint="predict every gold example exactly once",
        )
    by_id = bool(gold) and all(ex.id is not None for ex in [*gold, *pred])
    pairs = _pair_by_id(gold, pred) if by_id else list(zip(gold, pred, strict=True))
    for line, (g, p) in enumerate(pairs, start=1):
        if g.text != p.text:
            raise _text_mismatch(g, p, line if not by_id else None)
    return pairs


def _pair_by_id(gold: list[Example], pred: list[Example]) -> list[Pair]:
    _check_unique(gold, "gold")
    predicted = _check_unique(pred, "predictions")
    pairs = []
    for g in gold:
        if g.id not in predicted:
            raise MrekitError("E160", f"no prediction for gold id {g.id!r}", field="id")
        pairs.append((g, predicted[g.id]))
    return pairs


def _check_unique(examples: list[Example], side: str) -> dict[str | None, Example]:
    seen: dict[str | None, Example] = {}
    for ex in examples:
        if ex.id in seen:
            raise MrekitError("E160", f"id {ex.id!r} occurs more than once in the {side}", field="id")
        seen[ex.id] = ex
    return seen


def _text_mismatch(gold: Example, pred: Example, line: int | None) -> MrekitError:
    # By position the line number locates the pair; by id the id does.
    where = f"id {gold.id!r}: " if line is None else ""
    return MrekitError(
        "E160",
        f"{where}predicted text {_clip(pred.text)!r} differs from gold text {_clip(gold.text)!r}",
        line=line,
        hint="predictions must keep the gold text unchanged",
    )


def _clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
