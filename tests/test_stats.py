from __future__ import annotations

import math

import pytest

from mrekit import Example, Span
from mrekit.stats import compute


def corpus() -> list[Example]:
    return [
        Example("a b", labels=["x"], spans=[Span(0, 1, "p")]),
        Example("a b", labels=["x"], spans=[Span(0, 1, "p")]),
        Example("a b", labels=["y"], spans=[Span(0, 1, "q")]),
        Example("a b", labels=["y"], spans=[Span(2, 3, "p")]),
        Example("only text", labels=["y"]),  # text level only: not in the co-occurrence
        Example("ab", spans=[]),  # word level only
    ]


def test_counts_and_lengths():
    stats = compute(corpus())
    assert (stats.n_examples, stats.n_text_annotated, stats.n_word_annotated, stats.n_both_annotated) == (6, 5, 5, 4)
    assert stats.n_spans == 4
    assert stats.text_labels == {"x": 2, "y": 3}
    assert stats.span_labels == {"p": 3, "q": 1}
    assert stats.length_summary() == {"min": 2, "mean": 23 / 6, "median": 3.0, "max": 9}


def test_mutual_information_by_hand():
    # joint counts: x-p 2, y-p 1, y-q 1 (total 4); p(x)=p(y)=1/2, p(p)=3/4, p(q)=1/4
    # I = 1/2 log2(4/3) + 1/4 log2(2/3) + 1/4 log2(2)
    expected = 0.5 * math.log2(4 / 3) + 0.25 * math.log2(2 / 3) + 0.25
    h_text, h_span = 1.0, -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    mi = compute(corpus()).mutual_information()
    assert mi["mi"] == pytest.approx(expected, abs=1e-12)
    assert mi["h_text"] == pytest.approx(h_text) and mi["h_span"] == pytest.approx(h_span)
    assert mi["nmi"] == pytest.approx(2 * expected / (h_text + h_span))
    assert mi["purity"] == 0.75  # column maxima 2 (p) + 1 (q) over 4


def test_independent_levels_have_zero_mi():
    examples = [Example("a", labels=[t], spans=[Span(0, 1, s)]) for t in "xy" for s in "pq"]
    assert compute(examples).mutual_information()["mi"] == 0.0


def test_top_pairs_pmi():
    top = compute(corpus()).top_pairs(2)
    assert top[0] == {"text_label": "x", "span_label": "p", "count": 2, "pmi": pytest.approx(math.log2(4 / 3))}
    assert top[1]["count"] == 1 and top[1]["text_label"] == "y"


def test_multi_label_counts_each_pair():
    stats = compute([Example("a", labels=["food", "service"], spans=[Span(0, 1, "aspect")])])
    assert stats.cooccurrence == {"food": {"aspect": 1}, "service": {"aspect": 1}}
