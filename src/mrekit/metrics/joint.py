"""Joint metric: frame accuracy (the ATIS/SNIPS "overall" or "ALL" accuracy), extended to everything in the text.

An example is a correct frame when everything the gold corpus annotates is
right at once:

* its predicted label set equals the gold label set;
* its predicted spans equal the gold spans exactly, compared as multisets of
  ``(start, end, label)`` (the identity of the strict span metric);
* when the corpus annotates span attributes (the rule of
  :mod:`mrekit.metrics.attributes`: some gold span has non-empty ``attrs``),
  the spans also carry the right attributes: the multisets of ``(start, end,
  label, attribute value)`` are equal, the end-to-end span attribute identity
  over the corpus's attribute keys;
* when the corpus annotates text-label attributes, every label carries the
  right attributes (``(label, attribute value)`` as in the label attribute
  metric);
* when the corpus annotates relations (the rule of
  :mod:`mrekit.metrics.structure`: some gold example has a relation), the
  multisets of strict relation identities ``(head span key, tail span key,
  type)`` are equal;
* when the corpus annotates events, the multisets of whole events are equal:
  an event is its trigger span key, its type and the multiset of its ``(role,
  argument span key)``, so every argument must hang on the right event.

Only examples whose gold annotates both the text and the word level are
scored. On a corpus without attributes, relations or events this is the
classic frame accuracy: labels and spans.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mrekit.metrics._prf import safe_div
from mrekit.metrics.attributes import attr_value, label_attr_keys, span_attr_keys
from mrekit.metrics.match import Pair, match_predictions
from mrekit.metrics.spans import span_keys
from mrekit.metrics.structure import annotates_events, annotates_relations, event_keys, relation_keys
from mrekit.schema import Example

#: Count columns this module produces (per example) and reads (summed).
COLUMNS = ("frame_n", "frame_correct")


@dataclass(frozen=True)
class FrameLevels:
    """The levels beyond labels and spans that a frame must get right (what the gold corpus annotates).

    Attributes:
        span_attr_keys: The span attribute keys compared (none: span attributes are not part of the frame).
        label_attr_keys: The text-label attribute keys compared (none: label attributes are not).
        relations: Whether relations are part of the frame.
        events: Whether events are part of the frame.
    """

    span_attr_keys: tuple[str, ...] = ()
    label_attr_keys: tuple[str, ...] = ()
    relations: bool = False
    events: bool = False


def frame_levels(pairs: Sequence[Pair]) -> FrameLevels:
    """The levels a frame includes on this corpus, by the rules of the level metrics.

    Example:
        >>> from mrekit.schema import Span
        >>> gold = Example("ab", labels=["x"], spans=[Span(0, 1, "s", attrs={"polarity": "positive"})])
        >>> frame_levels([(gold, gold)])
        FrameLevels(span_attr_keys=('polarity',), label_attr_keys=(), relations=False, events=False)
    """
    return FrameLevels(
        span_attr_keys=tuple(span_attr_keys(pairs)),
        label_attr_keys=tuple(label_attr_keys(pairs)),
        relations=annotates_relations(pairs),
        events=annotates_events(pairs),
    )


def is_frame_correct(gold: Example, pred: Example, levels: FrameLevels | None = None) -> bool:
    """Whether ``pred`` equals ``gold`` on labels (as a set), spans (as a multiset) and the extra ``levels``.

    Args:
        gold: The reference example.
        pred: Its prediction.
        levels: The levels beyond labels and spans to compare (see :func:`frame_levels`);
            ``None`` compares labels and spans only.

    Example:
        >>> from mrekit.schema import Relation, Span
        >>> g = Example("ab", labels=["x"], spans=[Span(0, 1, "s")])
        >>> is_frame_correct(g, Example("ab", labels=["x"], spans=[]))
        False
        >>> spans = [Span(0, 1, "s"), Span(1, 2, "s")]
        >>> g = Example("ab", labels=["x"], spans=spans, relations=[Relation(0, 1, "r")])
        >>> p = Example("ab", labels=["x"], spans=spans, relations=[Relation(1, 0, "r")])
        >>> is_frame_correct(g, p), is_frame_correct(g, p, FrameLevels(relations=True))
        (True, False)
    """
    levels = levels or FrameLevels()
    if set(gold.labels) != set(pred.labels) or Counter(span_keys(gold)) != Counter(span_keys(pred)):
        return False
    if levels.span_attr_keys and Counter(_attributed_spans(gold, levels)) != Counter(_attributed_spans(pred, levels)):
        return False
    if levels.label_attr_keys and any(
        attr_value(gold.label_attrs.get(label) or {}, levels.label_attr_keys)
        != attr_value(pred.label_attrs.get(label) or {}, levels.label_attr_keys)
        for label in set(gold.labels)
    ):
        return False
    if levels.relations and Counter(relation_keys(gold)) != Counter(relation_keys(pred)):
        return False
    return not levels.events or Counter(event_keys(gold)) == Counter(event_keys(pred))


def _attributed_spans(example: Example, levels: FrameLevels) -> list[tuple]:
    return [(*span.key, attr_value(span.attrs, levels.span_attr_keys)) for span in example.spans or []]


def frame_counts(pairs: Sequence[Pair]) -> dict[str, np.ndarray]:
    """Per-example ``frame_n`` (scored or not) and ``frame_correct`` columns.

    Example:
        >>> frame_counts([(Example("a", labels=["x"], spans=[]), Example("a", labels=["x"]))])["frame_correct"]
        array([1.])
    """
    n, levels = len(pairs), frame_levels(pairs)
    out = {"frame_n": np.zeros(n), "frame_correct": np.zeros(n)}
    for i, (gold, pred) in enumerate(pairs):
        if gold.has_text_level and gold.has_word_level:
            out["frame_n"][i] = 1
            out["frame_correct"][i] = is_frame_correct(gold, pred, levels)
    return out


def frame_metrics(totals: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Frame accuracy from summed counts (leading axis: corpora).

    Example:
        >>> frame_metrics({"frame_n": np.array([4.0]), "frame_correct": np.array([3.0])})["frame_accuracy"]
        array([0.75])
    """
    return {"frame_accuracy": safe_div(totals["frame_correct"], totals["frame_n"])}


def frame_accuracy(gold: Sequence[Example], pred: Sequence[Example]) -> float | None:
    """Share of fully annotated gold examples whose prediction gets everything the corpus annotates right.

    Returns:
        The accuracy, or ``None`` when no gold example annotates both the text and the word level.

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
