"""Hand-computed text-level and word-level scores."""

from __future__ import annotations

import pytest

from mrekit.metrics import PRF, evaluate, span_scores, text_scores
from mrekit.schema import Example, Span


def ex(text: str, labels: list[str] | None = None, spans: list[Span] | None = None) -> Example:
    return Example(text, labels=labels or [], spans=spans)


# Three examples; offsets are into the texts on the left.
#   "fly from boston to new york"   boston = 9..15, new york = 19..27, new = 19..22
#   "book a table for two at noon"  two = 17..20, noon = 24..28
#   "play muse"                     play = 0..4, muse = 5..9
THREE_GOLD = [
    ex("fly from boston to new york", ["flight"], [Span(9, 15, "from"), Span(19, 27, "to")]),
    ex("book a table for two at noon", ["book"], [Span(17, 20, "party"), Span(24, 28, "time")]),
    ex("play muse", ["music"], [Span(5, 9, "artist")]),
]
THREE_PRED = [
    ex("fly from boston to new york", ["flight"], [Span(9, 15, "from"), Span(19, 22, "to")]),  # tp 1, pred 2
    ex("book a table for two at noon", ["flight"], []),  # tp 0, pred 0
    ex("play muse", ["music"], [Span(5, 9, "artist"), Span(0, 4, "service")]),  # tp 1, pred 2
]


def test_three_example_corpus_by_hand() -> None:
    strict = span_scores(THREE_GOLD, THREE_PRED)["strict"]
    # tp = 1 + 0 + 1 = 2; predicted = 2 + 0 + 2 = 4; gold = 2 + 2 + 1 = 5
    # P = 2/4 = 0.5, R = 2/5 = 0.4, F1 = 2*2 / (4 + 5) = 4/9
    assert (strict.tp, strict.n_pred, strict.n_gold) == (2, 4, 5)
    assert strict.precision == 0.5
    assert strict.recall == 0.4
    assert strict.f1 == 4 / 9
    # Same counts over surface pairs: no string is right at a wrong offset here.
    assert span_scores(THREE_GOLD, THREE_PRED)["pair"] == strict


def test_three_example_per_label_by_hand() -> None:
    per_label = span_scores(THREE_GOLD, THREE_PRED)["per_label"]
    # from: 1/1 found; to: 0 of 1 (predicted "new", 1 wrong); party, time: missed; artist: 1/1; service: spurious.
    assert per_label["from"] == PRF(1.0, 1.0, 1.0, 1, 1, 1)
    assert per_label["to"] == PRF(0.0, 0.0, 0.0, 0, 1, 1)
    assert per_label["party"] == PRF(0.0, 0.0, 0.0, 0, 0, 1)
    assert per_label["service"] == PRF(0.0, 0.0, 0.0, 0, 1, 0)
    assert sorted(per_label) == ["artist", "from", "party", "service", "time", "to"]


def test_three_example_text_level_by_hand() -> None:
    scores = text_scores(THREE_GOLD, THREE_PRED)
    # Correct: flight, music; wrong: book -> flight. Accuracy 2/3.
    assert scores["accuracy"] == 2 / 3
    # flight: tp 1, pred 2, gold 1 -> F1 2/3; book: tp 0, pred 0, gold 1 -> 0; music: 1, 1, 1 -> 1
    # macro = (2/3 + 0 + 1) / 3 = 5/9
    assert scores["macro_f1"] == pytest.approx(5 / 9, abs=1e-15)
    assert scores["per_label"]["flight"].f1 == 2 / 3
    # micro: tp 2, pred 3, gold 3 -> 2/3
    assert scores["micro"].f1 == 2 / 3


def test_multi_label_accuracy_micro_macro() -> None:
    gold = [ex("t1", ["a", "b"]), ex("t2", ["a"]), ex("t3", ["c"])]
    pred = [ex("t1", ["a"]), ex("t2", ["a"]), ex("t3", ["c", "a"])]
    scores = text_scores(gold, pred)
    # Exact set match only in t2: accuracy 1/3.
    assert scores["accuracy"] == 1 / 3
    # a: gold {t1, t2} = 2, pred {t1, t2, t3} = 3, tp 2 -> P 2/3, R 1, F1 4/5
    # b: gold 1, pred 0, tp 0 -> F1 0;  c: gold 1, pred 1, tp 1 -> F1 1
    assert scores["per_label"]["a"] == PRF(2 / 3, 1.0, 0.8, 2, 3, 2)
    assert scores["per_label"]["b"].f1 == 0.0
    assert scores["per_label"]["c"].f1 == 1.0
    # micro: tp 2 + 0 + 1 = 3, pred 3 + 0 + 1 = 4, gold 2 + 1 + 1 = 4 -> 0.75
    assert (scores["micro"].precision, scores["micro"].recall, scores["micro"].f1) == (0.75, 0.75, 0.75)
    # macro: (0.8 + 0 + 1) / 3 = 0.6
    assert scores["macro_f1"] == pytest.approx(0.6, abs=1e-15)


def test_duplicate_labels_count_once() -> None:
    scores = text_scores([ex("t", ["a"])], [ex("t", ["a", "a"])])
    assert scores["accuracy"] == 1.0 and scores["micro"].f1 == 1.0


def test_label_only_predicted_lowers_macro() -> None:
    # gold a, a; pred a, z. a: tp 1, pred 1, gold 2 -> F1 2/3; z: tp 0, pred 1, gold 0 -> F1 0.
    # macro over {a, z} = (2/3 + 0) / 2 = 1/3 (scikit-learn's default labels are the union too)
    scores = text_scores([ex("1", ["a"]), ex("2", ["a"])], [ex("1", ["a"]), ex("2", ["z"])])
    assert scores["macro_f1"] == pytest.approx(1 / 3, abs=1e-15)


def test_examples_without_gold_labels_are_skipped_at_text_level() -> None:
    gold = [ex("1", ["a"]), ex("2", [], [])]
    pred = [ex("1", ["a"]), ex("2", ["b"], [])]
    scores = text_scores(gold, pred)
    assert scores["n"] == 1 and scores["accuracy"] == 1.0
    assert sorted(scores["per_label"]) == ["a"]  # "b" was predicted only on a skipped example


def test_pair_f1_counts_duplicates() -> None:
    text = "boston to boston"  # boston at 0..6 and 10..16
    gold = [ex(text, spans=[Span(0, 6, "city"), Span(10, 16, "city")])]
    # Predicting the first boston twice and the second once: pairs (city, boston) x3 vs x2.
    pred = [ex(text, spans=[Span(0, 6, "city"), Span(0, 6, "city"), Span(10, 16, "city")])]
    pair = span_scores(gold, pred)["pair"]
    # tp = min(3, 2) = 2, P = 2/3, R = 2/2 = 1, F1 = 4/5
    assert (pair.tp, pair.n_pred, pair.n_gold) == (2, 3, 2)
    assert (pair.precision, pair.recall, pair.f1) == (2 / 3, 1.0, 0.8)


def test_pair_f1_ignores_offsets_but_strict_does_not() -> None:
    text = "boston to boston"
    gold = [ex(text, spans=[Span(0, 6, "city"), Span(10, 16, "city")])]
    pred = [ex(text, spans=[Span(10, 16, "city")])]  # the right string, once, at the second offset
    scores = span_scores(gold, pred)
    # pairs: tp 1, pred 1, gold 2 -> P 1, R 1/2, F1 2/3; strict: the same here, (10, 16) is gold too
    assert (scores["pair"].precision, scores["pair"].recall, scores["pair"].f1) == (1.0, 0.5, 2 / 3)
    assert scores["strict"] == scores["pair"]
    gold = [ex(text, spans=[Span(0, 6, "city")])]
    scores = span_scores(gold, pred)
    # only the surface matches now: pair F1 1, strict F1 0
    assert scores["pair"].f1 == 1.0 and scores["strict"].f1 == 0.0


def test_no_predictions_gives_zero_precision() -> None:
    gold = [ex("play muse", spans=[Span(5, 9, "artist")])]
    for pred_spans in ([], None):  # None on a prediction means "predicted nothing"
        strict = span_scores(gold, [ex("play muse", spans=pred_spans)])["strict"]
        assert (strict.precision, strict.recall, strict.f1, strict.n_pred) == (0.0, 0.0, 0.0, 0)


def test_empty_gold_and_empty_prediction_give_zero_like_seqeval() -> None:
    gold = [ex("hello", ["greet"], [])]
    scores = evaluate(gold, gold, bootstrap=0)
    assert (scores["span_precision"], scores["span_recall"], scores["span_f1"]) == (0.0, 0.0, 0.0)
    assert scores["pair_f1"] == 0.0
    # ... while the frame is still exactly right.
    assert scores["frame_accuracy"] == 1.0


def test_unannotated_word_level_is_skipped_and_absent_is_none() -> None:
    gold = [ex("a b", ["x"], None), ex("c d", ["y"], [Span(0, 1, "s")])]
    pred = [ex("a b", ["x"], [Span(0, 1, "s")]), ex("c d", ["y"], [Span(0, 1, "s")])]
    assert span_scores(gold, pred)["strict"] == PRF(1.0, 1.0, 1.0, 1, 1, 1)
    assert span_scores(gold[:1], pred[:1])["strict"] is None
    assert text_scores([ex("a", [], [])], [ex("a", ["x"], [])])["accuracy"] is None
