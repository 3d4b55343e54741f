"""Data set statistics, including the raw MRE signal: how much the word-level
labels of a text tell about its text-level label.

The co-occurrence table counts, over the examples annotated at both levels,
each (text label, span label) pair once per span. Mutual information is
computed on that joint distribution::

    I(T; S) = sum_{t,s} p(t,s) log2( p(t,s) / (p(t) p(s)) )

and normalised as ``NMI = 2 I / (H(T) + H(S))`` (0: the levels are
independent; 1: each determines the other). *Purity* is the share of span
occurrences whose span label is seen most often with the text label of their
text: how well a majority vote over span labels would guess the text label.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mrekit.schema import Example, Span  # noqa: F401  (Span is used in doctests)


@dataclass
class DatasetStats:
    """Counts, distributions and the level co-occurrence of a data set."""

    n_examples: int = 0
    n_text_annotated: int = 0
    n_word_annotated: int = 0
    n_both_annotated: int = 0
    n_spans: int = 0
    text_labels: Counter = field(default_factory=Counter)
    span_labels: Counter = field(default_factory=Counter)
    text_lengths: list[int] = field(default_factory=list, repr=False)
    cooccurrence: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    def length_summary(self) -> dict[str, float]:
        """Min / mean / median / max text length in characters."""
        if not self.text_lengths:
            return {"min": 0, "mean": 0.0, "median": 0.0, "max": 0}
        return {
            "min": min(self.text_lengths),
            "mean": statistics.fmean(self.text_lengths),
            "median": float(statistics.median(self.text_lengths)),
            "max": max(self.text_lengths),
        }

    def table(self) -> tuple[list[str], list[str], np.ndarray]:
        """The co-occurrence table as (text labels, span labels, counts matrix)."""
        rows = sorted(self.cooccurrence)
        cols = sorted({s for counts in self.cooccurrence.values() for s in counts})
        matrix = np.array([[self.cooccurrence[t][s] for s in cols] for t in rows], dtype=float)
        return rows, cols, matrix.reshape(len(rows), len(cols))

    def mutual_information(self) -> dict[str, float]:
        """``mi`` and entropies in bits, ``nmi`` and ``purity`` of the co-occurrence table.

        Example:
            >>> s = compute([Example("a b", labels=["x"], spans=[Span(0, 1, "p")]),
            ...              Example("c d", labels=["y"], spans=[Span(0, 1, "q")])])
            >>> s.mutual_information()["mi"], s.mutual_information()["nmi"]
            (1.0, 1.0)
        """
        _, _, counts = self.table()
        total = counts.sum()
        if total == 0:
            return {"mi": 0.0, "h_text": 0.0, "h_span": 0.0, "nmi": 0.0, "purity": 0.0}
        joint = counts / total
        p_text, p_span = joint.sum(axis=1), joint.sum(axis=0)
        nz = joint > 0
        mi = float((joint[nz] * np.log2(joint[nz] / np.outer(p_text, p_span)[nz])).sum())
        h_text, h_span = _entropy(p_text), _entropy(p_span)
        nmi = 2 * mi / (h_text + h_span) if h_text + h_span > 0 else 0.0
        purity = float(counts.max(axis=0).sum() / total)
        return {"mi": _clean(mi), "h_text": h_text, "h_span": h_span, "nmi": _clean(nmi), "purity": purity}

    def top_pairs(self, k: int = 10) -> list[dict[str, Any]]:
        """The ``k`` most frequent (text label, span label) pairs with their PMI in bits."""
        rows, cols, counts = self.table()
        total = counts.sum()
        if total == 0:
            return []
        p_text, p_span = counts.sum(axis=1) / total, counts.sum(axis=0) / total
        pairs = [(counts[i, j], i, j) for i in range(len(rows)) for j in range(len(cols)) if counts[i, j] > 0]
        pairs.sort(key=lambda p: (-p[0], rows[p[1]], cols[p[2]]))
        return [
            {
                "text_label": rows[i],
                "span_label": cols[j],
                "count": int(c),
                "pmi": _clean(math.log2((c / total) / (p_text[i] * p_span[j]))),
            }
            for c, i, j in pairs[:k]
        ]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "n_examples": self.n_examples,
            "n_text_annotated": self.n_text_annotated,
            "n_word_annotated": self.n_word_annotated,
            "n_both_annotated": self.n_both_annotated,
            "n_spans": self.n_spans,
            "text_labels": dict(self.text_labels.most_common()),
            "span_labels": dict(self.span_labels.most_common()),
            "text_length": self.length_summary(),
            "spans_per_example": self.n_spans / self.n_word_annotated if self.n_word_annotated else 0.0,
            "cooccurrence": {t: dict(c) for t, c in sorted(self.cooccurrence.items())},
            "mutual_information": self.mutual_information(),
            "top_pairs": self.top_pairs(),
        }


def compute(examples: Iterable[Example]) -> DatasetStats:
    """Compute the statistics of a stream of examples in one pass.

    Example:
        >>> stats = compute([Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")])])
        >>> stats.cooccurrence["PlayMusic"]["artist"]
        1
    """
    stats = DatasetStats()
    for example in examples:
        stats.n_examples += 1
        stats.text_lengths.append(len(example.text))
        stats.text_labels.update(example.labels)
        if example.has_text_level:
            stats.n_text_annotated += 1
        if example.has_word_level:
            stats.n_word_annotated += 1
            stats.n_spans += len(example.spans)
            stats.span_labels.update(s.label for s in example.spans)
        if example.has_text_level and example.has_word_level:
            stats.n_both_annotated += 1
            for label in example.labels:
                stats.cooccurrence[label].update(s.label for s in example.spans)
    return stats


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return _clean(float(-(p * np.log2(p)).sum()))


def _clean(value: float) -> float:
    # Rounding noise would print as -0.0 or 0.9999999999999998 for exact cases.
    return round(value, 12) + 0.0
