"""spaCy interop: Doc conversion, DocBin files, displaCy."""

from __future__ import annotations

import builtins
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrekit import formats
from mrekit.errors import MrekitError
from mrekit.formats import jsonl
from mrekit.schema import Event, Example, Relation, Span

spacy = pytest.importorskip("spacy")
mspacy = pytest.importorskip("mrekit.formats.spacy")

FIXTURES = Path(__file__).parent.parent / "fixtures"


def english() -> Example:
    return Example(
        "Book a table at  Chez Panisse in Berkeley, please.",
        id="en-1",
        labels=["BookRestaurant"],
        label_attrs={"BookRestaurant": {"polarity": "neutral"}},
        spans=[
            Span(17, 29, "restaurant", attrs={"polarity": "positive"}),
            Span(33, 41, "city", score=0.75),
        ],
        relations=[Relation(0, 1, "located_in")],
        events=[Event(0, "booking", (("place", 1),))],
        meta={"lang": "en", "split": "test"},
    )


def japanese() -> Example:
    examples = list(jsonl.read(FIXTURES / "ja_ner.jsonl"))
    return next(e for e in examples if e.id == "stockmark-846793")


def assert_same(got: Example, want: Example) -> None:
    assert got.text == want.text
    assert got.id == want.id
    assert got.labels == want.labels
    assert got.label_attrs == want.label_attrs
    assert got.spans == want.spans
    assert [s.attrs for s in got.spans] == [s.attrs for s in want.spans]
    assert [s.score for s in got.spans] == [s.score for s in want.spans]
    assert got.relations == want.relations
    assert got.events == want.events
    assert got.meta == want.meta


def test_english_doc_has_spans_ents_and_cats():
    doc = mspacy.example_to_doc(english(), label_set=["BookRestaurant", "GetWeather"])
    assert doc.text == english().text
    assert doc.cats == {"BookRestaurant": 1.0, "GetWeather": 0.0}
    assert [(e.text, e.label_, e.start_char, e.end_char) for e in doc.ents] == [
        ("Chez Panisse", "restaurant", 17, 29),
        ("Berkeley", "city", 33, 41),
    ]
    assert [(s.text, s.label_) for s in doc.spans["sc"]] == [("Chez Panisse", "restaurant"), ("Berkeley", "city")]
    assert_same(mspacy.doc_to_example(doc), english())


def test_japanese_tokens_follow_span_boundaries():
    example = japanese()
    doc = mspacy.example_to_doc(example)
    assert [t.text for t in doc] == [
        "かつては",
        "東京都三鷹市",
        "にオフィスを構えていたが、",
        "大月",
        "の",
        "キングレコード",
        "退職を機に事業を停止。",
    ]
    assert [(e.text, e.label_) for e in doc.ents] == [
        ("東京都三鷹市", "地名"),
        ("大月", "人名"),
        ("キングレコード", "法人名"),
    ]
    assert_same(mspacy.doc_to_example(doc), example)


def test_docbin_round_trip_english_and_japanese(tmp_path):
    out = tmp_path / "data.spacy"
    assert formats.write([english(), japanese()], out, "spacy") == 2
    assert formats.infer_format(out) == "spacy"
    got = list(formats.read(out))
    assert len(got) == 2
    assert_same(got[0], english())
    assert_same(got[1], japanese())
    assert not list(tmp_path.glob(".*.tmp"))


def test_overlapping_spans_survive_in_the_span_group(tmp_path):
    example = Example(
        "New York City Hall",
        labels=["place"],
        spans=[Span(0, 13, "city"), Span(0, 18, "building"), Span(4, 8, "word")],
    )
    doc = mspacy.example_to_doc(example)
    assert len(doc.ents) == 0
    assert [(s.text, s.label_) for s in doc.spans["sc"]] == [
        ("New York City", "city"),
        ("New York City Hall", "building"),
        ("York", "word"),
    ]
    out = tmp_path / "overlap.spacy"
    mspacy.write([example], out)
    assert next(mspacy.read(out)).spans == example.spans


def test_word_level_absent_or_empty_is_kept(tmp_path):
    out = tmp_path / "levels.spacy"
    mspacy.write([Example("no word level", labels=["a"]), Example("no spans", spans=[])], out)
    first, second = mspacy.read(out)
    assert first.spans is None and first.labels == ["a"]
    assert second.spans == [] and second.labels == []


def test_spans_with_whitespace_edges_stay_exact():
    text = "a  b\tc d"
    spans = [Span(1, 3, "gap"), Span(0, 2, "a_space"), Span(5, 8, "c d")]
    doc = mspacy.example_to_doc(Example(text, spans=spans))
    assert doc.text == text
    assert [(s.start_char, s.end_char) for s in doc.spans["sc"]] == [(1, 3), (0, 2), (5, 8)]


def test_foreign_doc_uses_ents():
    nlp = spacy.blank("en")
    doc = nlp("Alice met Bob")
    doc.ents = [doc.char_span(0, 5, label="PER")]
    doc.cats = {"greeting": 0.2, "meeting": 0.9}
    example = mspacy.doc_to_example(doc)
    assert example.labels == ["meeting"]
    assert example.spans == [Span(0, 5, "PER")]
    assert mspacy.doc_to_example(nlp("plain text")).spans is None


def test_displacy_renders_entities():
    from spacy import displacy

    html = displacy.render(mspacy.example_to_doc(english()), style="ent", jupyter=False)
    assert "Chez Panisse" in html and "restaurant" in html
    html = displacy.render(mspacy.example_to_doc(japanese()), style="ent", jupyter=False)
    assert "キングレコード" in html and "法人名" in html


def test_invalid_span_is_an_error():
    with pytest.raises(MrekitError) as err:
        mspacy.example_to_doc(Example("short", spans=[Span(2, 9, "x")]))
    assert err.value.code == "E110"


def test_bad_and_empty_files(tmp_path):
    bad = tmp_path / "bad.spacy"
    bad.write_bytes(b"not a docbin")
    with pytest.raises(MrekitError) as err:
        list(mspacy.read(bad))
    assert err.value.code == "E104"
    empty = tmp_path / "empty.spacy"
    assert mspacy.write([], empty) == 0
    with pytest.raises(MrekitError) as err:
        list(mspacy.read(empty))
    assert err.value.code == "E101"
    with pytest.raises(MrekitError) as err:
        list(mspacy.read(tmp_path / "missing.spacy"))
    assert err.value.code == "E100"


def test_missing_spacy_gives_e132(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_spacy(name, *args, **kwargs):
        if name == "spacy" or name.startswith("spacy."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "spacy", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_spacy)
    with pytest.raises(MrekitError) as err:
        mspacy.write([Example("x")], tmp_path / "x.spacy")
    assert err.value.code == "E132"
    assert "pip install mrekit[spacy]" in str(err.value)
    assert not (tmp_path / "x.spacy").exists()


_TEXT = st.text(alphabet="ab 東京\t\n", min_size=1, max_size=20)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), text=_TEXT)
def test_any_valid_spans_become_token_spans(data, text):
    bounds = st.integers(0, len(text))
    pairs = data.draw(st.lists(st.tuples(bounds, bounds).filter(lambda p: p[0] < p[1]), max_size=4))
    example = Example(text, spans=[Span(a, b, "x") for a, b in pairs])
    doc = mspacy.example_to_doc(example)
    assert doc.text == text
    assert mspacy.doc_to_example(doc).spans == example.spans


def _raw_cats(path: Path) -> list[dict[str, float]]:
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    return [doc.cats for doc in DocBin().from_disk(path).get_docs(Vocab())]


def test_docbin_cats_list_every_label_of_the_data(tmp_path):
    out = tmp_path / "train.spacy"
    examples = [
        Example("play muse", labels=["PlayMusic"]),
        Example("rain?", labels=["GetWeather", "Question"]),
        Example("no text level", spans=[]),
    ]
    mspacy.write(examples, out)
    assert _raw_cats(out) == [
        {"PlayMusic": 1.0, "GetWeather": 0.0, "Question": 0.0},
        {"PlayMusic": 0.0, "GetWeather": 1.0, "Question": 1.0},
        {},  # not annotated at the text level: missing values for spaCy, not negatives
    ]
    assert [e.labels for e in mspacy.read(out)] == [["PlayMusic"], ["GetWeather", "Question"], []]
    mspacy.write(examples[:1], out, label_set=["PlayMusic", "Other"], overwrite=True)
    assert _raw_cats(out) == [{"PlayMusic": 1.0, "Other": 0.0}]


def test_predictions_put_their_scores_in_cats(tmp_path):
    pred = Example("play muse", labels=["PlayMusic"], label_scores={"PlayMusic": 0.45, "GetWeather": 0.3})
    doc = mspacy.example_to_doc(pred, label_set=["PlayMusic", "GetWeather", "BookRestaurant"])
    assert doc.cats == {"PlayMusic": 0.45, "GetWeather": 0.3, "BookRestaurant": 0.0}
    back = mspacy.doc_to_example(doc)
    assert back.labels == ["PlayMusic"]  # the predicted label, though its score is under 0.5
    assert back.label_scores == {"PlayMusic": 0.45, "GetWeather": 0.3}
    out = tmp_path / "pred.spacy"
    mspacy.write([pred], out)
    assert _raw_cats(out) == [{"PlayMusic": 0.45, "GetWeather": 0.3}]


def test_displacy_options_give_each_span_label_a_colour():
    from spacy import displacy

    labels = sorted({s.label for ex in (english(), japanese()) for s in ex.spans})
    options = mspacy.displacy_options(labels)
    assert options == {
        "colors": {
            "city": "#7aecec",
            "restaurant": "#bfeeb7",
            "人名": "#feca74",
            "地名": "#ff9561",
            "法人名": "#aa9cfc",
        }
    }
    html = displacy.render(mspacy.example_to_doc(japanese()), style="ent", jupyter=False, options=options)
    assert f"background: {options['colors']['法人名']}" in html
    many = mspacy.displacy_options(f"L{i}" for i in range(40))["colors"]
    assert len(set(many.values())) == 40
    spans = displacy.render(
        mspacy.example_to_doc(english()), style="span", jupyter=False, options={**options, "spans_key": "sc"}
    )
    assert options["colors"]["restaurant"] in spans


# --- attributes: span extensions, label attributes, scores --------------------------------------


def absa_english() -> Example:
    """A prediction: one target carrying two categories with different polarities (same offsets)."""
    return Example(
        "The pizza was great but overpriced.",
        id="absa-1",
        labels=["food"],
        label_scores={"food": 0.9, "service": 0.1},
        label_attrs={"food": {"polarity": "conflict"}},
        label_attr_scores={"food": {"polarity": {"conflict": 0.6, "positive": 0.3, "negative": 0.1}}},
        spans=[
            Span(4, 9, "FOOD#QUALITY", attrs={"polarity": "positive"}, score=0.8,
                 attr_scores={"polarity": {"positive": 0.9, "negative": 0.1}}),
            Span(4, 9, "FOOD#PRICES", attrs={"polarity": "negative"}, score=0.7,
                 attr_scores={"polarity": {"negative": 0.91, "positive": 0.06, "neutral": 0.03}}),
            Span(14, 19, "opinion"),
        ],
        meta={"tags": ["a", "b"]},
    )  # fmt: skip


def absa_japanese() -> Example:
    text = "𠮷野家の牛丼は安いが、接客は悪い。"
    return Example(
        text,
        labels=["価格", "接客"],
        label_attrs={"価格": {"polarity": "positive"}, "接客": {"polarity": "negative"}},
        label_attr_scores={"価格": {"polarity": {"positive": 0.75}}, "接客": {"polarity": {"negative": 0.88}}},
        spans=[
            Span(4, 6, "aspect", attrs={"polarity": "positive"}, attr_scores={"polarity": {"positive": 0.7}}),
            Span(11, 13, "aspect", attrs={"polarity": "negative"}, attr_scores={"polarity": {"negative": 0.8}}),
        ],
    )


def assert_same_attrs(got: Example, want: Example) -> None:
    assert_same(got, want)
    assert [s.attr_scores for s in got.spans] == [s.attr_scores for s in want.spans]
    assert got.label_attr_scores == want.label_attr_scores
    assert got.label_scores == want.label_scores


def test_span_attributes_are_extension_attributes():
    doc = mspacy.example_to_doc(absa_english())
    group = doc.spans["sc"]
    assert [(s.text, s.label_, s._.mrekit_attrs) for s in group] == [
        ("pizza", "FOOD#QUALITY", {"polarity": "positive"}),
        ("pizza", "FOOD#PRICES", {"polarity": "negative"}),  # same offsets, its own attributes
        ("great", "opinion", {}),
    ]
    assert group[1]._.mrekit_attr_scores == {"polarity": {"negative": 0.91, "positive": 0.06, "neutral": 0.03}}
    assert group[2]._.mrekit_attr_scores is None
    assert doc.char_span(4, 9, label="FOOD#PRICES")._.mrekit_attrs == {"polarity": "negative"}
    assert doc.char_span(0, 3)._.mrekit_attrs is None  # a span mrekit did not write
    assert doc._.mrekit_label_attrs == {"food": {"polarity": "conflict"}}
    assert doc._.mrekit_label_attrs is doc.user_data["mrekit"]["label_attrs"]
    assert doc._.mrekit_label_attr_scores["food"]["polarity"]["conflict"] == 0.6


def test_entities_see_the_same_attributes():
    doc = mspacy.example_to_doc(english())
    ents = [(e.text, e._.mrekit_attrs) for e in doc.ents]
    assert ents == [("Chez Panisse", {"polarity": "positive"}), ("Berkeley", {})]
    assert doc._.mrekit_label_attrs == {"BookRestaurant": {"polarity": "neutral"}}


def test_attributes_are_copied_not_shared():
    example = absa_english()
    doc = mspacy.example_to_doc(example)
    doc.spans["sc"][0]._.mrekit_attrs["polarity"] = "neutral"
    assert example.spans[0].attrs == {"polarity": "positive"}
    assert mspacy.doc_to_example(doc).spans[0].attrs == {"polarity": "neutral"}  # edits in spaCy are read back


def test_setting_extensions_is_read_back():
    doc = mspacy.example_to_doc(Example("good ramen", labels=["food"], spans=[Span(5, 10, "aspect")]))
    doc.spans["sc"][0]._.mrekit_attrs = {"polarity": "positive"}
    doc._.mrekit_label_attrs = {"food": {"polarity": "positive"}}
    back = mspacy.doc_to_example(doc)
    assert back.spans[0].attrs == {"polarity": "positive"}
    assert back.label_attrs == {"food": {"polarity": "positive"}}
    # a foreign doc: the setter keeps the attributes next to the span
    foreign = spacy.blank("en")("good ramen")
    foreign.ents = [foreign.char_span(5, 10, label="aspect")]
    foreign.ents[0]._.mrekit_attrs = {"polarity": "negative"}
    assert mspacy.doc_to_example(foreign).spans[0].attrs == {"polarity": "negative"}


def test_register_extensions_is_idempotent():
    from spacy.tokens import Doc
    from spacy.tokens import Span as SpacySpan

    before = SpacySpan.get_extension("mrekit_attrs") if SpacySpan.has_extension("mrekit_attrs") else None
    mspacy.register_extensions()
    mspacy.register_extensions()
    assert SpacySpan.has_extension("mrekit_attrs") and SpacySpan.has_extension("mrekit_attr_scores")
    assert Doc.has_extension("mrekit_label_attrs") and Doc.has_extension("mrekit_label_attr_scores")
    if before is not None:
        assert SpacySpan.get_extension("mrekit_attrs") == before


@pytest.mark.parametrize("make", [absa_english, absa_japanese, english, japanese])
def test_attributes_survive_doc_docbin_bytes_doc(make):
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    example = make()
    doc = mspacy.example_to_doc(example)
    assert_same_attrs(mspacy.doc_to_example(doc), example)
    data = DocBin(store_user_data=True, docs=[doc]).to_bytes()
    (loaded,) = DocBin().from_bytes(data).get_docs(Vocab())
    assert_same_attrs(mspacy.doc_to_example(loaded), example)
    assert [s._.mrekit_attrs for s in loaded.spans["sc"]] == [s.attrs for s in example.spans]
    assert [s._.mrekit_attr_scores for s in loaded.spans["sc"]] == [s.attr_scores for s in example.spans]
    assert loaded._.mrekit_label_attrs == example.label_attrs


def test_japanese_attributes_in_a_spacy_file(tmp_path):
    example = absa_japanese()
    out = tmp_path / "ja.spacy"
    mspacy.write([example, absa_english()], out)
    got = list(mspacy.read(out))
    assert_same_attrs(got[0], example)
    assert_same_attrs(got[1], absa_english())
    assert [got[0].surface(s) for s in got[0].spans] == ["牛丼", "接客"]
    assert got[1].meta == {"tags": ["a", "b"]}  # lists stay lists (DocBin reads msgpack arrays as tuples)


def test_files_without_span_keys_are_read_by_position():
    """user_data as written before the records named their span."""
    doc = mspacy.example_to_doc(english())
    for record in doc.user_data["mrekit"]["spans"]:
        del record["start"], record["end"], record["label"]
    assert_same(mspacy.doc_to_example(doc), english())
