"""Per-example count table: the one input of every corpus metric.

Each corpus metric is a function of counts summed over examples (true
positives, predictions, gold items, correct flags). Building those counts once
per example lets the point estimate and each bootstrap resample share the same
formulas: a resample is just a different weighting of the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mrekit.metrics.attributes import attr_counts, attr_metrics, attr_per_value, span_attr_values
from mrekit.metrics.joint import frame_counts, frame_metrics
from mrekit.metrics.match import Pair
from mrekit.metrics.spans import span_counts, span_labels, span_metrics, span_per_label
from mrekit.metrics.structure import relation_labels, relation_per_type, structure_counts, structure_metrics
from mrekit.metrics.text import text_counts, text_labels, text_metrics, text_per_label

#: Each corpus metric and the count column saying how many examples it scores.
#: A metric is undefined (``None``, or NaN in a resample) when that count is 0.
#: Definitions: :mod:`mrekit.metrics.text`, :mod:`~mrekit.metrics.spans` (``span_f1`` is also
#: SpERT's entity F1), :mod:`~mrekit.metrics.attributes`, :mod:`~mrekit.metrics.joint` and
#: :mod:`~mrekit.metrics.structure` (relations as SpERT scores them, events as PHEE does).
METRIC_LEVELS: dict[str, str] = {
    "text_accuracy": "text_n",
    "text_micro_f1": "text_n",
    "text_macro_f1": "text_n",
    "span_precision": "span_n",
    "span_recall": "span_n",
    "span_f1": "span_n",
    "pair_precision": "span_n",
    "pair_recall": "span_n",
    "pair_f1": "span_n",
    "span_attr_precision": "sattr_n",
    "span_attr_recall": "sattr_n",
    "span_attr_f1": "sattr_n",
    "span_attr_accuracy": "sattr_n",
    "span_attr_macro_f1": "sattr_n",
    "label_attr_f1": "lattr_n",
    "label_attr_accuracy": "lattr_n",
    "frame_accuracy": "frame_n",
    "relation_f1": "rel_n",
    "relation_boundary_f1": "rel_n",
    "relation_f1_macro": "rel_n",
    "relation_boundary_f1_macro": "rel_n",
    "event_trigger_id_f1": "event_n",
    "event_trigger_f1": "event_n",
    "event_argument_id_f1": "event_n",
    "event_argument_f1": "event_n",
    "event_main_argument_id_f1": "event_n",
    "event_main_argument_f1": "event_n",
}

#: The corpus metrics, in report order.
METRIC_KEYS: tuple[str, ...] = tuple(METRIC_LEVELS)

# Per-span-label blocks only feed sums in span_metrics, so resampling can use their row sums.
_SUMMABLE = ("span_tp", "span_pred", "span_gold")


@dataclass(frozen=True)
class CountTable:
    """Per-example counts of one prediction set against gold.

    Attributes:
        counts: Column name -> array whose first axis is the example.
        text_labels: The labels of the ``text_*`` per-label blocks.
        span_labels: The labels of the ``span_*`` per-label blocks.
        attr_values: The span attribute classes of the ``sattr_value_*`` per-value blocks.
        relation_labels: The relation types of the ``rel_type_*`` and ``relb_type_*`` per-type blocks.
    """

    counts: dict[str, np.ndarray]
    text_labels: list[str]
    span_labels: list[str]
    attr_values: list[str] = field(default_factory=list)
    relation_labels: list[str] = field(default_factory=list)

    @property
    def n_examples(self) -> int:
        """The number of example rows."""
        return len(self.counts["text_n"])

    def totals(self) -> dict[str, np.ndarray]:
        """Counts summed over all examples, with a leading corpus axis of length 1."""
        return {name: col.sum(0, keepdims=True) for name, col in self.counts.items()}

    def compact(self) -> dict[str, np.ndarray]:
        """Counts with blocks that are only ever summed reduced to one column (for resampling)."""
        return {name: col.sum(1, keepdims=True) if name in _SUMMABLE else col for name, col in self.counts.items()}


def build_table(pairs: Sequence[Pair]) -> CountTable:
    """Count every level of every matched pair.

    Example:
        >>> from mrekit.schema import Example
        >>> build_table([(Example("a", labels=["x"]), Example("a", labels=["x"]))]).counts["text_correct"]
        array([1.])
    """
    t_labels, s_labels, a_values = text_labels(pairs), span_labels(pairs), span_attr_values(pairs)
    r_labels = relation_labels(pairs)
    counts = {
        **text_counts(pairs, t_labels),
        **span_counts(pairs, s_labels),
        **frame_counts(pairs),
        **structure_counts(pairs, r_labels),
        **attr_counts(pairs, a_values),
    }
    return CountTable(
        counts=counts, text_labels=t_labels, span_labels=s_labels, attr_values=a_values, relation_labels=r_labels
    )


def corpus_metrics(totals: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every corpus metric from summed counts; NaN where the metric's level scores no example.

    Args:
        totals: Column name -> summed counts with a leading axis over corpora
            (1 for the point estimate, the number of resamples for the bootstrap).

    Returns:
        Metric name (see :data:`METRIC_KEYS`) -> array over corpora.

    Example:
        >>> from mrekit.schema import Example
        >>> table = build_table([(Example("a", labels=["x"]), Example("a", labels=["y"]))])
        >>> corpus_metrics(table.totals())["text_accuracy"], corpus_metrics(table.totals())["span_f1"]
        (array([0.]), array([nan]))
    """
    values = {
        **text_metrics(totals),
        **span_metrics(totals),
        **frame_metrics(totals),
        **structure_metrics(totals),
        **attr_metrics(totals),
    }
    return {name: np.where(totals[level] > 0, values[name], np.nan) for name, level in METRIC_LEVELS.items()}


def point_metrics(table: CountTable) -> dict[str, float | None]:
    """The corpus metrics of the whole table as floats, ``None`` for a level absent in gold.

    Example:
        >>> from mrekit.schema import Example
        >>> point_metrics(build_table([(Example("a", labels=["x"]), Example("a", labels=["x"]))]))["text_accuracy"]
        1.0
    """
    return {name: _scalar(value[0]) for name, value in corpus_metrics(table.totals()).items()}


def per_label(table: CountTable) -> dict[str, dict[str, dict[str, Any]]]:
    """``{"text": {label: {precision, recall, f1, support}}, "spans": {...}, "span_attrs": {...}}`` over the table.

    ``span_attrs`` holds one entry per span attribute class, scored on the
    paired spans (see :mod:`mrekit.metrics.attributes`); it is empty when the
    gold has no span attributes. ``relations`` (only when the gold annotates
    relations) holds one entry per relation type, strict identity (the
    per-type rows SpERT prints; their F1 averaged is ``relation_f1_macro``).

    Example:
        >>> from mrekit.schema import Example
        >>> per_label(build_table([(Example("a", labels=["x"]), Example("a", labels=["x"]))]))["text"]["x"]["f1"]
        1.0
    """
    totals = {name: col.sum(0) for name, col in table.counts.items()}
    out = {
        "text": {k: v.as_dict() for k, v in text_per_label(totals, table.text_labels).items()},
        "spans": {k: v.as_dict() for k, v in span_per_label(totals, table.span_labels).items()},
        "span_attrs": {k: v.as_dict() for k, v in attr_per_value(totals, table.attr_values).items()},
    }
    if table.relation_labels:
        out["relations"] = {k: v.as_dict() for k, v in relation_per_type(totals, table.relation_labels).items()}
    return out


def _scalar(value: np.floating) -> float | None:
    return None if np.isnan(value) else float(value)
