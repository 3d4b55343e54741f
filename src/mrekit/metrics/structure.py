"""Relation and event metrics, defined as SpERT (relations) and PHEE (events) score them.

**Relations** follow SpERT's evaluator (Eberts & Ulges, 2020, "Span-based Joint
Entity and Relation Extraction with Transformer Pre-training", ECAI; code
``lavis-nlp/spert``, ``spert/evaluator.py``). A relation is identified by

* **strict** (SpERT's "with NEC", the relation F1 SpERT reports):
  ``((head start, head end, head type), (tail start, tail end, tail type),
  relation type)``: both spans' boundaries *and* entity types, and the
  relation type, must be right;
* **boundary** (SpERT's "without NEC"): ``((head start, head end), (tail
  start, tail end), relation type)``: entity types are ignored.

Per example, predicted identities are matched against the gold multiset.
**Micro** F1 sums ``tp``, predictions and gold over the corpus. **Macro** F1 is
the unweighted mean over relation types of the per-type F1 ``2 tp / (pred +
gold)`` of that type; the types are those that occur in the gold *or* the
predictions of the scored examples, as SpERT's evaluator passes the types seen
on either side to scikit-learn's ``precision_recall_fscore_support(average=
"macro", zero_division=0)`` (so a type only ever predicted adds an F1 of 0).
SpERT's entity F1 is the strict ``(start, end, type)`` span F1, which is
:mod:`mrekit.metrics.spans`' ``span_f1``; it is not repeated here. Head and tail
are ordered: SpERT swaps them only for relation types its type file marks
symmetric, and its CoNLL04 and ADE types mark none. SpERT compares *sets* per
sentence while here items are multisets; the two differ only when one example
holds the same identity twice.

**Events** follow PHEE (Sun et al., 2022, "PHEE: A Dataset for
Pharmacovigilance Event Extraction from Text", EMNLP; code ``ZhaoyueSun/PHEE``,
``evaluate/phee_metric.py``), whose trigger and argument identification /
classification split is that of EEQA (Du & Cardie, 2020) and the ACE setting
(Li et al., 2013). Per example:

* **trigger identification**: ``(start, end)`` of the trigger span;
* **trigger classification**: ``(start, end, event type)``;
* **argument identification**: ``(event type, tier, argument start, argument
  end)``, where the tier is ``"sub"`` for a role with a ``.`` in its name
  (PHEE's sub-arguments such as ``Treatment.Drug``) and ``"main"`` otherwise
  (``Subject``, ``Treatment``, ``Effect``): PHEE's identification groups an
  event type's arguments into main and sub arguments and ignores the role;
* **argument classification**: ``(event type, role, argument start, argument
  end)``, PHEE's exact-match ("EM") argument score;
* **main argument** identification / classification: the same over main roles
  only. The classification F1 is the number PHEE reports as the main-argument
  EM F1. PHEE's event attributes (``Severity``, ``Negation``,
  ``Speculation``) are not arguments there: kept as event arguments, their
  dotless roles would count as main arguments here, so keep them out of
  ``args`` to compare with PHEE.

An argument is *not* tied to its trigger's offsets: PHEE pools the arguments of
a sentence by event type and role (as ACE's Arg-I / Arg-C do), so an argument
counts when its event's type is right, whatever the trigger's boundaries. The
argument span's own label is ignored too (the role is the argument's type).
One deviation from PHEE's script: it compares argument *strings* after SQuAD
normalisation (lower case, no punctuation or articles), here spans compare by
character offsets, so a prediction that differs from the gold only by case,
punctuation or a leading article, or that points to another occurrence of the
same string, is a miss here and a hit there.

Relations and events point to spans by index. Since a gold example's empty
``relations`` cannot say "not annotated", the relation level counts as
annotated when at least one gold example has a relation; it is then scored on
every example whose gold word level is annotated. Events likewise. A predicted
index that points to no span counts as a prediction that matches nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from mrekit.metrics._prf import PRF, multiset_match, prf_arrays, safe_div
from mrekit.metrics.match import Pair, match_predictions
from mrekit.schema import Event, Example

#: Micro count families: prefix -> what its identity is (see the module docstring).
FAMILIES = {
    "rel": "strict relation",
    "relb": "boundary relation",
    "trigid": "trigger identification",
    "trig": "trigger classification",
    "argid": "argument identification",
    "arg": "argument classification",
    "margid": "main argument identification",
    "marg": "main argument classification",
}

#: Per-relation-type blocks of shape ``(n, len(relation types))`` (strict and boundary).
TYPE_COLUMNS = tuple(f"{prefix}_type_{what}" for prefix in ("rel", "relb") for what in ("tp", "pred", "gold"))

#: Count columns this module produces (per example) and reads (summed).
COLUMNS = (
    ("rel_n", "event_n")
    + tuple(f"{prefix}_{what}" for prefix in FAMILIES for what in ("tp", "pred", "gold"))
    + TYPE_COLUMNS
)

#: Metric name -> the micro count family it is the F1 of.
MICRO_METRICS = {
    "relation_f1": "rel",
    "relation_boundary_f1": "relb",
    "event_trigger_id_f1": "trigid",
    "event_trigger_f1": "trig",
    "event_argument_id_f1": "argid",
    "event_argument_f1": "arg",
    "event_main_argument_id_f1": "margid",
    "event_main_argument_f1": "marg",
}


class _Dangling:
    """A span index that points to no span: equal only to itself, so it never matches."""

    __slots__ = ()


def _span(example: Example, index: int) -> Any:
    spans = example.spans or []
    return spans[index] if 0 <= index < len(spans) else None


def _span_key(example: Example, index: int) -> Hashable:
    span = _span(example, index)
    # A fresh object equals nothing, so a dangling index can never match.
    return span.key if span is not None else _Dangling()


def _bounds(example: Example, index: int) -> Hashable:
    span = _span(example, index)
    return (span.start, span.end) if span is not None else _Dangling()


def is_main_role(role: str) -> bool:
    """Whether a role is a main argument (no ``.`` in its name; PHEE's sub-arguments read ``Treatment.Drug``).

    Example:
        >>> is_main_role("Treatment"), is_main_role("Treatment.Drug")
        (True, False)
    """
    return "." not in role


def annotates_relations(pairs: Sequence[Pair]) -> bool:
    """The corpus rule: the relation level is annotated when some gold example has a relation.

    Example:
        >>> annotates_relations([(Example("a", spans=[]), Example("a", spans=[]))])
        False
    """
    return any(gold.relations for gold, _ in pairs)


def annotates_events(pairs: Sequence[Pair]) -> bool:
    """The corpus rule: the event level is annotated when some gold example has an event.

    Example:
        >>> from mrekit.schema import Span
        >>> annotates_events([(Example("a", spans=[Span(0, 1, "t")], events=[Event(0, "go")]), Example("a"))])
        True
    """
    return any(gold.events for gold, _ in pairs)


def relation_keys(example: Example) -> list[tuple[Hashable, Hashable, str]]:
    """Strict relation identities ``(head span key, tail span key, label)``.

    Example:
        >>> from mrekit.schema import Relation, Span
        >>> ex = Example("ab", spans=[Span(0, 1, "x"), Span(1, 2, "y")], relations=[Relation(0, 1, "r")])
        >>> relation_keys(ex)
        [((0, 1, 'x'), (1, 2, 'y'), 'r')]
    """
    return [(_span_key(example, r.head), _span_key(example, r.tail), r.label) for r in example.relations]


def relation_boundary_keys(example: Example) -> list[tuple[Hashable, Hashable, str]]:
    """Boundary relation identities ``((head start, head end), (tail start, tail end), label)``.

    Example:
        >>> from mrekit.schema import Relation, Span
        >>> ex = Example("ab", spans=[Span(0, 1, "x"), Span(1, 2, "y")], relations=[Relation(0, 1, "r")])
        >>> relation_boundary_keys(ex)
        [((0, 1), (1, 2), 'r')]
    """
    return [(_bounds(example, r.head), _bounds(example, r.tail), r.label) for r in example.relations]


def relation_labels(pairs: Sequence[Pair]) -> list[str]:
    """Sorted relation types of the gold and predicted relations of the examples scored (the macro classes).

    Example:
        >>> from mrekit.schema import Relation, Span
        >>> gold = Example("ab", spans=[Span(0, 1, "x"), Span(1, 2, "y")], relations=[Relation(0, 1, "r")])
        >>> pred = Example("ab", spans=[Span(0, 1, "x"), Span(1, 2, "y")], relations=[Relation(1, 0, "q")])
        >>> relation_labels([(gold, pred)])
        ['q', 'r']
    """
    if not annotates_relations(pairs):
        return []
    labels: set[str] = set()
    for gold, pred in pairs:
        if gold.has_word_level:
            labels.update(r.label for r in [*gold.relations, *pred.relations])
    return sorted(labels)


def trigger_id_keys(example: Example) -> list[Hashable]:
    """Event trigger identification identities ``(start, end)``.

    Example:
        >>> from mrekit.schema import Span
        >>> trigger_id_keys(Example("ab", spans=[Span(0, 1, "t")], events=[Event(0, "attack")]))
        [(0, 1)]
    """
    return [_bounds(example, event.trigger) for event in example.events]


def _trigger_key(example: Example, event: Event) -> Hashable:
    bounds = _bounds(example, event.trigger)
    return (*bounds, event.type) if isinstance(bounds, tuple) else bounds


def trigger_keys(example: Example) -> list[Hashable]:
    """Event trigger classification identities ``(start, end, event type)``.

    Example:
        >>> from mrekit.schema import Span
        >>> trigger_keys(Example("ab", spans=[Span(0, 1, "t")], events=[Event(0, "attack")]))
        [(0, 1, 'attack')]
    """
    return [_trigger_key(example, event) for event in example.events]


def _arguments(example: Example, main_only: bool) -> list[tuple[str, str, Hashable]]:
    return [
        (event.type, role, _bounds(example, index))
        for event in example.events
        for role, index in event.args
        if not main_only or is_main_role(role)
    ]


def argument_keys(example: Example, *, main_only: bool = False) -> list[tuple[str, str, Hashable]]:
    """Argument classification identities ``(event type, role, (start, end))`` (PHEE's EM match).

    Args:
        example: The example.
        main_only: Keep main arguments only (roles without a ``.``).

    Example:
        >>> from mrekit.schema import Span
        >>> ex = Example("ab", spans=[Span(0, 1, "t"), Span(1, 2, "p")],
        ...              events=[Event(0, "go", (("agent", 1), ("agent.age", 1)))])
        >>> argument_keys(ex), argument_keys(ex, main_only=True)
        ([('go', 'agent', (1, 2)), ('go', 'agent.age', (1, 2))], [('go', 'agent', (1, 2))])
    """
    return _arguments(example, main_only)


def argument_id_keys(example: Example, *, main_only: bool = False) -> list[tuple[str, str, Hashable]]:
    """Argument identification identities ``(event type, "main" or "sub", (start, end))``: the role is ignored.

    Example:
        >>> from mrekit.schema import Span
        >>> ex = Example("ab", spans=[Span(0, 1, "t"), Span(1, 2, "p")], events=[Event(0, "go", (("agent", 1),))])
        >>> argument_id_keys(ex)
        [('go', 'main', (1, 2))]
    """
    return [
        (kind, "main" if is_main_role(role) else "sub", bounds) for kind, role, bounds in _arguments(example, main_only)
    ]


def event_keys(example: Example) -> list[Hashable]:
    """Whole-event identities: the trigger span key, the event type and the multiset of ``(role, argument span key)``.

    Used by frame accuracy, where an event is right only with its trigger and all its arguments.

    Example:
        >>> from mrekit.schema import Span
        >>> ex = Example("ab", spans=[Span(0, 1, "t"), Span(1, 2, "p")], events=[Event(0, "go", (("agent", 1),))])
        >>> event_keys(ex) == event_keys(Example("ab", spans=ex.spans, events=[Event(0, "go", (("agent", 1),))]))
        True
    """
    return [
        (
            _span_key(example, event.trigger),
            event.type,
            frozenset(Counter((role, _span_key(example, index)) for role, index in event.args).items()),
        )
        for event in example.events
    ]


def structure_counts(pairs: Sequence[Pair], labels: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Per-example relation and event count columns (:data:`COLUMNS`; zero rows where a level is not scored).

    Args:
        pairs: Matched ``(gold, prediction)`` pairs.
        labels: The relation types of the per-type blocks; :func:`relation_labels` when ``None``.

    Returns:
        The :data:`TYPE_COLUMNS` of shape ``(n, len(labels))``, the others of shape ``(n,)``.

    Example:
        >>> structure_counts([(Example("a", spans=[]), Example("a", spans=[]))])["rel_n"]
        array([0.])
    """
    labels = relation_labels(pairs) if labels is None else list(labels)
    n, index = len(pairs), {label: j for j, label in enumerate(labels)}
    out = {name: np.zeros((n, len(labels)) if name in TYPE_COLUMNS else n) for name in COLUMNS}
    has_relations, has_events = annotates_relations(pairs), annotates_events(pairs)
    for i, (gold, pred) in enumerate(pairs):
        if not gold.has_word_level:
            continue
        if has_relations:
            out["rel_n"][i] = 1
            for prefix, keys in (("rel", relation_keys), ("relb", relation_boundary_keys)):
                _fill(out, prefix, i, keys(gold), keys(pred), index)
        if has_events:
            out["event_n"][i] = 1
            _fill(out, "trigid", i, trigger_id_keys(gold), trigger_id_keys(pred))
            _fill(out, "trig", i, trigger_keys(gold), trigger_keys(pred))
            for prefix, keys, main_only in (
                ("argid", argument_id_keys, False),
                ("arg", argument_keys, False),
                ("margid", argument_id_keys, True),
                ("marg", argument_keys, True),
            ):
                _fill(out, prefix, i, keys(gold, main_only=main_only), keys(pred, main_only=main_only))
    return out


def _fill(
    out: dict[str, np.ndarray], prefix: str, i: int, gold: list, pred: list, types: dict[str, int] | None = None
) -> None:
    matched, predicted, wanted = multiset_match(gold, pred)
    for what, counter in (("tp", matched), ("pred", predicted), ("gold", wanted)):
        out[f"{prefix}_{what}"][i] = counter.total()
        if types is not None:
            # A relation identity ends with its type, so per-type counts add up to the micro ones.
            for key, count in counter.items():
                out[f"{prefix}_type_{what}"][i, types[key[-1]]] += count


def _macro_f1(tp: np.ndarray, n_pred: np.ndarray, n_gold: np.ndarray) -> np.ndarray:
    # Mean over the types present (gold or predicted) in this, possibly resampled, corpus.
    _, _, f1 = prf_arrays(tp, n_pred, n_gold)
    present = (n_pred + n_gold) > 0
    return safe_div((f1 * present).sum(-1), present.sum(-1))


def structure_metrics(totals: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Relation and event F1 from summed counts (leading axis: corpora).

    Returns:
        The :data:`MICRO_METRICS` and ``relation_f1_macro``, ``relation_boundary_f1_macro``.

    Example:
        >>> t = {f"{k}_{w}": np.array([1.0]) for k in FAMILIES for w in ("tp", "pred", "gold")}
        >>> t.update({name: np.array([[1.0, 0.0]]) for name in TYPE_COLUMNS})
        >>> m = structure_metrics(t)
        >>> m["relation_f1"], m["relation_f1_macro"]
        (array([1.]), array([1.]))
    """
    out = {
        name: prf_arrays(totals[f"{prefix}_tp"], totals[f"{prefix}_pred"], totals[f"{prefix}_gold"])[2]
        for name, prefix in MICRO_METRICS.items()
    }
    for name, prefix in (("relation_f1_macro", "rel"), ("relation_boundary_f1_macro", "relb")):
        out[name] = _macro_f1(*(totals[f"{prefix}_type_{what}"] for what in ("tp", "pred", "gold")))
    return out


def relation_per_type(totals: dict[str, np.ndarray], labels: Sequence[str]) -> dict[str, PRF]:
    """Per-relation-type strict :class:`PRF` from counts summed over one corpus (no leading axis).

    Example:
        >>> t = {"rel_type_tp": np.array([1.0]), "rel_type_pred": np.array([2.0]), "rel_type_gold": np.array([1.0])}
        >>> relation_per_type(t, ["works_for"])["works_for"].precision
        0.5
    """
    tp, n_pred, n_gold = (totals[f"rel_type_{what}"] for what in ("tp", "pred", "gold"))
    return {label: PRF.from_counts(tp[j], n_pred[j], n_gold[j]) for j, label in enumerate(labels)}


def structure_scores(gold: Sequence[Example], pred: Sequence[Example]) -> dict[str, Any]:
    """Relation and event scores of a corpus.

    Returns:
        :class:`PRF` (or ``None`` for a level no gold example annotates) under
        ``relation`` (strict), ``relation_boundary``, ``event_trigger_id``,
        ``event_trigger``, ``event_argument_id``, ``event_argument``,
        ``event_main_argument_id`` and ``event_main_argument``; floats (or
        ``None``) under ``relation_f1_macro`` and ``relation_boundary_f1_macro``;
        and ``relation_per_type`` (relation type -> strict :class:`PRF`).

    Example:
        >>> from mrekit.schema import Relation, Span
        >>> g = [Example("ab", spans=[Span(0, 1, "x"), Span(1, 2, "y")], relations=[Relation(0, 1, "r")])]
        >>> structure_scores(g, g)["relation"].f1
        1.0
    """
    pairs = match_predictions(gold, pred)
    labels = relation_labels(pairs)
    totals = {k: v.sum(0) for k, v in structure_counts(pairs, labels).items()}
    macro = {k: v.item() for k, v in structure_metrics({k: v[None] for k, v in totals.items()}).items()}
    relations, events = bool(totals["rel_n"]), bool(totals["event_n"])

    def prf(prefix: str, present: bool) -> PRF | None:
        if not present:
            return None
        return PRF.from_counts(totals[f"{prefix}_tp"], totals[f"{prefix}_pred"], totals[f"{prefix}_gold"])

    names = {
        "relation": "rel",
        "relation_boundary": "relb",
        "event_trigger_id": "trigid",
        "event_trigger": "trig",
        "event_argument_id": "argid",
        "event_argument": "arg",
        "event_main_argument_id": "margid",
        "event_main_argument": "marg",
    }
    out: dict[str, Any] = {
        name: prf(prefix, events if name.startswith("event") else relations) for name, prefix in names.items()
    }
    for name in ("relation_f1_macro", "relation_boundary_f1_macro"):
        out[name] = macro[name] if relations else None
    out["relation_per_type"] = relation_per_type(totals, labels)
    return out
