"""One call that scores a prediction set at every level the gold annotates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mrekit.metrics.bootstrap import table_ci
from mrekit.metrics.match import match_predictions
from mrekit.metrics.table import build_table, per_label, point_metrics
from mrekit.schema import Example


def evaluate(
    gold: Sequence[Example], pred: Sequence[Example], *, bootstrap: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Score predictions against gold at the text, word, joint, relation, event and attribute levels.

    Args:
        gold: Reference examples.
        pred: Predictions, paired with gold by :func:`match_predictions`.
        bootstrap: Number of bootstrap resamples for the 95% intervals; 0 skips them.
        seed: Seed of the bootstrap's ``numpy.random.Generator``.

    Returns:
        A flat dict with the metrics ``text_accuracy``, ``text_micro_f1``,
        ``text_macro_f1``, ``span_precision``, ``span_recall``, ``span_f1``,
        ``pair_precision``, ``pair_recall``, ``pair_f1``,
        ``span_attr_precision``, ``span_attr_recall``, ``span_attr_f1``,
        ``span_attr_accuracy``, ``span_attr_macro_f1``, ``label_attr_f1``,
        ``label_attr_accuracy`` (see :mod:`mrekit.metrics.attributes`),
        ``frame_accuracy`` (everything the gold annotates right at once, see
        :mod:`mrekit.metrics.joint`), the relation metrics ``relation_f1``
        (strict micro), ``relation_boundary_f1``, ``relation_f1_macro`` and
        ``relation_boundary_f1_macro`` (SpERT's; its entity F1 is
        ``span_f1``), and the event metrics ``event_trigger_id_f1``,
        ``event_trigger_f1``, ``event_argument_id_f1``, ``event_argument_f1``,
        ``event_main_argument_id_f1`` and ``event_main_argument_f1`` (PHEE's;
        see :mod:`mrekit.metrics.structure`), in the order of
        :data:`~mrekit.metrics.METRIC_KEYS`, each a fraction in [0, 1], or
        ``None`` when the gold does not annotate its level; ``n_examples``;
        ``per_label`` (``{"text": {label: {precision, recall, f1, support}},
        "spans": {...}, "span_attrs": {...}}``, the last per span attribute
        class, plus ``"relations"`` per relation type when the gold annotates
        relations); and, when ``bootstrap > 0``, ``ci`` (metric -> ``[low,
        high]`` for every metric that is not ``None``).

    Raises:
        MrekitError: ``E160`` when gold and predictions do not match.

    Example:
        >>> g = [Example("hi", labels=["greet"], spans=[])]
        >>> scores = evaluate(g, g, bootstrap=0)
        >>> scores["text_accuracy"], scores["frame_accuracy"], scores["relation_f1"]
        (1.0, 1.0, None)
    """
    table = build_table(match_predictions(gold, pred))
    result: dict[str, Any] = dict(point_metrics(table))
    result["n_examples"] = table.n_examples
    result["per_label"] = per_label(table)
    if bootstrap > 0:
        result["ci"] = table_ci(table, n_resamples=bootstrap, seed=seed)
    return result
