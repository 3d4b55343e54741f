"""What the model got wrong: one record per wrong example, and a confusion matrix of text labels.

A record (:func:`example_errors`) holds, per level that the gold example annotates,
the gold and predicted values and the difference: text labels ``missed`` (gold, not
predicted) and ``extra`` (predicted, not gold); spans ``missed`` and ``extra`` by
strict match (offsets and label), each with its surface string.

The confusion matrix (:func:`text_confusion`) has gold labels as rows and predicted
labels as columns. Labels both gold and predicted count on the diagonal; when one
gold label was missed and one other label predicted instead, that pair counts as a
confusion; any other missed label counts in the column ``(none)`` and any other
extra label in the row ``(none)`` (a multi-label example can have several of each).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from mrekit.schema import Example, Span

#: The row / column of the confusion matrix for "no label".
NONE = "(none)"


def _span_row(example: Example, span: Span) -> dict[str, Any]:
    return {"start": span.start, "end": span.end, "label": span.label, "text": example.surface(span)}


def example_errors(gold: Example, pred: Example) -> dict[str, Any] | None:
    """The differences between a gold example and its prediction (``None`` when all is right).

    Example:
        >>> from mrekit.schema import Span
        >>> gold = Example("play muse", id="1", labels=["PlayMusic"], spans=[Span(5, 9, "artist")])
        >>> pred = Example("play muse", id="1", labels=["PlayMusic"], spans=[Span(5, 9, "album")])
        >>> record = example_errors(gold, pred)
        >>> record["spans"]["extra"]
        [{'start': 5, 'end': 9, 'label': 'album', 'text': 'muse'}]
        >>> example_errors(gold, gold) is None
        True
    """
    record: dict[str, Any] = {"id": gold.id, "text": gold.text}
    wrong = False
    if gold.labels:
        missed = [label for label in gold.labels if label not in pred.labels]
        extra = [label for label in pred.labels if label not in gold.labels]
        record["labels"] = {"gold": list(gold.labels), "pred": list(pred.labels), "missed": missed, "extra": extra}
        wrong |= bool(missed or extra)
    if gold.spans is not None:
        truth = {(s.start, s.end, s.label) for s in gold.spans}
        found = {(s.start, s.end, s.label) for s in pred.spans or []}
        missed_spans = [_span_row(gold, s) for s in gold.spans if (s.start, s.end, s.label) not in found]
        extra_spans = [_span_row(pred, s) for s in pred.spans or [] if (s.start, s.end, s.label) not in truth]
        record["spans"] = {"missed": missed_spans, "extra": extra_spans}
        wrong |= bool(missed_spans or extra_spans)
    return record if wrong else None


def error_records(pairs: Iterable[tuple[Example, Example]]) -> Iterator[dict[str, Any]]:
    """:func:`example_errors` of every wrong pair, in order.

    Example:
        >>> ok = Example("a", labels=["x"])
        >>> [r["labels"]["pred"] for r in error_records([(ok, ok), (ok, Example("a", labels=["y"]))])]
        [['y']]
    """
    for gold, pred in pairs:
        record = example_errors(gold, pred)
        if record is not None:
            yield record


def text_confusion(pairs: Iterable[tuple[Example, Example]]) -> dict[str, Any]:
    """``{"labels": [...], "matrix": [[...]]}``: rows gold, columns predicted (see the module).

    Only examples with gold text labels count. ``(none)`` is added last when used.

    Example:
        >>> pairs = [(Example("a", labels=["x"]), Example("a", labels=["y"])),
        ...          (Example("b", labels=["x"]), Example("b", labels=["x"]))]
        >>> text_confusion(pairs)
        {'labels': ['x', 'y'], 'matrix': [[1, 1], [0, 0]]}
    """
    counts: dict[tuple[str, str], int] = {}
    labels: set[str] = set()
    for gold, pred in pairs:
        if not gold.labels:
            continue
        for key in _confusions(gold.labels, pred.labels):
            counts[key] = counts.get(key, 0) + 1
            labels.update(key)
    names = sorted(labels - {NONE}) + ([NONE] if NONE in labels else [])
    matrix = [[counts.get((g, p), 0) for p in names] for g in names]
    return {"labels": names, "matrix": matrix}


def _confusions(gold: list[str], pred: list[str]) -> list[tuple[str, str]]:
    keys = [(label, label) for label in gold if label in pred]
    missed = [label for label in gold if label not in pred]
    extra = [label for label in pred if label not in gold]
    if len(missed) == 1 and len(extra) == 1:
        return keys + [(missed[0], extra[0])]
    return keys + [(label, NONE) for label in missed] + [(NONE, label) for label in extra]
