from __future__ import annotations

import pytest

from mrekit import Event, Example, MrekitError, Relation, Span, validate


def codes(example: Example, **kw) -> list[str]:
    return [p.code for p in validate(example, **kw)]


def test_round_trip_dict_keeps_every_level():
    ex = Example(
        "the food was great",
        id="a",
        labels=["food"],
        label_attrs={"food": {"polarity": "positive"}},
        spans=[Span(4, 8, "aspect", attrs={"polarity": "positive"}), Span(13, 18, "opinion")],
        relations=[Relation(0, 1, "described_by")],
        events=[Event(1, "Praise", (("target", 0),))],
        meta={"lang": "en"},
    )
    data = ex.to_dict()
    assert data["spans"][0] == {
        "start": 4,
        "end": 8,
        "label": "aspect",
        "text": "food",
        "attrs": {"polarity": "positive"},
    }
    back = Example.from_dict(data)
    assert back == ex
    assert back.spans[0].attrs == {"polarity": "positive"}
    assert back.events[0].args == (("target", 0),)


def test_levels_can_be_absent_independently():
    text_only = Example.from_dict({"text": "hi", "labels": ["greet"]})
    spans_only = Example.from_dict({"text": "東京", "spans": [{"start": 0, "end": 2, "label": "地名"}]})
    empty_spans = Example.from_dict({"text": "hi", "labels": ["greet"], "spans": []})
    assert (text_only.has_text_level, text_only.has_word_level) == (True, False)
    assert (spans_only.has_text_level, spans_only.has_word_level) == (False, True)
    assert empty_spans.has_word_level and empty_spans.spans == []
    assert "spans" not in text_only.to_dict() and empty_spans.to_dict()["spans"] == []


def test_validation_codes():
    text = "play muse"
    assert codes(Example(text, spans=[Span(5, 9, "artist")])) == []
    assert codes(Example(text, spans=[Span(5, 10, "artist")])) == ["E110"]
    assert codes(Example(text, spans=[Span(-1, 2, "x")])) == ["E110"]
    assert codes(Example(text, spans=[Span(5, 5, "artist")])) == ["E111"]
    assert codes(Example(text, spans=[Span(5, 9, "artist", surface="mus")])) == ["E112"]
    assert codes(Example(text, spans=[Span(5, 9, "artist", surface="mus")]), check_surface=False) == []
    overlapping = Example(text, spans=[Span(0, 6, "a"), Span(5, 9, "b")])
    assert codes(overlapping) == []
    assert codes(overlapping, allow_overlap=False) == ["E113"]
    assert codes(Example(text, spans=[Span(0, 4, "a")], relations=[Relation(0, 3, "r")])) == ["E114"]
    assert codes(Example(text, spans=[Span(0, 4, "a")], events=[Event(0, "E", (("arg", 1),))])) == ["E115"]


def test_validation_message_names_the_field():
    (problem,) = validate(Example("abc", spans=[Span(0, 1, "x"), Span(1, 9, "y")]))
    assert problem.field == "spans[1]"
    assert str(problem) == "[E110] field 'spans[1]': span 1-9 lies outside the text (length 3)"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"labels": ["x"]}, "text"),
        ({"text": 3}, "text"),
        ({"text": "a", "labels": [1]}, "labels"),
        ({"text": "a", "spans": [{"start": 0, "label": "x"}]}, "spans[0].end"),
        ({"text": "a", "spans": [{"start": "0", "end": 1, "label": "x"}]}, "spans[0].start"),
        ({"text": "a", "spans": [{"start": True, "end": 1, "label": "x"}]}, "spans[0].start"),
        ({"text": "a", "events": [{"trigger": 0, "type": "E", "args": [["r"]]}]}, "events[0].args[0]"),
        ({"text": "a", "spans": [{"start": 0, "end": 1, "label": "x", "attr_scores": [0.5]}]}, "spans[0].attr_scores"),
        ({"text": "a", "labels": ["x"], "label_attr_scores": [1]}, "label_attr_scores"),
    ],
)
def test_from_dict_rejects_bad_fields(data, field):
    with pytest.raises(MrekitError) as info:
        Example.from_dict(data)
    assert info.value.code == "E104"
    assert info.value.field == field


def test_single_label_spelling_is_accepted():
    assert Example.from_dict({"text": "a", "label": "x"}).labels == ["x"]


def test_every_overlap_with_a_long_span_is_reported():
    ex = Example("abcdefghij", spans=[Span(0, 10, "a"), Span(1, 2, "b"), Span(3, 4, "c")])
    assert [p.message for p in validate(ex, allow_overlap=False)] == [
        "spans[0] and spans[1] overlap",
        "spans[0] and spans[2] overlap",
    ]


def test_attribute_scores_round_trip_and_do_not_change_span_identity():
    span = Span(0, 4, "aspect", attrs={"polarity": "negative"}, attr_scores={"polarity": {"negative": 0.9}})
    ex = Example(
        "soup",
        labels=["food"],
        label_attrs={"food": {"polarity": "negative"}},
        label_attr_scores={"food": {"polarity": {"negative": 0.8, "positive": 0.2}}},
        spans=[span],
    )
    data = ex.to_dict()
    assert data["spans"][0]["attr_scores"] == {"polarity": {"negative": 0.9}}
    assert data["label_attr_scores"] == {"food": {"polarity": {"negative": 0.8, "positive": 0.2}}}
    again = Example.from_dict(data)
    assert again.spans[0].attr_scores == span.attr_scores and again.label_attr_scores == ex.label_attr_scores
    assert again.spans[0] == Span(0, 4, "aspect")  # scores and attributes are not part of the key
    assert "attr_scores" not in Example("soup", spans=[Span(0, 4, "aspect")]).to_dict()["spans"][0]
