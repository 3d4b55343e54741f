"""Relation and event metrics, strict on the spans they point to.

* **relation**: ``(head key, tail key, label)`` where a span key is
  ``(start, end, label)``; a relation is right only when both spans are.
* **event trigger**: ``(start, end, event type)`` of the trigger span.
* **event argument**: ``(trigger key, role, argument span key)`` with the
  trigger key above, so an argument also needs its trigger right.

Relations and events point to spans by index. Since a gold example's empty
``relations`` cannot say "not annotated", the relation level counts as
annotated when at least one gold example has a relation; it is then scored on
every example whose gold word level is annotated. Events likewise. A predicted
index that points to no span counts as a prediction that matches nothing.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from mrekit.metrics._prf import PRF, multiset_match, prf_arrays
from mrekit.metrics.match import Pair, match_predictions
from mrekit.schema import Event, Example

#: Count columns this module produces (per example) and reads (summed).
COLUMNS = ("rel_n", "rel_tp", "rel_pred", "rel_gold", "event_n") + tuple(
    f"{kind}_{what}" for kind in ("trig", "arg") for what in ("tp", "pred", "gold")
)


def _span_key(example: Example, index: int) -> Hashable:
    spans = example.spans or []
    if 0 <= index < len(spans):
        return spans[index].key
    # A fresh object equals nothing, so a dangling index can never match.
    return object()


def relation_keys(example: Example) -> list[tuple[Hashable, Hashable, str]]:
    """Strict relation identities ``(head span key, tail span key, label)``.

    Example:
        >>> from mrekit.schema import Relation, Span
        >>> ex = Example("ab", spans=[Span(0, 1, "x"), Span(1, 2, "y")], relations=[Relation(0, 1, "r")])
        >>> relation_keys(ex)
        [((0, 1, 'x'), (1, 2, 'y'), 'r')]
    """
    return [(_span_key(example, r.head), _span_key(example, r.tail), r.label) for r in example.relations]


def _trigger_key(example: Example, event: Event) -> Hashable:
    key = _span_key(example, event.trigger)
    return (key[0], key[1], event.type) if isinstance(key, tuple) else key


def trigger_keys(example: Example) -> list[Hashable]:
    """Event trigger identities ``(start, end, event type)``.

    Example:
        >>> from mrekit.schema import Event, Span
        >>> trigger_keys(Example("ab", spans=[Span(0, 1, "t")], events=[Event(0, "attack")]))
        [(0, 1, 'attack')]
    """
    return [_trigger_key(example, event) for event in example.events]


def argument_keys(example: Example) -> list[tuple[Hashable, str, Hashable]]:
    """Event argument identities ``(trigger key, role, argument span key)``.

    Example:
        >>> from mrekit.schema import Event, Span
        >>> ex = Example("ab", spans=[Span(0, 1, "t"), Span(1, 2, "p")], events=[Event(0, "go", (("agent", 1),))])
        >>> argument_keys(ex)
        [((0, 1, 'go'), 'agent', (1, 2, 'p'))]
    """
    return [
        (_trigger_key(example, event), role, _span_key(example, index))
        for event in example.events
        for role, index in event.args
    ]


def structure_counts(pairs: Sequence[Pair]) -> dict[str, np.ndarray]:
    """Per-example relation and event count columns (``rel_*``, ``event_n``, ``trig_*``, ``arg_*``).

    Example:
        >>> structure_counts([(Example("a", spans=[]), Example("a", spans=[]))])["rel_n"]
        array([0.])
    """
    n = len(pairs)
    out = {name: np.zeros(n) for name in COLUMNS}
    has_relations = any(gold.relations for gold, _ in pairs)
    has_events = any(gold.events for gold, _ in pairs)
    for i, (gold, pred) in enumerate(pairs):
        if not gold.has_word_level:
            continue
        if has_relations:
            out["rel_n"][i] = 1
            _fill(out, "rel", i, relation_keys(gold), relation_keys(pred))
        if has_events:
            out["event_n"][i] = 1
            _fill(out, "trig", i, trigger_keys(gold), trigger_keys(pred))
            _fill(out, "arg", i, argument_keys(gold), argument_keys(pred))
    return out


def _fill(out: dict[str, np.ndarray], prefix: str, i: int, gold: list, pred: list) -> None:
    matched, predicted, wanted = multiset_match(gold, pred)
    out[f"{prefix}_tp"][i] = matched.total()
    out[f"{prefix}_pred"][i] = predicted.total()
    out[f"{prefix}_gold"][i] = wanted.total()


def structure_metrics(totals: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Relation, trigger and argument F1 from summed counts (leading axis: corpora).

    Example:
        >>> t = {f"{k}_{w}": np.array([1.0]) for k in ("rel", "trig", "arg") for w in ("tp", "pred", "gold")}
        >>> structure_metrics(t)["relation_f1"]
        array([1.])
    """
    names = {"rel": "relation_f1", "trig": "event_trigger_f1", "arg": "event_argument_f1"}
    return {
        name: prf_arrays(totals[f"{prefix}_tp"], totals[f"{prefix}_pred"], totals[f"{prefix}_gold"])[2]
        for prefix, name in names.items()
    }


def structure_scores(gold: Sequence[Example], pred: Sequence[Example]) -> dict[str, PRF | None]:
    """Relation, event trigger and event argument :class:`PRF` of a corpus.

    Returns:
        ``relation``, ``event_trigger`` and ``event_argument``; ``None`` for a
        level that no gold example annotates.

    Example:
        >>> from mrekit.schema import Relation, Span
        >>> g = [Example("ab", spans=[Span(0, 1, "x"), Span(1, 2, "y")], relations=[Relation(0, 1, "r")])]
        >>> structure_scores(g, g)["relation"].f1
        1.0
    """
    totals = {k: v.sum() for k, v in structure_counts(match_predictions(gold, pred)).items()}

    def prf(prefix: str, present: str) -> PRF | None:
        if not totals[present]:
            return None
        return PRF.from_counts(totals[f"{prefix}_tp"], totals[f"{prefix}_pred"], totals[f"{prefix}_gold"])

    return {
        "relation": prf("rel", "rel_n"),
        "event_trigger": prf("trig", "event_n"),
        "event_argument": prf("arg", "event_n"),
    }
