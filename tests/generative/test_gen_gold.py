from __future__ import annotations

import pytest

from mrekit import Example, MrekitError, Relation, Span
from mrekit.formats.giellm import parse_giellm
from mrekit.formats.oiellm import parse_oiellm
from mrekit.generative.conditioning import merge_with_gold, render_pair
from mrekit.generative.spec import EntityRef, OutputSpec

EX = Example("play muse at 10:30 pm", labels=["PlayMusic"], spans=[Span(13, 21, "time"), Span(5, 9, "artist")], id="7")
CANDIDATES = ["GetWeather", "PlayMusic"]


@pytest.mark.parametrize(
    ("fmt", "condition", "expected"),
    [
        ("oiellm", "none", ("play muse at 10:30 pm/NER", "PlayMusic/NER/:artist;muse:time;10:30 pm")),
        ("oiellm", "word", ("play muse at 10:30 pm/NER/:artist;muse:time;10:30 pm", "PlayMusic/NER/")),
        ("oiellm", "text", ("play muse at 10:30 pm/PlayMusic/NER", "/NER/:artist;muse:time;10:30 pm")),
        (
            "giellm",
            "none",
            ("play muse at 10:30 pm <GetWeather><PlayMusic> NER", "<PlayMusic>NER:artist;muse:time;10:30 pm"),
        ),
        (
            "giellm",
            "word",
            ("play muse at 10:30 pm <GetWeather><PlayMusic> NER:artist;muse:time;10:30 pm", "<PlayMusic>NER"),
        ),
        ("giellm", "text", ("play muse at 10:30 pm <PlayMusic> NER", "NER:artist;muse:time;10:30 pm")),
    ],
)
def test_conditioned_renderings(fmt, condition, expected):
    assert render_pair(EX, format=fmt, condition=condition, label_set=CANDIDATES) == expected


def test_conditioned_outputs_parse_with_the_usual_parsers():
    _, out = render_pair(EX, condition="text")
    assert parse_oiellm(out).labels == [] and parse_oiellm(out).pairs == [("artist", "muse"), ("time", "10:30 pm")]
    _, out = render_pair(EX, format="giellm", condition="word", label_set=CANDIDATES)
    assert parse_giellm(out).labels == ["PlayMusic"] and parse_giellm(out).items == []


def test_relations_and_multi_labels_given():
    ex = Example(
        "Obama was born in Hawaii",
        labels=["bio", "place"],
        spans=[Span(0, 5, "PER"), Span(18, 24, "LOC")],
        relations=[Relation(0, 1, "born_in")],
    )
    assert render_pair(ex, condition="text", kind="relations") == (
        "Obama was born in Hawaii/bio,place/Relation Extraction",
        "/Relation Extraction/:Obama;born_in;Hawaii",
    )
    assert render_pair(ex, condition="word", kind="relations")[1] == "bio,place/Relation Extraction/"


def test_merge_with_gold_keeps_the_given_level():
    pred = Example(EX.text, labels=["GetWeather"], spans=[])
    merged = merge_with_gold(pred, EX, "word")
    assert merged.labels == ["GetWeather"] and merged.spans == EX.spans
    pred = Example(EX.text, labels=[], spans=[Span(5, 9, "artist")])
    merged = merge_with_gold(pred, EX, "text")
    assert merged.labels == ["PlayMusic"] and merged.spans == [Span(5, 9, "artist")]


def test_unknown_condition_and_format():
    with pytest.raises(MrekitError) as err:
        render_pair(EX, condition="both")
    assert err.value.code == "E202"
    with pytest.raises(MrekitError) as err:
        OutputSpec(format="json")
    assert err.value.code == "E202"


def test_segments_spell_the_output_and_point_at_the_text():
    spec = OutputSpec.from_examples([EX], condition="text")
    assert spec.segments(EX) == ["/NER/", ":", "artist", ";", EntityRef(5, 9), ":", "time", ";", EntityRef(13, 21)]
    spec = OutputSpec.from_examples([EX], format="giellm", condition="word")
    assert spec.segments(EX) == ["<", "PlayMusic", ">", "NER"]
    assert spec.source(EX) == "play muse at 10:30 pm <PlayMusic> NER:artist;muse:time;10:30 pm"
