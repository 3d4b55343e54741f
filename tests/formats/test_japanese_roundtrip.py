"""Japanese end to end through every writable format: character offsets, no whitespace assumptions.

Offsets are Python ``str`` indices, i.e. Unicode code points: "𠮷" (U+20BB7, CJK
extension B) and "🍜" (U+1F35C) are one character each, although UTF-16 (JavaScript,
Java) counts two. Label Studio and doccano also store code points (Label Studio since
label-studio-frontend#308, doccano since doccano#99), so the offsets below are what those
tools read too.

What each format does with Japanese:

* ``jsonl``, ``doccano``, ``labelstudio``, ``spacy``, ``oiellm``, ``giellm``: the text, text
  labels and span offsets come back exactly; JSON files hold the characters themselves
  (no ``\\u`` escapes).
* ``conll``: words are cut at whitespace and at span edges (no tokenizer, no language
  assumption) and the ``# text`` line keeps the original text, so Japanese round-trips.
  Without ``# text`` tokens in a script without spaces are joined with nothing.
* ``bio``: ``seq.in`` holds space-separated tokens and the reader joins them with single
  spaces, so a Japanese text with spans (which cut inside its one whitespace "word") or with
  an ideographic space is refused with ``E123`` (hint: ``--to conll``), nothing written; a
  text without spans is one token and round-trips; text that already is single-space
  separated words round-trips; a hand-made per-character folder reads with spaces inserted.
"""

from __future__ import annotations

import json
import logging

import pytest

from mrekit import Example, MrekitError, Span, formats
from mrekit.formats import bio, conll, giellm, labelstudio, oiellm


def _span(text: str, surface: str, label: str) -> Span:
    start = text.index(surface)
    return Span(start, start + len(surface), label)


TOKYO = "東京都に住む山田太郎さんはトヨタ自動車に勤めている。"
# CJK extension B kanji (a surrogate pair in UTF-16), full-width digits, an emoji,
# half-width katakana, and two spans that touch ("🍜" then "ｶﾀｶﾅ").
MIXED = "𠮷野家で牛丼を２０２４円分食べた🍜ｶﾀｶﾅもOK"
# Japanese punctuation and an ideographic space (U+3000), which Python counts as whitespace.
SPACED = "「東京」　と　大阪。"
EMPTY = "今日は晴れ。"


def _examples() -> list[Example]:
    return [
        Example(
            TOKYO,
            id="ja-1",
            labels=["人物"],
            spans=[_span(TOKYO, "東京都", "LOC"), _span(TOKYO, "山田太郎", "PER"), _span(TOKYO, "トヨタ自動車", "ORG")],
        ),
        Example(
            MIXED,
            id="ja-2",
            labels=["食事"],
            spans=[
                _span(MIXED, "𠮷野家", "店名"),
                _span(MIXED, "２０２４円", "金額"),
                _span(MIXED, "🍜", "料理"),
                _span(MIXED, "ｶﾀｶﾅ", "MISC"),
            ],
        ),
        Example(
            SPACED,
            id="ja-3",
            labels=["地名", "比較"],
            spans=[_span(SPACED, "東京", "地名"), _span(SPACED, "大阪", "地名")],
        ),
        Example(EMPTY, id="ja-4", labels=["天気"], spans=[]),  # annotated, no spans
    ]


def _keys(example: Example) -> list[tuple[int, int, str]]:
    return [s.key for s in example.spans or []]


WRITABLE = [name for name in formats.FORMATS if formats.writable(name)]
#: Output names; ``bio`` writes a folder.
OUTPUT = {
    "jsonl": "out.jsonl",
    "doccano": "out.jsonl",
    "oiellm": "out.jsonl",
    "giellm": "out.jsonl",
    "labelstudio": "tasks.json",
    "spacy": "out.spacy",
    "conll": "out.conll",
    "bio": "bio_out",
}
#: Formats whose files are UTF-8 text holding the Japanese itself.
TEXT_FILES = ("jsonl", "doccano", "oiellm", "giellm", "labelstudio", "conll")
#: Word formats that need single-space separated words.
SPACE_SEPARATED = ("bio",)


def test_offsets_are_code_points_not_utf16_units():
    tokyo, mixed, spaced, _ = _examples()
    assert _keys(tokyo) == [(0, 3, "LOC"), (6, 10, "PER"), (13, 19, "ORG")]
    assert [tokyo.surface(s) for s in tokyo.spans] == ["東京都", "山田太郎", "トヨタ自動車"]
    assert _keys(mixed) == [(0, 3, "店名"), (7, 12, "金額"), (16, 17, "料理"), (17, 21, "MISC")]
    assert [mixed.surface(s) for s in mixed.spans] == ["𠮷野家", "２０２４円", "🍜", "ｶﾀｶﾅ"]
    assert _keys(spaced) == [(1, 3, "地名"), (7, 9, "地名")]
    assert len("𠮷") == len("🍜") == 1
    assert len("𠮷".encode("utf-16-le")) // 2 == len("🍜".encode("utf-16-le")) // 2 == 2
    # In UTF-16 units every offset after "𠮷" would be one more, after "🍜" two more.
    assert len(MIXED[:7].encode("utf-16-le")) // 2 == 8
    assert len(MIXED[:17].encode("utf-16-le")) // 2 == 19
    assert "\u3000".isspace() and " " not in TOKYO + MIXED + EMPTY


def test_every_writable_format_is_covered():
    assert sorted(WRITABLE) == sorted(OUTPUT), "a new writable format needs its Japanese round trip here"


@pytest.mark.parametrize("fmt", [name for name in WRITABLE if name not in SPACE_SEPARATED])
def test_japanese_round_trips_exactly(fmt, tmp_path):
    if fmt == "spacy":
        pytest.importorskip("spacy")
    examples = _examples()
    path = tmp_path / OUTPUT[fmt]
    assert formats.write(examples, path, fmt) == len(examples)
    back = list(formats.read(path, fmt))
    assert [ex.text for ex in back] == [ex.text for ex in examples]
    assert [ex.labels for ex in back] == [ex.labels for ex in examples]
    assert [_keys(ex) for ex in back] == [_keys(ex) for ex in examples]
    assert [[ex.surface(s) for s in ex.spans] for ex in back] == [[ex.surface(s) for s in ex.spans] for ex in examples]
    assert back[3].spans == []  # "annotated, no spans" survives, not None
    if fmt in TEXT_FILES:
        raw = path.read_bytes().decode("utf-8")
        assert "\\u" not in raw  # no JSON escapes: the file holds the characters
        for example in examples:
            assert example.text in raw


def test_jsonl_file_holds_code_point_offsets(tmp_path):
    path = tmp_path / "out.jsonl"
    formats.write(_examples()[1:2], path, "jsonl")
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["text"] == MIXED
    assert [(s["start"], s["end"], s["text"]) for s in record["spans"]] == [
        (0, 3, "𠮷野家"),
        (7, 12, "２０２４円"),
        (16, 17, "🍜"),
        (17, 21, "ｶﾀｶﾅ"),
    ]


def test_doccano_line_is_code_point_offsets(tmp_path):
    path = tmp_path / "out.jsonl"
    formats.write(_examples()[:2], path, "doccano")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {
        "id": "ja-1",
        "text": TOKYO,
        "label": [[0, 3, "LOC"], [6, 10, "PER"], [13, 19, "ORG"]],
        "cats": ["人物"],
    }
    assert json.loads(lines[1])["label"] == [[0, 3, "店名"], [7, 12, "金額"], [16, 17, "料理"], [17, 21, "MISC"]]
    assert formats.infer_format(path) == "doccano"


def test_labelstudio_regions_carry_offsets_and_surfaces(tmp_path):
    path = tmp_path / "tasks.json"
    formats.write(_examples()[1:2], path, "labelstudio")
    (task,) = json.loads(path.read_text(encoding="utf-8"))
    assert task["data"] == {"text": MIXED, "id": "ja-2"}
    regions = [r["value"] for r in task["annotations"][0]["result"] if r["type"] == "labels"]
    assert [(v["start"], v["end"], v["text"], v["labels"]) for v in regions] == [
        (0, 3, "𠮷野家", ["店名"]),
        (7, 12, "２０２４円", ["金額"]),
        (16, 17, "🍜", ["料理"]),
        (17, 21, "ｶﾀｶﾅ", ["MISC"]),
    ]
    choices = [r["value"]["choices"] for r in task["annotations"][0]["result"] if r["type"] == "choices"]
    assert choices == [["食事"]]
    assert formats.infer_format(path) == "labelstudio"


def test_spacy_tokens_are_cut_at_span_edges_without_a_japanese_tokenizer(tmp_path):
    pytest.importorskip("spacy")
    from mrekit.formats.spacy import example_to_doc

    tokyo, mixed, spaced, _ = _examples()
    doc = example_to_doc(tokyo)
    assert [t.text for t in doc] == ["東京都", "に住む", "山田太郎", "さんは", "トヨタ自動車", "に勤めている。"]
    assert [(e.start_char, e.end_char, e.text, e.label_) for e in doc.ents] == [
        (0, 3, "東京都", "LOC"),
        (6, 10, "山田太郎", "PER"),
        (13, 19, "トヨタ自動車", "ORG"),
    ]
    assert doc.text == TOKYO and not any(t.whitespace_ for t in doc)
    doc = example_to_doc(mixed)
    assert [(e.start_char, e.end_char, e.text) for e in doc.ents] == [
        (0, 3, "𠮷野家"),
        (7, 12, "２０２４円"),
        (16, 17, "🍜"),
        (17, 21, "ｶﾀｶﾅ"),
    ]
    assert example_to_doc(spaced).text == SPACED  # the ideographic spaces stay


def test_generative_strings_name_japanese_surfaces():
    tokyo, mixed, *_ = _examples()
    assert oiellm.render_oiellm(tokyo) == (f"{TOKYO}/NER", "人物/NER/:LOC;東京都:PER;山田太郎:ORG;トヨタ自動車")
    assert giellm.render_giellm(mixed, label_set=["人物", "食事"]) == (
        f"{MIXED} <人物><食事> NER",
        "<食事>NER:店名;𠮷野家:金額;２０２４円:料理;🍜:MISC;ｶﾀｶﾅ",
    )


def test_generative_formats_locate_a_repeated_surface_at_its_first_occurrence(tmp_path):
    # The strings name surfaces, not offsets (mrekit.formats.items.to_example): the k-th
    # item with a surface is the k-th occurrence. A span on a later occurrence only, with
    # the earlier one unlabelled, is read back at the earlier one, without a warning.
    text = "東京から東京へ"
    first_only = Example(text, labels=["移動"], spans=[Span(0, 2, "LOC")])
    both = Example(text, labels=["移動"], spans=[Span(0, 2, "LOC"), Span(4, 6, "LOC")])
    second_only = Example(text, labels=["移動"], spans=[Span(4, 6, "LOC")])
    for fmt in ("oiellm", "giellm"):
        path = tmp_path / f"{fmt}.jsonl"
        formats.write([first_only, both, second_only], path, fmt)
        back = list(formats.read(path, fmt))
        assert [_keys(ex) for ex in back] == [[(0, 2, "LOC")], [(0, 2, "LOC"), (4, 6, "LOC")], [(0, 2, "LOC")]]


# --- CoNLL: words from offsets, the text kept in "# text" -----------------------------


def test_conll_writes_words_cut_at_span_edges_and_keeps_the_text(tmp_path):
    path = tmp_path / "out.conll"
    conll.write(_examples()[:3], path)
    blocks = path.read_text(encoding="utf-8").split("\n\n")
    assert blocks[0].split("\n") == [
        "# id = ja-1",
        f"# text = {TOKYO}",
        "# label = 人物",
        "東京都\tB-LOC",
        "に住む\tO",
        "山田太郎\tB-PER",
        "さんは\tO",
        "トヨタ自動車\tB-ORG",
        "に勤めている。\tO",
    ]
    assert blocks[1].split("\n")[3:] == [
        "𠮷野家\tB-店名",
        "で牛丼を\tO",
        "２０２４円\tB-金額",
        "分食べた\tO",
        "🍜\tB-料理",
        "ｶﾀｶﾅ\tB-MISC",  # a span right after a span: a word of its own, not I-
        "もOK\tO",
    ]
    # The ideographic spaces separate words and are kept by "# text".
    assert blocks[2].split("\n")[1:] == [
        f"# text = {SPACED}",
        "# label = 地名",
        "# label = 比較",
        "「\tO",
        "東京\tB-地名",
        "」\tO",
        "と\tO",
        "大阪\tB-地名",
        "。\tO",
    ]


def test_conll_japanese_without_text_line_is_joined_without_spaces(tmp_path):
    # The documented way to hand-write Japanese CoNLL: any tokens (here one per
    # character), with or without "# text"; without it, tokens are joined with nothing.
    path = tmp_path / "chars.conll"
    chars = [("東", "B-LOC"), ("京", "I-LOC"), ("都", "I-LOC"), ("に", "O"), ("住", "O"), ("む", "O")]
    chars += [("山", "B-PER"), ("田", "I-PER"), ("さ", "O"), ("ん", "O")]
    body = "".join(f"{c}\t{t}\n" for c, t in chars)
    path.write_text(body + "\n# text = 東京都に住む山田さん\n" + body, encoding="utf-8")
    without, with_text = conll.read(path)
    for ex in (without, with_text):
        assert ex.text == "東京都に住む山田さん"
        assert _keys(ex) == [(0, 3, "LOC"), (6, 8, "PER")]
        assert [ex.surface(s) for s in ex.spans] == ["東京都", "山田"]


def test_conll_tokens_located_in_a_text_with_ideographic_spaces(tmp_path):
    path = tmp_path / "spaced.conll"
    path.write_text("# text = 東京　大阪\n東京\tB-LOC\n大阪\tB-LOC\n", encoding="utf-8")
    (ex,) = conll.read(path)
    assert ex.text == "東京\u3000大阪"
    assert _keys(ex) == [(0, 2, "LOC"), (3, 5, "LOC")]


def test_conll_tokens_that_do_not_spell_the_japanese_text_are_e124(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("# text = 東京都に住む\n東京\tB-LOC\n大阪\tO\n", encoding="utf-8")
    with pytest.raises(MrekitError) as info:
        list(conll.read(path))
    assert (info.value.code, info.value.line) == ("E124", 1)
    assert "the tokens do not spell out the '# text' line" in info.value.message


def test_conll_span_with_an_ideographic_space_at_its_edge_is_e125(tmp_path):
    example = Example("東京　大阪", id="x", spans=[Span(0, 3, "LOC")])  # "東京　"
    with pytest.raises(MrekitError) as info:
        conll.write([example], tmp_path / "out.conll")
    assert info.value.code == "E125"
    assert info.value.message == "example 0 (x): span 0-3 '東京\\u3000' has whitespace at an edge"
    assert not (tmp_path / "out.conll").exists()


@pytest.mark.parametrize(("tokens", "text"), [(["𠮷", "𠮟"], "𠮷𠮟"), (["「", "」", "。"], "「」。")])
def test_conll_tokens_outside_the_bmp_kanji_block_are_joined_without_spaces(tokens, text, tmp_path):
    path = tmp_path / "extb.conll"
    path.write_text("".join(f"{t}\tO\n" for t in tokens), encoding="utf-8")
    (ex,) = conll.read(path)
    assert ex.text == text


@pytest.mark.parametrize("surface", ["𠮷", "々", "〇"])
def test_kanji_outside_the_bmp_blocks_count_as_a_script_without_spaces(surface):
    from mrekit.encoder.inference import _snap_to_words
    from mrekit.formats._words import uses_spaces

    text = f"{surface}野家で牛丼を食べた"
    assert not uses_spaces(surface)
    assert _snap_to_words(text, 0, 1) == (0, 1)  # today (0, 10): the whole text


# --- BIO folders: whitespace tokens only -------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, 2])
def test_bio_refuses_japanese_without_spaces_with_e123(index, tmp_path):
    example = _examples()[index]
    out = tmp_path / "bio_out"
    with pytest.raises(MrekitError) as info:
        bio.write([example], out)
    err = info.value
    assert err.code == "E123"
    assert err.message == (
        f"example 0 ({example.id}): {example.text[:40]!r} is not single-space separated words "
        "with spans on word boundaries"
    )
    assert err.hint == "write --to conll, which keeps the original text"
    assert not out.exists()  # atomic: nothing is left


def test_bio_writes_a_japanese_text_without_spans_as_one_token(tmp_path):
    # Words are cut only at whitespace and span edges: no spans, no cut, one "word".
    example = _examples()[3]
    out = tmp_path / "bio_out"
    assert bio.write([example], out) == 1
    assert (out / "seq.in").read_text(encoding="utf-8") == f"{EMPTY}\n"
    assert (out / "seq.out").read_text(encoding="utf-8") == "O\n"
    (back,) = bio.read(out)
    assert (back.text, back.labels, back.spans) == (EMPTY, ["天気"], [])


def test_bio_writes_japanese_that_is_already_single_space_separated(tmp_path):
    text = "東京都 に 住む 山田 さん"
    example = Example(text, id="w", labels=["人物"], spans=[_span(text, "東京都", "LOC"), _span(text, "山田", "PER")])
    out = tmp_path / "bio_out"
    assert bio.write([example], out) == 1
    assert (out / "seq.in").read_text(encoding="utf-8") == text + "\n"
    assert (out / "seq.out").read_text(encoding="utf-8") == "B-LOC O O B-PER O\n"
    assert (out / "label").read_text(encoding="utf-8") == "人物\n"
    (back,) = bio.read(out)
    assert (back.text, back.labels, _keys(back)) == (text, ["人物"], [(0, 3, "LOC"), (9, 11, "PER")])


def test_bio_reads_japanese_tokens_joined_by_single_spaces(tmp_path):
    # bio.py documents that an example's text is its tokens joined by single spaces,
    # whatever the script (unlike conll, which joins Japanese tokens with nothing).
    folder = tmp_path / "chars"
    folder.mkdir()
    (folder / "seq.in").write_text("東 京 都 に 住 む\n", encoding="utf-8")
    (folder / "seq.out").write_text("B-LOC I-LOC I-LOC O O O\n", encoding="utf-8")
    (folder / "label").write_text("住所\n", encoding="utf-8")
    (ex,) = bio.read(folder)
    assert ex.text == "東 京 都 に 住 む"
    assert _keys(ex) == [(0, 5, "LOC")]
    assert ex.surface(ex.spans[0]) == "東 京 都"


# --- What a format cannot hold -----------------------------------------------------------


def test_nested_japanese_spans_are_e113_in_word_formats_and_kept_elsewhere(tmp_path):
    text = "東京都庁で働く"
    example = Example(text, id="n", labels=["仕事"], spans=[Span(0, 3, "LOC"), Span(0, 4, "FAC")])
    for fmt in ("conll", "bio"):
        with pytest.raises(MrekitError) as info:
            formats.write([example], tmp_path / OUTPUT[fmt], fmt)
        assert info.value.code == "E113"
        assert "overlaps another span" in info.value.message
    for fmt in ("jsonl", "doccano", "labelstudio", "oiellm", "giellm"):
        path = tmp_path / fmt / OUTPUT[fmt]
        path.parent.mkdir()
        formats.write([example], path, fmt)
        assert _keys(next(formats.read(path, fmt))) == [(0, 3, "LOC"), (0, 4, "FAC")]


def test_span_attributes_on_japanese_are_w131_in_annotation_tool_formats(tmp_path, caplog):
    text = "料理は美味しいが店員は無愛想"
    example = Example(
        text,
        labels=["評価"],
        spans=[
            Span(0, 2, "aspect", attrs={"polarity": "positive"}),
            Span(8, 10, "aspect", attrs={"polarity": "negative"}),
        ],
    )
    for fmt, tool in (("doccano", "doccano JSONL has"), ("labelstudio", "Label Studio tasks have")):
        path = tmp_path / fmt / OUTPUT[fmt]
        path.parent.mkdir()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="mrekit"):
            formats.write([example], path, fmt)
        assert f"[W131] {tool} no place for span attributes of 1 example(s)" in caplog.text
        back = next(formats.read(path, fmt))
        assert (back.text, _keys(back)) == (text, [(0, 2, "aspect"), (8, 10, "aspect")])
        assert all(s.attrs == {} for s in back.spans)
    # The generative strings carry polarity by position.
    for fmt in ("oiellm", "giellm"):
        path = tmp_path / f"{fmt}.jsonl"
        formats.write([example], path, fmt)
        assert [s.attrs for s in next(formats.read(path, fmt)).spans] == [
            {"polarity": "positive"},
            {"polarity": "negative"},
        ]


@pytest.mark.parametrize("fmt", ["conll", "bio"])
def test_word_formats_warn_w131_when_dropping_span_attributes(fmt, tmp_path, caplog):
    example = Example("料理 は 美味しい", labels=["評価"], spans=[Span(0, 2, "aspect", attrs={"polarity": "positive"})])
    with caplog.at_level(logging.WARNING, logger="mrekit"):
        formats.write([example], tmp_path / OUTPUT[fmt], fmt)
    assert "[W131]" in caplog.text


def test_labelstudio_reads_japanese_regions_whose_surface_matches(tmp_path):
    # A task as Label Studio exports it (code point offsets, the region's text).
    path = tmp_path / "export.json"
    result = [
        {"id": "a", "from_name": "label", "to_name": "text", "type": "labels"}
        | {"value": {"start": 3, "end": 6, "text": "𠮷野家", "labels": ["店名"]}},
        {"id": "b", "from_name": "label", "to_name": "text", "type": "labels"}
        | {"value": {"start": 7, "end": 8, "text": "🍜", "labels": ["料理"]}},
    ]
    text = "昨日は𠮷野家で🍜を食べた"
    assert (text.index("𠮷野家"), text.index("🍜")) == (3, 7)
    tasks = [{"data": {"text": text}, "annotations": [{"result": result}]}]
    path.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    (ex,) = labelstudio.read(path)
    assert _keys(ex) == [(3, 6, "店名"), (7, 8, "料理")]
    assert [ex.surface(s) for s in ex.spans] == ["𠮷野家", "🍜"]
