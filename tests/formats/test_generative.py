from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrekit import Event, Example, MrekitError, Relation, Span, formats
from mrekit.formats import giellm, oiellm
from mrekit.formats.giellm import parse_giellm, render_giellm
from mrekit.formats.items import (
    EventItem,
    ParsedOutput,
    RelationItem,
    SpanItem,
    item_types,
    items_of,
    parse_items,
    resolve,
    to_example,
)
from mrekit.formats.oiellm import parse_oiellm, render_oiellm

SNIPS = Example(
    "play muse at 10:30 pm", id="7", labels=["PlayMusic"], spans=[Span(13, 21, "time"), Span(5, 9, "artist")]
)
ABSA = Example(
    "great food, rude staff",
    labels=["anecdotes/miscellaneous", "service"],
    spans=[Span(6, 10, "aspect", {"polarity": "positive"}), Span(17, 22, "aspect", {"polarity": "negative"})],
)
RE_TEXT = "Obama was born in Hawaii and led the USA"
RE = Example(
    RE_TEXT,
    spans=[Span(0, 5, "PER"), Span(18, 24, "LOC"), Span(37, 40, "LOC")],
    relations=[Relation(0, 1, "born_in"), Relation(0, 2, "president_of")],
)
EE = Example(
    "John fired at Mary",
    labels=["Conflict"],
    spans=[Span(5, 10, "trigger"), Span(0, 4, "PER"), Span(14, 18, "PER")],
    events=[Event(0, "Attack", (("Attacker", 1), ("Target", 2)))],
)


# --- rendering -------------------------------------------------------------------------------------------------


def test_render_oiellm_spans_in_text_order_with_colon_in_entity():
    assert render_oiellm(SNIPS) == ("play muse at 10:30 pm/NER", "PlayMusic/NER/:artist;muse:time;10:30 pm")


def test_render_giellm_candidates_and_task_word():
    assert render_giellm(SNIPS, label_set=["GetWeather", "PlayMusic"]) == (
        "play muse at 10:30 pm <GetWeather><PlayMusic> NER",
        "<PlayMusic>NER:artist;muse:time;10:30 pm",
    )
    assert render_giellm(SNIPS)[0] == "play muse at 10:30 pm <PlayMusic> NER"


def test_render_multi_label_slash_label_and_polarity():
    assert render_oiellm(ABSA, "Sentiment Adj") == (
        "great food, rude staff/Sentiment Adj",
        "anecdotes/miscellaneous,service/Sentiment Adj/:aspect;food;positive:aspect;staff;negative",
    )
    assert render_giellm(ABSA, "Sentiment Adj")[1] == (
        "<anecdotes/miscellaneous><service>Sentiment Adj:aspect;food;positive:aspect;staff;negative"
    )


def test_render_empty_label_no_spans_and_unannotated_word_level():
    assert render_oiellm(Example("hello", labels=["Greet"], spans=[])) == ("hello/NER", "Greet/NER/")
    assert render_oiellm(Example("hello", spans=[Span(0, 5, "x")])) == ("hello/NER", "/NER/:x;hello")
    assert render_oiellm(Example("hello")) == ("hello/NER", "/NER/")
    assert render_giellm(Example("hello")) == ("hello  NER", "NER")
    assert render_giellm(Example("hello", labels=["a", "b"])) == ("hello <a><b> NER", "<a><b>NER")


def test_render_attribute_positions():
    ex = Example("a b c", spans=[Span(0, 1, "t", {"polarity": "pos", "cat": "x"}), Span(2, 3, "t", {"cat": "y"})])
    ex.spans.append(Span(4, 5, "t", {"polarity": "neg"}))
    assert render_oiellm(ex, attr_keys=("polarity", "cat"))[1] == "/NER/:t;a;pos;x:t;b;;y:t;c;neg"
    assert render_oiellm(ex, attr_keys=())[1] == "/NER/:t;a:t;b:t;c"


def test_render_relations_and_events():
    assert render_oiellm(RE, kind="relations") == (
        f"{RE_TEXT}/Relation Extraction",
        "/Relation Extraction/:Obama;born_in;Hawaii:Obama;president_of;USA",
    )
    assert render_giellm(EE, kind="events") == (
        "John fired at Mary <Conflict> Event Extraction",
        "<Conflict>Event Extraction:Attack;fired;Attacker;John;Target;Mary",
    )
    assert render_oiellm(EE, "EE")[1] == "Conflict/EE/:PER;John:trigger;fired:PER;Mary"  # the task word decides: spans


@pytest.mark.parametrize(
    ("example", "options", "message"),
    [
        (Example("a;b", spans=[Span(0, 3, "x")]), {}, "example 'a;b' cannot be rendered unambiguously"),
        (Example("a", id="3", labels=["x,y"]), {}, "example '3' cannot be rendered unambiguously"),
        (Example("a", labels=["x/NER"]), {}, "example 'a' cannot be rendered unambiguously"),
        (Example("a", labels=[" x"]), {}, "example 'a' cannot be rendered unambiguously"),
        (Example("a", spans=[Span(0, 1, "x:y")]), {}, "example 'a' cannot be rendered unambiguously"),
        (Example("a"), {"task": "N/R"}, "task word 'N/R' cannot be rendered"),
        (Example("a", spans=[Span(0, 1, "x")]), {"types": {"y"}}, "example 'a' cannot be rendered unambiguously"),
    ],
)
def test_render_oiellm_refuses_ambiguous_strings(example, options, message):
    with pytest.raises(MrekitError) as info:
        render_oiellm(example, **options)
    assert (info.value.code, info.value.message) == ("E150", message)


def test_render_giellm_refuses_bad_labels():
    with pytest.raises(MrekitError) as info:
        render_giellm(Example("a", labels=["<x>"]))
    assert (info.value.code, info.value.message) == ("E150", "candidate labels ['<x>'] cannot be rendered")
    with pytest.raises(MrekitError) as info:
        render_giellm(Example("a", id="9", labels=["x"]), label_set=["y"])
    assert (info.value.code, info.value.message) == ("E150", "labels ['x'] of example '9' are not candidates")


def test_colon_in_entity_before_attributes_needs_types():
    ex = Example("at 10:30 pm", spans=[Span(3, 11, "time", {"polarity": "neutral"})])
    with pytest.raises(MrekitError, match=r"\[E150\]"):
        render_oiellm(ex)
    assert render_oiellm(ex, types={"time"})[1] == "/NER/:time;10:30 pm;neutral"
    assert parse_oiellm("/NER/:time;10:30 pm;neutral", types={"time"}).items == [
        SpanItem("time", "10:30 pm", {"polarity": "neutral"})
    ]
    assert parse_oiellm("/NER/:time;10:30 pm;neutral").items == [SpanItem("time", "10"), SpanItem("30 pm", "neutral")]


def test_render_relation_to_missing_span():
    with pytest.raises(MrekitError) as info:
        render_oiellm(Example("a", spans=[], relations=[Relation(0, 1, "r")]), kind="relations")
    assert (info.value.code, info.value.message) == ("E114", "span index 0 does not exist (0..-1)")


def test_resolve_and_item_helpers():
    assert resolve(None, None) == ("NER", "spans")
    assert resolve(None, "events") == ("Event Extraction", "events")
    assert resolve("Sentiment Adj", None) == ("Sentiment Adj", "spans")
    with pytest.raises(MrekitError, match=r"\[E104\] field 'kind': unknown kind 'words'"):
        resolve(None, "words")
    assert items_of(RE, "relations") == [
        RelationItem("Obama", "born_in", "Hawaii"),
        RelationItem("Obama", "president_of", "USA"),
    ]
    assert item_types(items_of(EE, "events")) == {"Attack"}


# --- parsing ---------------------------------------------------------------------------------------------------


def test_parse_oiellm_well_formed():
    parsed = parse_oiellm("anecdotes/miscellaneous,service/NER/:aspect;food;positive:time;10:30 pm\n")
    assert parsed == ParsedOutput(
        labels=["anecdotes/miscellaneous", "service"],
        items=[SpanItem("aspect", "food", {"polarity": "positive"}), SpanItem("time", "10:30 pm")],
        kind="spans",
        task="NER",
    )
    assert parsed.ok and parsed.pairs == [("aspect", "food"), ("time", "10:30 pm")]


def test_parse_no_items_empty_label_and_spaces_around_labels():
    assert parse_oiellm("PlayMusic/NER/") == ParsedOutput(labels=["PlayMusic"])
    assert parse_oiellm("/NER/:x;y") == ParsedOutput(items=[SpanItem("x", "y")])
    assert parse_oiellm(" a , b /NER/").labels == ["a", "b"]
    assert parse_giellm("NER") == ParsedOutput()
    assert parse_giellm("<a> <b> NER:x;y") == ParsedOutput(labels=["a", "b"], items=[SpanItem("x", "y")])


def test_parse_splits_at_the_first_task_marker():
    assert parse_oiellm("x/NER/:t;a/NER/b").items == [SpanItem("t", "a/NER/b")]


def test_parse_relations_and_events():
    parsed = parse_oiellm("/Relation Extraction/:Obama;born_in;Hawaii:Obama;president_of;USA", "Relation Extraction")
    assert parsed.kind == "relations" and parsed.ok
    assert parsed.items == [RelationItem("Obama", "born_in", "Hawaii"), RelationItem("Obama", "president_of", "USA")]
    parsed = parse_giellm(
        "<Conflict>Event Extraction:Attack;fired;Attacker;John;Target;Mary:Die;died", "Event Extraction"
    )
    assert parsed.labels == ["Conflict"] and parsed.ok
    assert parsed.items == [
        EventItem("Attack", "fired", (("Attacker", "John"), ("Target", "Mary"))),
        EventItem("Die", "died"),
    ]


def test_parse_colon_in_relation_arguments():
    items, errors = parse_items(":10:30;at;the hotel:Ann;met;Bo:b", "relations")
    assert items == [RelationItem("10:30", "at", "the hotel"), RelationItem("Ann", "met", "Bo:b")]
    assert errors == []


@pytest.mark.parametrize(
    ("output", "options", "labels", "items", "errors"),
    [
        ("PlayMusic:artist;muse", {}, [], [], ["missing task marker '/NER/'"]),
        ("PlayMusic/NER", {}, ["PlayMusic"], [], ["missing '/' after the task marker '/NER'"]),
        ("P/NER/:artist muse", {}, ["P"], [], ["item ':artist muse' has no ';'"]),
        (
            "P/NER/:artist muse:time;now",
            {},
            ["P"],
            [SpanItem("time", "now")],
            ["item ':artist muse' has no ';'"],
        ),
        (
            "P/NER/artist;muse",
            {},
            ["P"],
            [SpanItem("artist", "muse")],
            ["items must start with ':', got 'artist;muse'"],
        ),
        ("P/NER/:song;muse", {"types": {"artist"}}, ["P"], [], ["unknown type 'song' in item ':song;muse'"]),
        (
            "P/NER/:artist;muse:song;abc",
            {"types": {"artist"}, "attr_keys": ()},
            ["P"],
            [SpanItem("artist", "muse")],
            ["unknown type 'song' in item ':song;abc'"],
        ),
        (
            "P/NER/:artist;;x:t;a;b;c",
            {},
            ["P"],
            [],
            [
                "item ':artist;;x' has an empty field",
                "item ':t;a;b;c' has 4 fields; expected Type;Surface and at most 3 in all",
            ],
        ),
        ("a,,b/NER/", {}, ["a", "b"], [], ["empty text label at position 2"]),
        ("a,c/NER/", {"label_set": {"a", "b"}}, ["a"], [], ["unknown text label 'c'"]),
        (
            "/Relation Extraction/:a;r;b;c:a;s;b",
            {"task": "Relation Extraction", "types": {"r"}},
            [],
            [],
            [
                "item ':a;r;b;c' has 4 fields; expected Head;Relation;Tail",
                "unknown relation 's' in item ':a;s;b'",
            ],
        ),
        (
            "/Event Extraction/:Attack;fired;Attacker",
            {"task": "Event Extraction"},
            [],
            [],
            ["item ':Attack;fired;Attacker' has 3 fields; expected EventType;Trigger and Role;Argument pairs"],
        ),
    ],
)
def test_parse_oiellm_malformed(output, options, labels, items, errors):
    parsed = parse_oiellm(output, **options)
    assert (parsed.labels, parsed.items, parsed.errors, parsed.ok) == (labels, items, errors, False)


@pytest.mark.parametrize(
    ("output", "labels", "items", "errors"),
    [
        ("<PlayMusic>:artist;muse", ["PlayMusic"], [], ["missing task marker 'NER'"]),
        (
            "<PlayMusic>NER artist;muse",
            ["PlayMusic"],
            [SpanItem(" artist", "muse")],
            ["items must start with ':', got ' artist;muse'"],
        ),
        ("<>NER:a;b", [], [SpanItem("a", "b")], ["empty text label at position 1"]),
        ("<x>NER:a", ["x"], [], ["item ':a' has no ';'"]),
    ],
)
def test_parse_giellm_malformed(output, labels, items, errors):
    parsed = parse_giellm(output)
    assert (parsed.labels, parsed.items, parsed.errors) == (labels, items, errors)


def test_parse_giellm_with_candidates_and_types():
    parsed = parse_giellm("<a><z>NER:t;x:u;y", label_set=["a", "b"], types={"t"})
    assert parsed.labels == ["a"]
    assert parsed.errors == ["unknown text label 'z'"]
    # 'u' is no known type, and ':u;y' still fits the item before as its polarity
    assert parsed.items == [SpanItem("t", "x:u", {"polarity": "y"})]


# --- inputs ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "task", "expected"),
    [
        ("play 10/10 songs/NER", None, ("play 10/10 songs", "NER")),
        ("a b/Sentiment Adj", None, ("a b", "Sentiment Adj")),
        ("a/b/Relation Extraction", "Relation Extraction", ("a/b", "Relation Extraction")),
        ("/NER", None, ("", "NER")),
    ],
)
def test_oiellm_split_input(source, task, expected):
    assert oiellm.split_input(source, task) == expected


@pytest.mark.parametrize(
    ("source", "task", "expected"),
    [
        ("play muse <GetWeather><PlayMusic> NER", None, ("play muse", ["GetWeather", "PlayMusic"], "NER")),
        ("a  Relation Extraction", None, ("a", [], "Relation Extraction")),
        ("foo <b>  NER", None, ("foo <b>", [], "NER")),
        ("foo <b> <a> NER", None, ("foo <b>", ["a"], "NER")),
        ("ends with space  <a> NER", "NER", ("ends with space ", ["a"], "NER")),
        ("x <a/b><c> Sentiment Adj", "Sentiment Adj", ("x", ["a/b", "c"], "Sentiment Adj")),
    ],
)
def test_giellm_split_input(source, task, expected):
    assert giellm.split_input(source, task) == expected


@pytest.mark.parametrize(
    ("split", "source", "task", "message"),
    [
        (oiellm.split_input, "play muse", None, "input does not end with '/TASK'"),
        (oiellm.split_input, "play muse/NER", "RE", "input does not end with '/RE'"),
        (giellm.split_input, "play muse <a>", None, "input does not end with ' <labels> TASK'"),
        (giellm.split_input, "muse<a> NER", "NER", "no space between the text and the candidate labels"),
    ],
)
def test_split_input_errors(split, source, task, message):
    with pytest.raises(MrekitError) as info:
        split(source, task)
    assert (info.value.code, info.value.message, info.value.field) == ("E150", message, "input")


# --- locating surfaces -----------------------------------------------------------------------------------------


def test_to_example_kth_mention_maps_to_kth_occurrence():
    parsed = parse_oiellm("Greet/NER/:x;ab:y;ab:z;b")
    ex = to_example("ab ab b", parsed, example_id="1")
    assert ex.labels == ["Greet"] and ex.id == "1"
    assert [(s.start, s.end, s.label, s.surface) for s in ex.spans] == [
        (0, 2, "x", "ab"),
        (3, 5, "y", "ab"),
        (1, 2, "z", "b"),
    ]
    assert ex.meta == {}


def test_to_example_occurrences_do_not_overlap():
    ex = to_example("aaa", ParsedOutput(items=[SpanItem("x", "aa"), SpanItem("y", "aa")]))
    assert [s.key for s in ex.spans] == [(0, 2, "x")]
    assert ex.meta == {"missing": [["y", "aa"]]}


def test_to_example_keeps_attributes_and_reports_missing():
    parsed = parse_oiellm("/NER/:aspect;food;positive:aspect;wine;negative")
    ex = to_example("great food", parsed)
    assert ex.spans == [Span(6, 10, "aspect")] and ex.spans[0].attrs == {"polarity": "positive"}
    assert ex.meta == {"missing": [["aspect", "wine"]]}
    with pytest.raises(MrekitError) as info:
        to_example("great food", parsed, strict=True)
    assert (info.value.code, info.value.message) == ("E150", "not found in the text: 'wine'")


def test_to_example_strict_refuses_malformed_output():
    with pytest.raises(MrekitError) as info:
        to_example("a", parse_oiellm("x/NER/:a"), strict=True)
    assert (info.value.code, info.value.message) == ("E150", "malformed output: item ':a' has no ';'")


def test_to_example_relations_share_entity_spans():
    ex = to_example(RE_TEXT, parse_oiellm(render_oiellm(RE, kind="relations")[1], "Relation Extraction"))
    assert ex.spans == [Span(0, 5, "entity"), Span(18, 24, "entity"), Span(37, 40, "entity")]
    assert ex.relations == [Relation(0, 1, "born_in"), Relation(0, 2, "president_of")]
    partial = to_example(RE_TEXT, parse_oiellm("/RE/:Obama;born_in;Kenya:Obama;led;USA", "RE", kind="relations"))
    assert partial.spans == [Span(0, 5, "entity"), Span(37, 40, "entity")]
    assert partial.relations == [Relation(0, 1, "led")]
    assert partial.meta == {"missing": [["entity", "Kenya"]]}


def test_to_example_events():
    ex = to_example(EE.text, parse_giellm(render_giellm(EE, kind="events")[1], "Event Extraction"), arg_label="ARG")
    assert ex.labels == ["Conflict"]
    assert ex.spans == [Span(5, 10, "trigger"), Span(0, 4, "ARG"), Span(14, 18, "ARG")]
    assert ex.events == [Event(0, "Attack", (("Attacker", 1), ("Target", 2)))]
    partial = to_example(
        EE.text, parse_oiellm("/EE/:Attack;fired;Attacker;Bob;Target;Mary:Die;died", "EE", kind="events")
    )
    assert partial.events == [Event(0, "Attack", (("Target", 1),))]
    assert partial.meta == {"missing": [["entity", "Bob"], ["trigger", "died"]]}


# --- files -----------------------------------------------------------------------------------------------------


def test_oiellm_file_round_trip(tmp_path):
    path = tmp_path / "o.jsonl"
    assert formats.write([SNIPS, ABSA], path, "oiellm") == 2
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines == [
        {"id": "7", "input": "play muse at 10:30 pm/NER", "output": "PlayMusic/NER/:artist;muse:time;10:30 pm"},
        {
            "input": "great food, rude staff/NER",
            "output": "anecdotes/miscellaneous,service/NER/:aspect;food;positive:aspect;staff;negative",
        },
    ]
    first, second = formats.read(path, "oiellm")
    assert first == Example(
        SNIPS.text, id="7", labels=["PlayMusic"], spans=[Span(5, 9, "artist"), Span(13, 21, "time")]
    )
    assert second == Example(ABSA.text, labels=ABSA.labels, spans=ABSA.spans)
    assert [s.attrs for s in second.spans] == [{"polarity": "positive"}, {"polarity": "negative"}]


def test_giellm_file_round_trip_with_default_label_set(tmp_path):
    path = tmp_path / "g.jsonl"
    assert giellm.write(iter([SNIPS, ABSA, Example("hi", id="x")]), path) == 3
    inputs = [json.loads(line)["input"] for line in path.read_text(encoding="utf-8").splitlines()]
    candidates = "<PlayMusic><anecdotes/miscellaneous><service>"
    assert inputs == [f"{SNIPS.text} {candidates} NER", f"{ABSA.text} {candidates} NER", f"hi {candidates} NER"]
    first, second, third = giellm.read(path)
    assert first.spans == [Span(5, 9, "artist"), Span(13, 21, "time")] and first.id == "7"
    assert second.labels == ABSA.labels and second.spans == ABSA.spans
    assert third == Example(
        "hi", id="x", spans=[], meta={"candidates": ["PlayMusic", "anecdotes/miscellaneous", "service"]}
    )


def test_relation_and_event_files(tmp_path):
    path = tmp_path / "r.jsonl"
    oiellm.write([RE], path, kind="relations")
    (back,) = oiellm.read(path)
    assert back.relations == [Relation(0, 1, "born_in"), Relation(0, 2, "president_of")]
    giellm.write([EE], path, kind="events", overwrite=True)
    (back,) = giellm.read(path)
    assert back.events == EE.events and back.labels == ["Conflict"]


def test_types_make_colons_before_attributes_round_trip(tmp_path):
    ex = Example("at 10:30 pm", spans=[Span(3, 11, "time", {"polarity": "neutral"})])
    path = tmp_path / "t.jsonl"
    with pytest.raises(MrekitError) as info:
        oiellm.write([ex], path)
    assert (info.value.code, info.value.field) == ("E150", "examples[0]")
    assert not path.exists()
    oiellm.write([ex], path, types={"time"})
    assert list(oiellm.read(path, types={"time"}))[0].spans == [Span(3, 11, "time")]


@pytest.mark.parametrize("module", [oiellm, giellm])
@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("PlayMusic:artist;muse", "malformed output: missing task marker"),
        ("{labels}NER{sep}:artist muse", "malformed output: item ':artist muse' has no ';'"),
        ("{labels}NER{sep}:artist;mozart", "not found in the text: 'mozart'"),
    ],
)
def test_malformed_line_in_file_is_E150_with_line(tmp_path, module, output, message):
    labels, sep = ("<PlayMusic>", "") if module is giellm else ("PlayMusic/", "/")
    path = tmp_path / "bad.jsonl"
    module.write([SNIPS], path)
    good = path.read_text(encoding="utf-8")
    bad = json.dumps({"input": json.loads(good)["input"], "output": output.format(labels=labels, sep=sep)})
    path.write_text(f"{good}\n{bad}\n", encoding="utf-8")  # line 2 is blank
    with pytest.raises(MrekitError) as info:
        list(module.read(path))
    assert (info.value.code, info.value.path, info.value.line) == ("E150", str(path), 3)
    assert info.value.message.startswith(message)


@pytest.mark.parametrize("module", [oiellm, giellm])
@pytest.mark.parametrize(
    ("lines", "code", "line"),
    [
        ([], "E101", None),
        (["", "  "], "E101", None),
        (['{"input": "a/NER", "output": "/NER/"'], "E103", 1),
        (['{"input": "a/NER"}'], "E104", 1),
        (["[1]"], "E104", 1),
        (['{"id": [1], "input": "a/NER", "output": "/NER/"}'], "E104", 1),
        (['{"input": "a", "output": "/NER/"}'], "E150", 1),
    ],
)
def test_bad_files(tmp_path, module, lines, code, line):
    path = tmp_path / "x.jsonl"
    path.write_text("".join(f"{text}\n" for text in lines), encoding="utf-8")
    with pytest.raises(MrekitError) as info:
        list(module.read(path))
    assert (info.value.code, info.value.line) == (code, line)


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text("old\n")
    with pytest.raises(MrekitError) as info:
        giellm.write([SNIPS, Example("a;b", spans=[Span(0, 3, "x")])], path, overwrite=True)
    assert (info.value.code, info.value.field) == ("E150", "examples[1]")
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["g.jsonl"]


def test_task_given_to_read_must_match(tmp_path):
    path = tmp_path / "o.jsonl"
    oiellm.write([SNIPS], path, task="Slot")
    assert list(oiellm.read(path, task="Slot"))[0].spans == [Span(5, 9, "artist"), Span(13, 21, "time")]
    with pytest.raises(MrekitError) as info:
        list(oiellm.read(path, task="NER"))
    assert (info.value.code, info.value.line, info.value.message) == ("E150", 1, "input does not end with '/NER'")


# --- properties ------------------------------------------------------------------------------------------------

STYLES = {"oiellm": (render_oiellm, parse_oiellm), "giellm": (render_giellm, parse_giellm)}
LABELS = st.lists(st.text("abcxyz/_#", min_size=1, max_size=8), max_size=3)
TYPES = st.text("ABCDE", min_size=1, max_size=3)
POLARITY = st.sampled_from([None, "positive", "negative", "neutral"])


@st.composite
def span_examples(draw, *, with_attrs: bool) -> Example:
    text = draw(st.text("ab :/. ", min_size=1, max_size=30))
    spans = []
    for _ in range(draw(st.integers(0, 5))):
        start = draw(st.integers(0, len(text) - 1))
        end = draw(st.integers(start + 1, len(text)))
        polarity = draw(POLARITY) if with_attrs else None
        spans.append(Span(start, end, draw(TYPES), {"polarity": polarity} if polarity else {}))
    return Example(text, labels=draw(LABELS), spans=spans)


def pair_counts(example: Example) -> Counter:
    return Counter((s.label, example.surface(s), tuple(sorted(s.attrs.items()))) for s in example.spans)


@settings(max_examples=200, deadline=None)
@given(span_examples(with_attrs=True), st.sampled_from(sorted(STYLES)))
def test_property_render_parse_gives_labels_and_pairs_back(example, style):
    render, parse = STYLES[style]
    types = {s.label for s in example.spans}
    _, output = render(example, types=types)
    parsed = parse(output, types=types)
    assert parsed.ok and parsed.labels == example.labels
    assert Counter((i.type, i.surface, tuple(sorted(i.attrs.items()))) for i in parsed.items) == pair_counts(example)


@settings(max_examples=200, deadline=None)
@given(span_examples(with_attrs=False), st.sampled_from(sorted(STYLES)))
def test_property_without_attributes_types_are_not_needed(example, style):
    render, parse = STYLES[style]
    _, output = render(example)
    parsed = parse(output)
    assert parsed.ok and parsed.labels == example.labels
    assert Counter((t, s, ()) for t, s in parsed.pairs) == pair_counts(example)


def occurs_once(text: str, surface: str) -> bool:
    return len(re.findall(f"(?={re.escape(surface)})", text)) == 1


@st.composite
def located_examples(draw, alphabet: str = "abc:/") -> Example:
    words = draw(st.lists(st.text(alphabet, min_size=1, max_size=4), min_size=1, max_size=8, unique=True))
    text = " ".join(words)
    starts = [sum(len(w) + 1 for w in words[:i]) for i in range(len(words))]
    spans, i = [], 0
    while i < len(words):
        width = draw(st.integers(0, 2))
        if width and i + width <= len(words):
            span = Span(starts[i], starts[i + width - 1] + len(words[i + width - 1]), draw(TYPES))
            if occurs_once(text, text[span.start : span.end]):
                spans.append(span)
        i += max(width, 1)
    return Example(text, labels=draw(LABELS), spans=draw(st.permutations(spans)))


@settings(max_examples=200, deadline=None)
@given(located_examples(), st.sampled_from(sorted(STYLES)))
def test_property_parse_to_example_gives_character_spans_back(example, style):
    render, parse = STYLES[style]
    source, output = render(example)
    text = oiellm.split_input(source)[0] if style == "oiellm" else giellm.split_input(source)[0]
    back = to_example(text, parse(output), strict=True)
    assert back.text == example.text and back.labels == example.labels
    assert back.spans == sorted(example.spans, key=lambda s: (s.start, s.end))


@settings(max_examples=100, deadline=None)
@given(located_examples("abc/"), st.data())  # a ':' in a head is ambiguous, see test_parse_colon_in_relation_arguments
def test_property_relations_round_trip(example, data):
    n = len(example.spans)
    if n:
        pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.sampled_from(["born_in", "led"]))
        example.relations = [Relation(h, t, r) for h, t, r in data.draw(st.lists(pairs, max_size=4))]
    _, output = render_oiellm(example, kind="relations")
    back = to_example(example.text, parse_oiellm(output, kind="relations"), strict=True)
    assert relation_triples(back) == relation_triples(example)


def relation_triples(example: Example) -> Counter:
    spans = example.spans or []
    return Counter((example.surface(spans[r.head]), r.label, example.surface(spans[r.tail])) for r in example.relations)


@settings(max_examples=200, deadline=None)
@given(
    st.text(":;/<>,NERabc \n", max_size=40),
    st.sampled_from(sorted(STYLES)),
    st.sampled_from(["spans", "relations", "events"]),
    st.none() | st.sets(st.sampled_from(["a", "b", "NER"])),
)
def test_property_parsing_never_raises(output, style, kind, types):
    parsed = STYLES[style][1](output, "NER", kind=kind, types=types)
    assert parsed.ok == (parsed.errors == [])
    to_example("abc", parsed)
