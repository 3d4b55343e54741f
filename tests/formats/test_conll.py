from __future__ import annotations

import pytest

from mrekit import Example, MrekitError, Span
from mrekit.formats import conll


def test_reads_labels_ids_and_japanese_offsets(fixtures):
    en, ja = conll.read(fixtures / "mini.conll")
    assert (en.id, en.text, en.labels, en.spans) == ("en1", "play muse", ["PlayMusic"], [Span(5, 9, "artist")])
    assert ja.text == "松友美佐紀は、日本の選手。"
    assert [(ja.surface(s), s.start, s.end, s.label) for s in ja.spans] == [
        ("松友美佐紀", 0, 5, "人名"),
        ("日本", 7, 9, "地名"),
    ]


def test_japanese_tokens_without_text_line_are_joined_without_spaces(tmp_path):
    path = tmp_path / "ja.conll"
    path.write_text("レッドフォックス株式会社\tB-法人名\nは\tO\n東京都\tB-地名\n千代田区\tI-地名\n", encoding="utf-8")
    (ex,) = conll.read(path)
    assert ex.text == "レッドフォックス株式会社は東京都千代田区"
    assert [(s.start, s.end, s.label) for s in ex.spans] == [(0, 12, "法人名"), (13, 20, "地名")]
    assert ex.surface(ex.spans[1]) == "東京都千代田区"


def test_round_trip_keeps_text_exactly(tmp_path):
    examples = [
        Example("the  pasta, superb!", id="a", labels=["food", "x"], spans=[Span(5, 10, "aspect")]),
        Example("東京都に住む", id="b", spans=[Span(0, 3, "地名")]),
    ]
    path = tmp_path / "out.conll"
    assert conll.write(examples, path) == 2
    assert path.read_text(encoding="utf-8").split("\n")[:7] == [
        "# id = a",
        "# text = the  pasta, superb!",
        "# label = food",
        "# label = x",
        "the\tO",
        "pasta\tB-aspect",
        ",\tO",
    ]
    assert list(conll.read(path)) == examples


def test_missing_tag_column_is_located(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("play\tO\nmuse\n")
    with pytest.raises(MrekitError) as info:
        list(conll.read(path))
    assert (info.value.code, info.value.line) == ("E120", 2)


def test_tokens_must_spell_the_text(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("\n# text = play muse\nplay\tO\nblur\tB-artist\n")
    with pytest.raises(MrekitError) as info:
        list(conll.read(path))
    assert (info.value.code, info.value.line) == ("E124", 2)


def test_overlapping_spans_cannot_be_written(tmp_path):
    ex = Example("new york city", spans=[Span(0, 8, "a"), Span(4, 13, "b")])
    with pytest.raises(MrekitError, match=r"\[E113\]"):
        conll.write([ex], tmp_path / "o.conll")
    assert not (tmp_path / "o.conll").exists()


def test_text_with_a_line_break_is_refused_and_nothing_is_written(tmp_path):
    good = Example("play muse", id="a")
    broken = Example("play\nmuse", id="b", spans=[Span(5, 9, "artist")])
    with pytest.raises(MrekitError, match=r"\[E123\].*example 1 \(b\).*line break") as err:
        conll.write([good, broken], tmp_path / "o.conll")
    assert "JSONL" in str(err.value.hint)
    assert not (tmp_path / "o.conll").exists()
