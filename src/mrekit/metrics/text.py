"""Text-level metrics: exact label-set accuracy, micro and macro F1, per label.

Labels are compared as sets (a label repeated in one example counts once), so
single- and multi-label data share one definition:

* **accuracy**: an example is correct when its predicted label set equals its
  gold label set;
* **per label**: binary counts per example (``tp`` when the label is in both
  sets, ``n_pred`` when predicted, ``n_gold`` when gold);
* **micro F1**: P/R/F1 of the per-label counts summed over labels;
* **macro F1**: the unweighted mean of per-label F1 over the labels that occur
  in gold *or* in the predictions of the scored examples. A label only ever
  predicted therefore adds an F1 of 0. On single-label data this is
  scikit-learn's ``f1_score(y_true, y_pred, average="macro")`` (whose default
  labels are the union of both).

Examples whose gold has no text labels are skipped (their text level is not
annotated), whatever the prediction says.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mrekit.metrics._prf import PRF, prf_arrays, safe_div
from mrekit.metrics.match import Pair, match_predictions
from mrekit.schema import Example

#: Count columns this module produces (per example) and reads (summed).
COLUMNS = ("text_n", "text_correct", "text_tp", "text_pred", "text_gold")


def text_labels(pairs: Sequence[Pair]) -> list[str]:
    """Sorted union of gold and predicted labels over the examples scored at the text level.

    Example:
        >>> text_labels([(Example("a", labels=["x"]), Example("a", labels=["y"]))])
        ['x', 'y']
    """
    labels: set[str] = set()
    for gold, pred in pairs:
        if gold.has_text_level:
            labels.update(gold.labels)
            labels.update(pred.labels)
    return sorted(labels)


def text_counts(pairs: Sequence[Pair], labels: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-example count columns for the text level (zero rows for skipped examples).

    Returns:
        ``text_n`` and ``text_correct`` of shape ``(n,)``; ``text_tp``,
        ``text_pred`` and ``text_gold`` of shape ``(n, len(labels))``.

    Example:
        >>> pair = (Example("a", labels=["x"]), Example("a", labels=["x", "y"]))
        >>> text_counts([pair], ["x", "y"])["text_pred"].tolist()
        [[1.0, 1.0]]
    """
    n, index = len(pairs), {label: j for j, label in enumerate(labels)}
    out = {"text_n": np.zeros(n), "text_correct": np.zeros(n)}
    for name in ("text_tp", "text_pred", "text_gold"):
        out[name] = np.zeros((n, len(labels)))
    for i, (gold, pred) in enumerate(pairs):
        if not gold.has_text_level:
            continue
        gold_set, pred_set = set(gold.labels), set(pred.labels)
        out["text_n"][i] = 1
        out["text_correct"][i] = gold_set == pred_set
        out["text_gold"][i, [index[x] for x in gold_set]] = 1
        out["text_pred"][i, [index[x] for x in pred_set]] = 1
        out["text_tp"][i, [index[x] for x in gold_set & pred_set]] = 1
    return out


def text_metrics(totals: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Accuracy, micro F1 and macro F1 from summed counts (leading axis: corpora).

    Example:
        >>> pair = (Example("a", labels=["x"]), Example("a", labels=["y"]))
        >>> t = {k: v.sum(0, keepdims=True) for k, v in text_counts([pair], ["x", "y"]).items()}
        >>> {k: v.tolist() for k, v in text_metrics(t).items()}
        {'text_accuracy': [0.0], 'text_micro_f1': [0.0], 'text_macro_f1': [0.0]}
    """
    tp, n_pred, n_gold = totals["text_tp"], totals["text_pred"], totals["text_gold"]
    _, _, micro_f1 = prf_arrays(tp.sum(-1), n_pred.sum(-1), n_gold.sum(-1))
    return {
        "text_accuracy": safe_div(totals["text_correct"], totals["text_n"]),
        "text_micro_f1": micro_f1,
        "text_macro_f1": _macro_f1(tp, n_pred, n_gold),
    }


def _macro_f1(tp: np.ndarray, n_pred: np.ndarray, n_gold: np.ndarray) -> np.ndarray:
    # A resampled corpus may lack some labels entirely; like scikit-learn on
    # that corpus, average only over the labels it contains.
    _, _, f1 = prf_arrays(tp, n_pred, n_gold)
    present = (n_pred + n_gold) > 0
    return safe_div((f1 * present).sum(-1), present.sum(-1))


def text_scores(gold: Sequence[Example], pred: Sequence[Example]) -> dict[str, Any]:
    """Text-level scores of a corpus.

    Args:
        gold: Reference examples.
        pred: Predictions, matched with :func:`match_predictions`.

    Returns:
        ``accuracy``, ``micro`` (a :class:`PRF`), ``macro_f1``, ``per_label``
        (label -> :class:`PRF`) and ``n`` (examples scored); the three scores
        are ``None`` when no gold example has text labels.

    Example:
        >>> g = [Example("a", labels=["x"]), Example("b", labels=["y"])]
        >>> p = [Example("a", labels=["x"]), Example("b", labels=["x"])]
        >>> text_scores(g, p)["accuracy"]
        0.5
    """
    pairs = match_predictions(gold, pred)
    labels = text_labels(pairs)
    totals = {k: v.sum(0) for k, v in text_counts(pairs, labels).items()}
    n = int(totals["text_n"])
    scores = {k: v.item() for k, v in text_metrics({k: v[None] for k, v in totals.items()}).items()}
    micro = PRF.from_counts(totals["text_tp"].sum(), totals["text_pred"].sum(), totals["text_gold"].sum())
    return {
        "accuracy": scores["text_accuracy"] if n else None,
        "micro": micro if n else None,
        "macro_f1": scores["text_macro_f1"] if n else None,
        "per_label": text_per_label(totals, labels),
        "n": n,
    }


def text_per_label(totals: dict[str, np.ndarray], labels: Sequence[str]) -> dict[str, PRF]:
    """Per-label :class:`PRF` from counts summed over one corpus (no leading axis).

    Example:
        >>> t = {"text_tp": np.array([1.0]), "text_pred": np.array([2.0]), "text_gold": np.array([1.0])}
        >>> text_per_label(t, ["x"])["x"].precision
        0.5
    """
    return {
        label: PRF.from_counts(totals["text_tp"][j], totals["text_pred"][j], totals["text_gold"][j])
        for j, label in enumerate(labels)
    }
