"""Attribute metrics: span attributes (aspect-term polarity) and text-label attributes (category polarity).

As in aspect-based sentiment analysis (SemEval-2014 Task 4 and its
successors), an attribute is scored two ways: end to end, where an item counts
only with its attributes right, and on the items the system found, where only
the attribute is judged.

**Span attributes.** The level counts as annotated when at least one gold
example whose word level is annotated has a span with non-empty ``attrs``
(like relations, an empty ``attrs`` cannot say "not annotated"); it is then
scored on every example whose gold word level is annotated. The attribute keys
``K`` are the sorted union of the ``attrs`` keys of the gold spans of the
corpus, and a span's *attribute value* is the tuple of ``(k, attrs.get(k))``
for ``k`` in ``K``.

* **span attr P/R/F1** (end to end, "a term counts only with its polarity
  right"): per example, the multiset of predicted ``(start, end, label,
  attribute value)`` is matched against the gold multiset, summed over the
  corpus (micro average). A predicted span without attributes never matches a
  gold span that has them.
* **span attr accuracy**: gold spans with attributes are paired one to one
  with predicted spans of the same strict key ``(start, end, label)`` (a pair
  with the right attributes is preferred when a key repeats). Over those pairs,
  the share whose predicted ``attrs`` equal the gold ``attrs`` on the gold's
  keys. When the predictions carry the gold spans this is the literature's
  polarity accuracy on gold terms.
* **span attr macro F1**: over the same pairs, each attribute value is a class
  (rendered as a string: the bare value when ``K`` has one key, else
  ``k=v;k2=v2``, with ``None`` for a missing value); per-value F1 is averaged
  over the values that occur in gold or predictions of the pairs, as
  scikit-learn's ``f1_score(average="macro")`` does on the paired values.

**Text-label attributes.** The level counts as annotated when some gold
example with text labels has non-empty ``label_attrs`` for one of its labels;
it is then scored on every example whose gold text level is annotated. The keys
``K'`` come from the gold ``label_attrs``, and a label's attribute value is
built from ``label_attrs.get(label, {})`` as above. Labels count once per
example, as at the text level.

* **label attr F1** (end to end): multiset match over ``(label, attribute
  value)``.
* **label attr accuracy**: over the gold labels with attributes that are also
  predicted, the share whose predicted attributes equal the gold ones on the
  gold's keys (category polarity accuracy when the predictions carry the gold
  categories).

Ratios with a zero denominator are 0, as everywhere in :mod:`mrekit.metrics`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from mrekit.metrics._prf import PRF, multiset_match, prf_arrays, safe_div
from mrekit.metrics.match import Pair, match_predictions
from mrekit.schema import Example, Span

#: Count columns this module produces (per example) and reads (summed).
COLUMNS = (
    "sattr_n",
    "sattr_tp",
    "sattr_pred",
    "sattr_gold",
    "sattr_matched",
    "sattr_correct",
    "sattr_value_tp",
    "sattr_value_pred",
    "sattr_value_gold",
    "lattr_n",
    "lattr_tp",
    "lattr_pred",
    "lattr_gold",
    "lattr_matched",
    "lattr_correct",
)

#: Per-value blocks of shape ``(n, len(values))``; the other columns have shape ``(n,)``.
VALUE_COLUMNS = ("sattr_value_tp", "sattr_value_pred", "sattr_value_gold")

AttrValue = tuple[tuple[str, Hashable], ...]


def _freeze(value: Any) -> Hashable:
    # Attribute values come from JSON: lists and objects become tuples so they can be counted.
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    return value


def attr_value(attrs: Mapping[str, Any], keys: Sequence[str]) -> AttrValue:
    """The attribute value of an item: ``(k, attrs.get(k))`` for each key.

    Example:
        >>> attr_value({"polarity": "positive"}, ["polarity"])
        (('polarity', 'positive'),)
    """
    return tuple((k, _freeze(attrs.get(k))) for k in keys)


def render_value(value: AttrValue) -> str:
    """An attribute value as a class name: the bare value for one key, else ``k=v;k2=v2``.

    Example:
        >>> render_value((("polarity", "negative"),)), render_value((("a", 1), ("b", None)))
        ('negative', 'a=1;b=None')
    """
    if len(value) == 1:
        return str(value[0][1])
    return ";".join(f"{k}={v}" for k, v in value)


def _attrs_right(gold: Mapping[str, Any], pred: Mapping[str, Any]) -> bool:
    return all(pred.get(k) == v for k, v in gold.items())


def span_attr_keys(pairs: Sequence[Pair]) -> list[str]:
    """The keys ``K``: sorted union of the ``attrs`` keys of gold spans (empty when the level is absent).

    Example:
        >>> span_attr_keys([(Example("ab", spans=[Span(0, 1, "x", attrs={"polarity": "neutral"})]), Example("ab"))])
        ['polarity']
    """
    keys: set[str] = set()
    for gold, _ in pairs:
        if gold.has_word_level:
            keys.update(k for span in gold.spans or [] for k in span.attrs)
    return sorted(keys)


def _label_attrs(example: Example) -> dict[str, Mapping[str, Any]]:
    # Labels count once per example, in their first order.
    return {label: example.label_attrs.get(label) or {} for label in dict.fromkeys(example.labels)}


def label_attr_keys(pairs: Sequence[Pair]) -> list[str]:
    """The keys ``K'``: sorted union of the gold ``label_attrs`` keys of the gold labels.

    Example:
        >>> gold = Example("a", labels=["food"], label_attrs={"food": {"polarity": "positive"}})
        >>> label_attr_keys([(gold, Example("a"))])
        ['polarity']
    """
    keys: set[str] = set()
    for gold, _ in pairs:
        if gold.has_text_level:
            keys.update(k for attrs in _label_attrs(gold).values() for k in attrs)
    return sorted(keys)


def paired_spans(gold: Example, pred: Example) -> list[tuple[Span, Span]]:
    """Gold spans with attributes paired one to one with predicted spans of the same strict key.

    Among predictions of a repeated key, one with the right attributes is
    paired first; the rest pair in order. Unpaired spans are left out.

    Example:
        >>> g = Example("ab", spans=[Span(0, 1, "x", attrs={"p": "pos"}), Span(1, 2, "x", attrs={"p": "neg"})])
        >>> p = Example("ab", spans=[Span(0, 1, "x", attrs={"p": "neg"})])
        >>> [(a.attrs["p"], b.attrs["p"]) for a, b in paired_spans(g, p)]
        [('pos', 'neg')]
    """
    free: dict[tuple[int, int, str], list[Span]] = defaultdict(list)
    for span in pred.spans or []:
        free[span.key].append(span)
    wanted = [span for span in gold.spans or [] if span.attrs]
    chosen: list[Span | None] = [None] * len(wanted)
    for right_only in (True, False):
        for i, span in enumerate(wanted):
            if chosen[i] is not None:
                continue
            candidates = free[span.key]
            for j, candidate in enumerate(candidates):
                if not right_only or _attrs_right(span.attrs, candidate.attrs):
                    chosen[i] = candidates.pop(j)
                    break
    return [(g, p) for g, p in zip(wanted, chosen, strict=True) if p is not None]


def span_attr_values(pairs: Sequence[Pair]) -> list[str]:
    """Sorted rendered attribute values of the paired spans, gold and predicted (the macro-F1 classes).

    Example:
        >>> g = Example("ab", spans=[Span(0, 1, "x", attrs={"polarity": "positive"})])
        >>> span_attr_values([(g, Example("ab", spans=[Span(0, 1, "x")]))])
        ['None', 'positive']
    """
    keys = span_attr_keys(pairs)
    values: set[str] = set()
    if not keys:
        return []
    for gold, pred in pairs:
        if gold.has_word_level:
            for g, p in paired_spans(gold, pred):
                values.update(render_value(attr_value(s.attrs, keys)) for s in (g, p))
    return sorted(values)


def attr_counts(pairs: Sequence[Pair], values: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-example count columns of both attribute levels (zero rows where a level is not scored).

    Args:
        pairs: Matched ``(gold, prediction)`` pairs.
        values: The span attribute classes, from :func:`span_attr_values`.

    Returns:
        The :data:`COLUMNS`: those of :data:`VALUE_COLUMNS` have shape
        ``(n, len(values))``, the others ``(n,)``.

    Example:
        >>> g = Example("ab", spans=[Span(0, 1, "x", attrs={"polarity": "positive"})])
        >>> p = Example("ab", spans=[Span(0, 1, "x", attrs={"polarity": "negative"})])
        >>> counts = attr_counts([(g, p)], ["negative", "positive"])
        >>> counts["sattr_tp"].tolist(), counts["sattr_matched"].tolist(), counts["sattr_value_pred"].tolist()
        ([0.0], [1.0], [[1.0, 0.0]])
    """
    n, index = len(pairs), {value: j for j, value in enumerate(values)}
    out = {name: np.zeros((n, len(values)) if name in VALUE_COLUMNS else n) for name in COLUMNS}
    s_keys, l_keys = span_attr_keys(pairs), label_attr_keys(pairs)
    for i, (gold, pred) in enumerate(pairs):
        if s_keys and gold.has_word_level:
            _span_row(out, i, gold, pred, s_keys, index)
        if l_keys and gold.has_text_level:
            _label_row(out, i, gold, pred, l_keys)
    return out


def _span_row(
    out: dict[str, np.ndarray], i: int, gold: Example, pred: Example, keys: list[str], index: dict[str, int]
) -> None:
    out["sattr_n"][i] = 1

    def items(example: Example) -> list:
        return [(*span.key, attr_value(span.attrs, keys)) for span in example.spans or []]

    _fill(out, "sattr", i, items(gold), items(pred))
    for g, p in paired_spans(gold, pred):
        out["sattr_matched"][i] += 1
        out["sattr_correct"][i] += _attrs_right(g.attrs, p.attrs)
        g_value, p_value = (index[render_value(attr_value(s.attrs, keys))] for s in (g, p))
        out["sattr_value_gold"][i, g_value] += 1
        out["sattr_value_pred"][i, p_value] += 1
        out["sattr_value_tp"][i, g_value] += g_value == p_value


def _label_row(out: dict[str, np.ndarray], i: int, gold: Example, pred: Example, keys: list[str]) -> None:
    out["lattr_n"][i] = 1
    gold_attrs, pred_attrs = _label_attrs(gold), _label_attrs(pred)

    def items(attrs: dict[str, Mapping[str, Any]]) -> list:
        return [(label, attr_value(a, keys)) for label, a in attrs.items()]

    _fill(out, "lattr", i, items(gold_attrs), items(pred_attrs))
    for label, attrs in gold_attrs.items():
        if attrs and label in pred_attrs:
            out["lattr_matched"][i] += 1
            out["lattr_correct"][i] += _attrs_right(attrs, pred_attrs[label])


def _fill(out: dict[str, np.ndarray], prefix: str, i: int, gold: list, pred: list) -> None:
    matched, predicted, wanted = multiset_match(gold, pred)
    out[f"{prefix}_tp"][i] = matched.total()
    out[f"{prefix}_pred"][i] = predicted.total()
    out[f"{prefix}_gold"][i] = wanted.total()


def _macro_f1(tp: np.ndarray, n_pred: np.ndarray, n_gold: np.ndarray) -> np.ndarray:
    # Average over the values present in this (possibly resampled) corpus only, as text macro F1 does.
    _, _, f1 = prf_arrays(tp, n_pred, n_gold)
    present = (n_pred + n_gold) > 0
    return safe_div((f1 * present).sum(-1), present.sum(-1))


def attr_metrics(totals: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The attribute metrics from summed counts (leading axis: corpora).

    Example:
        >>> g = Example("ab", spans=[Span(0, 1, "x", attrs={"polarity": "positive"})])
        >>> p = Example("ab", spans=[Span(0, 1, "x", attrs={"polarity": "negative"})])
        >>> t = {k: v.sum(0, keepdims=True) for k, v in attr_counts([(g, p)], ["negative", "positive"]).items()}
        >>> m = attr_metrics(t)
        >>> m["span_attr_f1"].tolist(), m["span_attr_accuracy"].tolist(), m["span_attr_macro_f1"].tolist()
        ([0.0], [0.0], [0.0])
    """
    precision, recall, f1 = prf_arrays(totals["sattr_tp"], totals["sattr_pred"], totals["sattr_gold"])
    value = [totals[name] for name in VALUE_COLUMNS]
    return {
        "span_attr_precision": precision,
        "span_attr_recall": recall,
        "span_attr_f1": f1,
        "span_attr_accuracy": safe_div(totals["sattr_correct"], totals["sattr_matched"]),
        "span_attr_macro_f1": _macro_f1(*value),
        "label_attr_f1": prf_arrays(totals["lattr_tp"], totals["lattr_pred"], totals["lattr_gold"])[2],
        "label_attr_accuracy": safe_div(totals["lattr_correct"], totals["lattr_matched"]),
    }


def attr_per_value(totals: dict[str, np.ndarray], values: Sequence[str]) -> dict[str, PRF]:
    """Per-value :class:`PRF` of the paired spans from counts summed over one corpus (no leading axis).

    Example:
        >>> t = {"sattr_value_tp": np.array([1.0]), "sattr_value_pred": np.array([2.0]),
        ...      "sattr_value_gold": np.array([1.0])}
        >>> attr_per_value(t, ["positive"])["positive"].precision
        0.5
    """
    tp, n_pred, n_gold = (totals[name] for name in VALUE_COLUMNS)
    return {value: PRF.from_counts(tp[j], n_pred[j], n_gold[j]) for j, value in enumerate(values)}


def attribute_scores(gold: Sequence[Example], pred: Sequence[Example]) -> dict[str, Any]:
    """Span and text-label attribute scores of a corpus.

    Args:
        gold: Reference examples.
        pred: Predictions, matched with :func:`match_predictions`.

    Returns:
        ``span`` (end-to-end :class:`PRF`), ``span_accuracy``,
        ``span_macro_f1``, ``per_value`` (attribute class -> :class:`PRF` over
        the paired spans), ``label`` (end-to-end :class:`PRF`) and
        ``label_accuracy``; each score is ``None`` when the gold annotates no
        attribute at its level.

    Example:
        >>> g = [Example("good pizza", spans=[Span(5, 10, "aspect", attrs={"polarity": "positive"})])]
        >>> p = [Example("good pizza", spans=[Span(5, 10, "aspect", attrs={"polarity": "negative"})])]
        >>> s = attribute_scores(g, p)
        >>> s["span"].f1, s["span_accuracy"], s["label"]
        (0.0, 0.0, None)
    """
    pairs = match_predictions(gold, pred)
    values = span_attr_values(pairs)
    totals = {k: v.sum(0) for k, v in attr_counts(pairs, values).items()}
    metrics = {k: v.item() for k, v in attr_metrics({k: v[None] for k, v in totals.items()}).items()}
    spans, labels = bool(totals["sattr_n"]), bool(totals["lattr_n"])
    return {
        "span": PRF.from_counts(totals["sattr_tp"], totals["sattr_pred"], totals["sattr_gold"]) if spans else None,
        "span_accuracy": metrics["span_attr_accuracy"] if spans else None,
        "span_macro_f1": metrics["span_attr_macro_f1"] if spans else None,
        "per_value": attr_per_value(totals, values),
        "label": PRF.from_counts(totals["lattr_tp"], totals["lattr_pred"], totals["lattr_gold"]) if labels else None,
        "label_accuracy": metrics["label_attr_accuracy"] if labels else None,
    }
