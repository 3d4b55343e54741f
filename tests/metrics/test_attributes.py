"""Span and text-label attribute metrics (aspect polarity, category polarity), computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mrekit.metrics import (
    METRIC_KEYS,
    attribute_scores,
    bootstrap_distribution,
    build_table,
    evaluate,
    match_predictions,
)
from mrekit.metrics.attributes import paired_spans, span_attr_values
from mrekit.metrics.table import CountTable, point_metrics
from mrekit.schema import Example, Span

SPAN_KEYS = ("span_attr_precision", "span_attr_recall", "span_attr_f1", "span_attr_accuracy", "span_attr_macro_f1")
LABEL_KEYS = ("label_attr_f1", "label_attr_accuracy")

# "great pizza but slow service": pizza 6-11, service 21-28.
# "friendly staff and cheap wine": staff 9-14, wine 25-29.
T1, T2 = "great pizza but slow service", "friendly staff and cheap wine"


def term(start: int, end: int, polarity: str | None = None) -> Span:
    return Span(start, end, "aspect", attrs={"polarity": polarity} if polarity else {})


GOLD = [
    Example(T1, spans=[term(6, 11, "positive"), term(21, 28, "negative")]),
    Example(T2, spans=[term(9, 14, "positive")]),
]
# pizza right, service with the wrong polarity, staff missed, wine extra.
PRED = [
    Example(T1, spans=[term(6, 11, "positive"), term(21, 28, "positive")]),
    Example(T2, spans=[term(25, 29, "positive")]),
]


def test_aspect_polarity_by_hand() -> None:
    scores = evaluate(GOLD, PRED, bootstrap=0)
    # End to end over (start, end, label, polarity): only pizza matches; 3 predicted, 3 gold.
    assert scores["span_attr_precision"] == 1 / 3
    assert scores["span_attr_recall"] == 1 / 3
    assert scores["span_attr_f1"] == 1 / 3  # 2 * 1 / (3 + 3)
    # Strict spans (polarity ignored) are unchanged: pizza and service match -> 2 * 2 / 6.
    assert scores["span_f1"] == 2 / 3
    # Paired terms: pizza (right), service (wrong); staff is unpaired, wine has no gold.
    assert scores["span_attr_accuracy"] == 0.5
    # Paired gold values [positive, negative], predicted [positive, positive]:
    # positive tp 1, pred 2, gold 1 -> F1 2/3; negative tp 0, pred 0, gold 1 -> 0; macro (2/3 + 0) / 2.
    assert scores["span_attr_macro_f1"] == pytest.approx(1 / 3, abs=1e-15)
    assert scores["per_label"]["span_attrs"] == {
        "negative": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "positive": {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1},
    }
    assert all(scores[k] is None for k in LABEL_KEYS)  # no text level


def test_attribute_scores_helper_agrees() -> None:
    scores = attribute_scores(GOLD, PRED)
    assert (scores["span"].tp, scores["span"].n_pred, scores["span"].n_gold) == (1, 3, 3)
    assert scores["span_accuracy"] == 0.5 and scores["span_macro_f1"] == pytest.approx(1 / 3)
    assert scores["per_value"]["positive"].f1 == 2 / 3
    assert scores["label"] is None and scores["label_accuracy"] is None


def test_predicted_spans_without_attrs_never_match() -> None:
    pred = [Example(T1, spans=[term(6, 11), term(21, 28)]), Example(T2, spans=[term(9, 14)])]
    scores = evaluate(GOLD, pred, bootstrap=0)
    assert scores["span_f1"] == 1.0
    assert (scores["span_attr_precision"], scores["span_attr_recall"], scores["span_attr_f1"]) == (0.0, 0.0, 0.0)
    assert scores["span_attr_accuracy"] == 0.0  # 3 paired, none right
    # Classes: gold positive (2), negative (1); predicted "None" (3): every F1 is 0.
    assert scores["span_attr_macro_f1"] == 0.0
    assert sorted(scores["per_label"]["span_attrs"]) == ["None", "negative", "positive"]
    # A prediction with spans=None predicts nothing: still scored on the annotated gold.
    none = evaluate(GOLD, [Example(T1), Example(T2)], bootstrap=0)
    assert none["span_attr_recall"] == 0.0 and none["span_attr_accuracy"] == 0.0


def test_gold_spans_without_attrs_count_with_none_attrs() -> None:
    # The level is on (pizza has a polarity); the unattributed "menu" span matches an unattributed prediction.
    gold = [Example("pizza menu", spans=[term(0, 5, "positive"), Span(6, 10, "other")])]
    pred = [Example("pizza menu", spans=[term(0, 5, "positive"), Span(6, 10, "other", attrs={"polarity": "x"})])]
    scores = evaluate(gold, gold, bootstrap=0)
    assert scores["span_attr_f1"] == 1.0 and scores["span_attr_accuracy"] == 1.0
    scores = evaluate(gold, pred, bootstrap=0)
    assert scores["span_attr_f1"] == 0.5  # 2 * 1 / (2 + 2)
    assert scores["span_attr_accuracy"] == 1.0  # only pizza is judged: menu has no gold attribute


def test_repeated_keys_pair_right_attributes_first() -> None:
    gold = Example("ab", spans=[term(0, 1, "positive"), term(0, 1, "negative")])
    pred = Example("ab", spans=[term(0, 1, "negative"), term(0, 1, "positive")])
    pairs = paired_spans(gold, pred)
    assert [(g.attrs["polarity"], p.attrs["polarity"]) for g, p in pairs] == [
        ("positive", "positive"),
        ("negative", "negative"),
    ]
    assert evaluate([gold], [pred], bootstrap=0)["span_attr_accuracy"] == 1.0


def test_no_attributes_gives_none() -> None:
    gold = [Example(T1, labels=["food"], spans=[term(6, 11)])]
    # Attributes only on the prediction do not annotate the level.
    pred = [
        Example(T1, labels=["food"], label_attrs={"food": {"p": "x"}}, spans=[term(6, 11, "positive")]),
    ]
    scores = evaluate(gold, pred, bootstrap=20)
    assert all(scores[k] is None for k in (*SPAN_KEYS, *LABEL_KEYS))
    assert not set(scores["ci"]) & {*SPAN_KEYS, *LABEL_KEYS}
    assert scores["per_label"]["span_attrs"] == {}
    assert scores["span_f1"] == 1.0 and scores["text_accuracy"] == 1.0


def test_attributes_on_unannotated_word_level_are_skipped() -> None:
    # The second gold example has spans=None: neither turns the level on nor is scored.
    gold = [Example("ab", spans=[term(0, 1, "positive")]), Example("cd")]
    pred = [Example("ab", spans=[term(0, 1, "positive")]), Example("cd", spans=[term(0, 1, "negative")])]
    table = build_table(match_predictions(gold, pred))
    assert table.counts["sattr_n"].tolist() == [1.0, 0.0]
    assert point_metrics(table)["span_attr_precision"] == 1.0


# Categories: food positive, service negative; ambience neutral.
LABEL_GOLD = [
    Example(T1, labels=["food", "service"], label_attrs={"food": {"polarity": "pos"}, "service": {"polarity": "neg"}}),
    Example(T2, labels=["ambience"], label_attrs={"ambience": {"polarity": "neu"}}),
    Example("no categories here"),  # text level not annotated: skipped
]
LABEL_PRED = [
    Example(T1, labels=["food", "service"], label_attrs={"food": {"polarity": "pos"}, "service": {"polarity": "pos"}}),
    Example(T2, labels=["price"], label_attrs={"price": {"polarity": "neg"}}),
    Example("no categories here", labels=["food"], label_attrs={"food": {"polarity": "pos"}}),
]


def test_label_attributes_by_hand() -> None:
    scores = evaluate(LABEL_GOLD, LABEL_PRED, bootstrap=0)
    # End to end over (label, polarity): food/pos matches; gold 3 (food, service, ambience), predicted 3
    # (food, service, price; the third example is skipped) -> 2 * 1 / 6.
    assert scores["label_attr_f1"] == 1 / 3
    # Gold labels with attributes that are predicted: food (right), service (wrong) -> 1/2.
    assert scores["label_attr_accuracy"] == 0.5
    # The text level is unchanged: labels of example 1 right, example 2 wrong.
    assert scores["text_accuracy"] == 0.5
    assert all(scores[k] is None for k in SPAN_KEYS)  # no word level
    assert scores["per_label"]["span_attrs"] == {}


def test_label_without_predicted_attributes_is_wrong() -> None:
    pred = [Example(T1, labels=["food", "service"]), Example(T2, labels=["ambience"]), Example("no categories here")]
    scores = evaluate(LABEL_GOLD, pred, bootstrap=0)
    assert scores["text_accuracy"] == 1.0
    assert scores["label_attr_f1"] == 0.0 and scores["label_attr_accuracy"] == 0.0
    assert evaluate(LABEL_GOLD, LABEL_GOLD, bootstrap=0)["label_attr_f1"] == 1.0


def test_multi_key_values() -> None:
    both = {"intensity": "high", "polarity": "positive"}
    # The second gold term lacks "intensity": its value on K = (intensity, polarity) has intensity None.
    gold = [
        Example("ab", spans=[Span(0, 1, "aspect", attrs=both), Span(1, 2, "aspect", attrs={"polarity": "negative"})])
    ]
    pred = [
        Example(
            "ab",
            spans=[
                Span(0, 1, "aspect", attrs={"intensity": "high", "polarity": "positive"}),
                Span(1, 2, "aspect", attrs={"intensity": "low", "polarity": "negative"}),
            ],
        )
    ]
    pairs = match_predictions(gold, pred)
    assert span_attr_values(pairs) == [
        "intensity=None;polarity=negative",
        "intensity=high;polarity=positive",
        "intensity=low;polarity=negative",
    ]
    scores = evaluate(gold, pred, bootstrap=0)
    # End to end: the first term matches; the second has intensity None in gold, low predicted.
    assert scores["span_attr_f1"] == 0.5  # 2 * 1 / (2 + 2)
    # Accuracy judges the gold's own keys: both right.
    assert scores["span_attr_accuracy"] == 1.0
    # Classes over K: high;positive F1 1; None;negative tp 0 gold 1 -> 0; low;negative tp 0 pred 1 -> 0.
    assert scores["span_attr_macro_f1"] == pytest.approx(1 / 3, abs=1e-15)


def test_count_table_default_and_metric_order() -> None:
    table = CountTable(counts=build_table([]).counts, text_labels=[], span_labels=[])
    assert table.attr_values == []
    keys = list(METRIC_KEYS)
    assert keys[: keys.index("pair_f1") + 1] == [
        "text_accuracy",
        "text_micro_f1",
        "text_macro_f1",
        "span_precision",
        "span_recall",
        "span_f1",
        "pair_precision",
        "pair_recall",
        "pair_f1",
    ]
    assert keys[keys.index("pair_f1") + 1 :][: len(SPAN_KEYS + LABEL_KEYS)] == [*SPAN_KEYS, *LABEL_KEYS]


def corpus() -> tuple[list[Example], list[Example]]:
    """Forty examples mixing both attribute levels, with varied errors."""
    gold, pred = [], []
    polarities = ("positive", "negative", "neutral")
    for i in range(40):
        g_pol, p_pol = polarities[i % 3], polarities[(i * 7 // 5) % 3]
        spans_g = [term(6, 11, g_pol), term(21, 28, polarities[(i + 1) % 3])]
        spans_p = [term(6, 11, p_pol)] + ([term(21, 28, polarities[(i + i // 4) % 3])] if i % 4 else [])
        label, other = ("food", "service") if i % 2 else ("service", "food")
        gold.append(Example(T1, labels=[label], label_attrs={label: {"polarity": g_pol}}, spans=spans_g))
        p_label = label if i % 5 else other
        pred.append(Example(T1, labels=[p_label], label_attrs={p_label: {"polarity": p_pol}}, spans=spans_p))
    return gold, pred


def test_evaluate_reports_attribute_metrics_with_intervals() -> None:
    gold, pred = corpus()
    scores = evaluate(gold, pred, bootstrap=500, seed=3)
    for name in (*SPAN_KEYS, *LABEL_KEYS):
        assert scores[name] is not None, name
        low, high = scores["ci"][name]
        assert 0.0 <= low <= scores[name] <= high <= 1.0, name
        assert low < high, name
    assert evaluate(gold, pred, bootstrap=500, seed=3)["ci"] == scores["ci"]


def test_vectorised_bootstrap_equals_naive_rescoring() -> None:
    gold, pred = corpus()
    gold, pred = gold[:15], pred[:15]
    samples = bootstrap_distribution(build_table(match_predictions(gold, pred)), n_resamples=20, seed=5)
    draws = np.random.default_rng(5).integers(0, len(gold), size=(20, len(gold)))
    for r, idx in enumerate(draws):
        naive = evaluate([gold[i] for i in idx], [pred[i] for i in idx], bootstrap=0)
        for name in (*SPAN_KEYS, *LABEL_KEYS):
            assert samples[name][r] == pytest.approx(naive[name], abs=1e-12), (r, name)


def test_existing_metrics_do_not_change_with_attributes() -> None:
    gold, pred = corpus()
    strip = [Example(e.text, labels=e.labels, spans=[Span(s.start, s.end, s.label) for s in e.spans]) for e in gold]
    plain = [Example(e.text, labels=e.labels, spans=[Span(s.start, s.end, s.label) for s in e.spans]) for e in pred]
    with_attrs, without = evaluate(gold, pred, bootstrap=100), evaluate(strip, plain, bootstrap=100)
    # Frame accuracy asks for everything the gold annotates, attributes included (see below).
    for name in set(METRIC_KEYS) - {*SPAN_KEYS, *LABEL_KEYS, "frame_accuracy"}:
        assert with_attrs[name] == without[name], name
        assert with_attrs["ci"].get(name) == without["ci"].get(name), name


def test_frame_accuracy_needs_the_attributes_when_the_gold_has_them() -> None:
    gold, pred = corpus()

    def polarities(example: Example) -> tuple:
        spans = sorted((s.start, s.end, s.label, s.attrs.get("polarity")) for s in example.spans)
        return tuple(spans), {label: example.label_attrs[label]["polarity"] for label in example.labels}

    def plain(example: Example) -> tuple:
        return sorted(s.key for s in example.spans), set(example.labels)

    # An oracle by direct comparison: labels, spans, span and label polarities all equal.
    right = [plain(g) == plain(p) and polarities(g) == polarities(p) for g, p in zip(gold, pred, strict=True)]
    loose = [plain(g) == plain(p) for g, p in zip(gold, pred, strict=True)]
    scores = evaluate(gold, pred, bootstrap=0)
    assert scores["frame_accuracy"] == sum(right) / len(right) < sum(loose) / len(loose)
    strip = [Example(e.text, labels=e.labels, spans=[Span(s.start, s.end, s.label) for s in e.spans]) for e in gold]
    bare = [Example(e.text, labels=e.labels, spans=[Span(s.start, s.end, s.label) for s in e.spans]) for e in pred]
    assert evaluate(strip, bare, bootstrap=0)["frame_accuracy"] == sum(loose) / len(loose)
