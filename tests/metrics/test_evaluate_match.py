"""The evaluate() report and match_predictions()."""

from __future__ import annotations

import pytest

from mrekit.errors import MrekitError
from mrekit.metrics import METRIC_KEYS, evaluate, match_predictions
from mrekit.schema import Event, Example, Relation, Span

KEYS = {
    "text_accuracy",
    "text_micro_f1",
    "text_macro_f1",
    "span_precision",
    "span_recall",
    "span_f1",
    "pair_precision",
    "pair_recall",
    "pair_f1",
    "frame_accuracy",
}
STRUCTURE_KEYS = {
    "relation_f1",
    "relation_boundary_f1",
    "relation_f1_macro",
    "relation_boundary_f1_macro",
    "event_trigger_id_f1",
    "event_trigger_f1",
    "event_argument_id_f1",
    "event_argument_f1",
    "event_main_argument_id_f1",
    "event_main_argument_f1",
}
KEYS |= STRUCTURE_KEYS
ATTR_KEYS = {
    "span_attr_precision",
    "span_attr_recall",
    "span_attr_f1",
    "span_attr_accuracy",
    "span_attr_macro_f1",
    "label_attr_f1",
    "label_attr_accuracy",
}
KEYS |= ATTR_KEYS


def test_keys_of_a_text_and_word_level_corpus() -> None:
    gold = [
        Example("play muse", id="1", labels=["music"], spans=[Span(5, 9, "artist")]),
        Example("rain today", id="2", labels=["weather"], spans=[Span(5, 10, "date")]),
    ]
    pred = [
        Example("rain today", id="2", labels=["music"], spans=[Span(5, 10, "date")]),
        Example("play muse", id="1", labels=["music"], spans=[Span(5, 9, "artist")]),
    ]
    scores = evaluate(gold, pred, bootstrap=50, seed=1)
    assert set(METRIC_KEYS) == KEYS
    assert set(scores) == KEYS | {"n_examples", "per_label", "ci"}
    assert scores["n_examples"] == 2
    # text: 1/2 right; music: tp 1, pred 2, gold 1 -> F1 2/3; weather: 0 -> macro 1/3; micro: tp 1, 2, 2 -> 1/2
    assert scores["text_accuracy"] == 0.5 and scores["text_micro_f1"] == 0.5
    assert scores["text_macro_f1"] == pytest.approx(1 / 3, abs=1e-15)
    assert scores["span_f1"] == 1.0 and scores["pair_f1"] == 1.0 and scores["frame_accuracy"] == 0.5
    assert all(scores[k] is None for k in STRUCTURE_KEYS)  # no relations or events in gold
    assert scores["per_label"]["text"]["music"] == {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    assert scores["per_label"]["spans"]["artist"]["support"] == 1
    assert all(scores[k] is None for k in ATTR_KEYS)  # no attributes in gold
    assert set(scores["ci"]) == KEYS - ATTR_KEYS - STRUCTURE_KEYS
    assert all(isinstance(v, list) and len(v) == 2 for v in scores["ci"].values())


def test_all_levels_present() -> None:
    ex = Example(
        "alice attacked acme",
        labels=["conflict"],
        label_attrs={"conflict": {"intensity": "high"}},
        spans=[Span(0, 5, "per", attrs={"polarity": "negative"}), Span(6, 14, "trigger"), Span(15, 19, "org")],
        relations=[Relation(0, 2, "enemy_of")],
        events=[Event(1, "Attack", (("Attacker", 0), ("Target", 2)))],
    )
    scores = evaluate([ex], [ex], bootstrap=0)
    assert "ci" not in scores
    assert all(scores[k] == 1.0 for k in KEYS)


def test_word_only_corpus_has_no_text_metrics() -> None:
    gold = [Example("play muse", spans=[Span(5, 9, "artist")])]
    scores = evaluate(gold, gold, bootstrap=20)
    assert scores["text_accuracy"] is None and scores["frame_accuracy"] is None
    assert scores["per_label"]["text"] == {}
    assert set(scores["ci"]) == {k for k in KEYS - ATTR_KEYS if k.startswith(("span", "pair"))}


def test_empty_corpus() -> None:
    scores = evaluate([], [], bootstrap=10)
    assert scores["n_examples"] == 0 and all(scores[k] is None for k in KEYS) and scores["ci"] == {}


def test_match_by_position_without_ids() -> None:
    gold = [Example("a", id="1"), Example("b")]
    pred = [Example("a"), Example("b")]
    assert [(g.text, p.text) for g, p in match_predictions(gold, pred)] == [("a", "a"), ("b", "b")]


def test_match_errors() -> None:
    with pytest.raises(MrekitError, match="gold has 2 examples but the predictions have 1") as err:
        match_predictions([Example("a"), Example("b")], [Example("a")])
    assert err.value.code == "E160"
    with pytest.raises(MrekitError, match="no prediction for gold id '2'"):
        match_predictions([Example("a", id="1"), Example("b", id="2")], [Example("a", id="1"), Example("b", id="3")])
    with pytest.raises(MrekitError, match="id '1' occurs more than once in the predictions"):
        match_predictions([Example("a", id="1"), Example("b", id="2")], [Example("a", id="1"), Example("a", id="1")])
    with pytest.raises(MrekitError, match=r"id 'x': predicted text 'hello!' differs") as err:
        match_predictions([Example("hello", id="x")], [Example("hello!", id="x")])
    assert err.value.code == "E160"
    with pytest.raises(MrekitError, match=r"line 2: predicted text 'c' differs from gold text 'b'") as err:
        match_predictions([Example("a"), Example("b")], [Example("a"), Example("c")])
    assert err.value.line == 2
    with pytest.raises(MrekitError) as err:
        evaluate([Example("a")], [Example("b")])
    assert err.value.code == "E160"
