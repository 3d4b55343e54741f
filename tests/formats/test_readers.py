from __future__ import annotations

import json

import pytest

from mrekit import MrekitError, Span, formats
from mrekit.formats import semeval, stockmark


def test_semeval_categories_are_labels_terms_are_spans(fixtures):
    first, second = semeval.read(fixtures / "absa_mini.xml")
    assert first.id == "s1"
    assert first.labels == ["service", "food"]
    assert first.label_attrs == {"service": {"polarity": "negative"}, "food": {"polarity": "positive"}}
    assert first.spans == [Span(4, 10, "aspect"), Span(28, 33, "aspect")]
    assert [s.attrs for s in first.spans] == [{"polarity": "negative"}, {"polarity": "positive"}]
    assert second.labels == ["anecdotes/miscellaneous"] and second.spans == []


def test_semeval_offset_mismatch_and_bad_xml(tmp_path, fixtures):
    bad = tmp_path / "bad.xml"
    bad.write_text((fixtures / "absa_mini.xml").read_text().replace('from="28" to="33"', 'from="27" to="33"'))
    with pytest.raises(MrekitError) as info:
        list(semeval.read(bad))
    assert info.value.code == "E112" and "sentence id=s1" in info.value.message
    broken = tmp_path / "broken.xml"
    broken.write_text("<sentences>\n<sentence id='1'>\n<text>a</text>\n</sentences>\n")
    with pytest.raises(MrekitError) as info:
        list(semeval.read(broken))
    assert (info.value.code, info.value.line) == ("E140", 4)


def test_stockmark_spans_only(fixtures):
    examples = list(stockmark.read(fixtures / "stockmark_mini.json"))
    assert len(examples) == 3
    ex = examples[1]
    assert ex.text == "レッドフォックス株式会社は、東京都千代田区に本社を置くITサービス企業である。"
    assert [(ex.surface(s), s.label) for s in ex.spans] == [
        ("レッドフォックス株式会社", "法人名"),
        ("東京都千代田区", "地名"),
    ]
    assert ex.labels == [] and ex.meta["lang"] == "ja"


def test_stockmark_bad_entity(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps([{"curid": "1", "text": "日本", "entities": [{"name": "日本", "span": [0, 5], "type": "地名"}]}])
    )
    with pytest.raises(MrekitError) as info:
        list(stockmark.read(path))
    assert info.value.code == "E110" and info.value.field == "spans[0]"
    path.write_text('[\n{"text": "a",\n')
    with pytest.raises(MrekitError) as info:
        list(stockmark.read(path))
    assert info.value.code == "E103" and info.value.line == 3


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("absa_mini.xml", "semeval-absa"),
        ("stockmark_mini.json", "stockmark"),
        ("mini.conll", "conll"),
        ("bio_mini", "bio"),
    ],
)
def test_infer_format(fixtures, name, expected):
    assert formats.infer_format(fixtures / name) == expected


def test_infer_and_unknown_formats(tmp_path):
    odd = tmp_path / "data.csv"
    odd.write_text("a,b\n")
    with pytest.raises(MrekitError, match=r"\[E131\]"):
        formats.infer_format(odd)
    gen = tmp_path / "gen.jsonl"
    gen.write_text('{"input": "a/NER", "output": "x/NER/"}\n')
    with pytest.raises(MrekitError, match=r"\[E131\].*--from oiellm or giellm"):
        formats.infer_format(gen)
    with pytest.raises(MrekitError, match=r"\[E130\] unknown format 'xml'"):
        formats.format_module("xml")
    with pytest.raises(MrekitError, match=r"can be read but not written"):
        formats.write([], tmp_path / "x", "stockmark")


@pytest.mark.parametrize(
    ("path", "to", "expected"),
    [
        ("y.spacy", None, "spacy"),
        ("Y.CONLL", None, "conll"),
        ("y.iob", None, "conll"),
        ("y.jsonl", None, "jsonl"),
        ("y.jsonl", "doccano", "doccano"),
        ("-", None, "jsonl"),
        ("-", "spacy", "spacy"),
        ("folder", None, "jsonl"),
        ("folder", "bio", "bio"),
        ("y.json", "labelstudio", "labelstudio"),
        ("y.xml", None, "semeval-absa"),
    ],
)
def test_output_format_follows_the_suffix(path, to, expected):
    assert formats.infer_output_format(path, to) == expected


@pytest.mark.parametrize(
    ("path", "to", "says"),
    [
        ("y.spacy", "jsonl", "--to jsonl contradicts the output name: a .spacy file is spacy"),
        ("y.conll", "bio", "--to bio writes a folder, but the output name has the file suffix .conll"),
        ("y.jsonl", "labelstudio", "a .jsonl file is jsonl or doccano or oiellm or giellm"),
        ("y.json", "jsonl", "pass --to labelstudio"),
    ],
)
def test_output_format_contradicting_the_suffix_is_e135(path, to, says):
    with pytest.raises(MrekitError) as err:
        formats.infer_output_format(path, to)
    assert err.value.code == "E135" and err.value.path == path and says in str(err.value)


def test_json_output_needs_to_and_unknown_to_is_e130():
    with pytest.raises(MrekitError) as err:
        formats.infer_output_format("tasks.json")
    assert err.value.code == "E131" and "--to labelstudio" in err.value.hint
    with pytest.raises(MrekitError, match=r"\[E130\] unknown format 'xlsx'"):
        formats.infer_output_format("y.spacy", "xlsx")
    assert formats.writable("labelstudio") and formats.writable("doccano") and not formats.writable("stockmark")
