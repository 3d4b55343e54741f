"""Character offsets <-> tokens, and BIO / BILOU tag encoding over tokens.

Character offsets are the truth for spans. Token positions are derived from
them through a tokenizer's offset mapping (or, for pre-tokenised formats, from
the offsets of the words in the text), never by assuming whitespace words.

Token spans are ``(first_token, last_token_exclusive, label)`` triples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mrekit.errors import MrekitError
from mrekit.schema import Example, Span

TokenSpan = tuple[int, int, str]

_PREFIXES = {"B", "I", "E", "S", "L", "U"}
# BILOU spells IOBES's E and S as L and U; decoding treats them the same.
_CANON = {"L": "E", "U": "S"}


def split_tag(tag: str) -> tuple[str, str]:
    """Split a tag into ``(prefix, type)``; ``"O"`` gives ``("O", "")``.

    Raises:
        MrekitError: ``E121`` for a tag that is neither ``O`` nor ``X-type``.

    Example:
        >>> split_tag("B-fromloc.city_name")
        ('B', 'fromloc.city_name')
    """
    if tag == "O":
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    if not sep or prefix not in _PREFIXES or not kind:
        raise MrekitError("E121", f"malformed tag {tag!r}: expected 'O' or B-/I-/E-/S-/L-/U- and a type")
    return _CANON.get(prefix, prefix), kind


def _ends(prev: str, tag: str, prev_type: str, kind: str) -> bool:
    if prev in ("E", "S"):
        return True
    if prev in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev != "O" and prev_type != kind


def _starts(prev: str, tag: str, prev_type: str, kind: str) -> bool:
    if tag in ("B", "S"):
        return True
    if prev in ("E", "S", "O") and tag in ("I", "E"):
        return True
    return tag != "O" and prev_type != kind


def tags_to_spans(tags: Sequence[str]) -> list[TokenSpan]:
    """Decode BIO, IOBES or BILOU tags into token spans, the way conlleval does.

    A stray ``I-X`` after ``O`` (or after another type) opens a new span, as in
    conlleval and seqeval's default mode, so scores match published numbers.

    Example:
        >>> tags_to_spans(["O", "B-artist", "I-artist", "I-album"])
        [(1, 3, 'artist'), (3, 4, 'album')]
    """
    spans: list[TokenSpan] = []
    prev, prev_type, begin = "O", "", 0
    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if prev != "O" and _ends(prev, prefix, prev_type, kind):
            spans.append((begin, i, prev_type))
        if prefix != "O" and (
            prev == "O" or _ends(prev, prefix, prev_type, kind) or _starts(prev, prefix, prev_type, kind)
        ):
            begin = i
        prev, prev_type = prefix, kind
    if prev != "O":
        spans.append((begin, len(tags), prev_type))
    return spans


def spans_to_tags(n_tokens: int, spans: Sequence[TokenSpan], scheme: str = "BIO") -> list[str]:
    """Encode non-overlapping token spans as ``BIO`` or ``BILOU`` tags.

    Raises:
        MrekitError: ``E113`` if two spans overlap (tags cannot express that),
            ``E110`` if a span lies outside ``0..n_tokens``.

    Example:
        >>> spans_to_tags(4, [(1, 3, "artist")], scheme="BILOU")
        ['O', 'B-artist', 'L-artist', 'O']
    """
    if scheme not in ("BIO", "BILOU"):
        raise ValueError(f"scheme must be 'BIO' or 'BILOU', not {scheme!r}")
    tags = ["O"] * n_tokens
    for start, end, label in sorted(spans):
        if not 0 <= start < end <= n_tokens:
            raise MrekitError("E110", f"token span {start}-{end} lies outside 0..{n_tokens}")
        if any(t != "O" for t in tags[start:end]):
            raise MrekitError("E113", f"token span {start}-{end} ({label}) overlaps another span")
        if scheme == "BILOU" and end - start == 1:
            tags[start] = f"U-{label}"
            continue
        tags[start] = f"B-{label}"
        for i in range(start + 1, end):
            tags[i] = f"I-{label}"
        if scheme == "BILOU":
            tags[end - 1] = f"L-{label}"
    return tags


# --- Tokenizer offsets <-> character spans -----------------------------------

#: Why a span did not align exactly; every non-exact span gets one of these.
MISALIGNED = "misaligned"  # a boundary falls inside a token (strict mode: not aligned)
EXPANDED = "expanded"  # a boundary fell inside a token and was snapped outward (expand mode)
TRIMMED = "trimmed"  # a boundary lay in text no token covers (whitespace); aligned to the tokens inside
NO_TOKEN = "no_token"  # the span covers no token at all (only whitespace, dropped characters)
TRUNCATED = "truncated"  # the span lies, at least partly, beyond the truncation point
OVERLAP = "overlap"  # the span overlaps an earlier one, so tags cannot express it


@dataclass(frozen=True)
class TokenOffsets:
    """Character offsets of a tokenizer's tokens, and which tokens are real.

    Args:
        offsets: ``(start, end)`` into the original text per token; special and
            padding tokens have ``(0, 0)``.
        real: ``True`` per token that stands for text (not special, not padding).
        tokens: The token strings, when known.
        ids: The token ids, when known.
        truncated: Whether the tokenizer cut the text at its maximum length.

    Example:
        >>> TokenOffsets([(0, 0), (0, 5), (0, 0)], [False, True, False]).covered_end
        5
    """

    offsets: list[tuple[int, int]]
    real: list[bool]
    tokens: list[str] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.offsets)

    @property
    def covered_end(self) -> int:
        """The end of the last real token: text after it was not tokenized if truncated."""
        return max((end for (_, end), real in zip(self.offsets, self.real, strict=True) if real), default=0)


@dataclass(frozen=True)
class AlignmentIssue:
    """A span that did not map exactly onto tokens.

    Args:
        index: The span's index in the input list.
        reason: One of ``misaligned``, ``expanded``, ``trimmed``, ``no_token``,
            ``truncated``, ``overlap``.
        detail: A readable explanation with the offsets involved.
    """

    index: int
    reason: str
    detail: str


@dataclass(frozen=True)
class AlignmentResult:
    """Token spans parallel to the input character spans, plus what went wrong.

    ``token_spans[i]`` is ``None`` exactly when span ``i`` could not be aligned;
    every such span, and every aligned span whose offsets changed, is in ``issues``.
    """

    token_spans: list[TokenSpan | None]
    issues: list[AlignmentIssue]

    @property
    def aligned(self) -> list[TokenSpan]:
        """The token spans that were aligned (exactly or adjusted)."""
        return [t for t in self.token_spans if t is not None]


@dataclass(frozen=True)
class EncodedExample:
    """An example's tokens with one tag per token.

    ``tags`` is ``None`` when the example's word level is not annotated; special
    and padding tokens are tagged ``"O"`` and have ``offsets.real[i] == False``,
    so a trainer can ignore them (label ``-100``).
    """

    offsets: TokenOffsets
    tags: list[str] | None
    token_spans: list[TokenSpan | None]
    issues: list[AlignmentIssue]


def token_offsets(tokenizer: Any, text: str, *, max_length: int | None = None) -> TokenOffsets:
    """Tokenize ``text`` and return each token's character offsets into ``text``.

    Accepts a ``tokenizers.Tokenizer`` or a transformers fast tokenizer. Offsets
    always refer to the original text, even where normalisation (lower-casing,
    NFD and accent stripping in BERT uncased) changed the characters. With
    ``max_length=None`` the tokenizer's own truncation and padding settings apply.

    Raises:
        TypeError: For a tokenizer without offsets (a transformers slow tokenizer).

    Example:
        >>> from tokenizers import Tokenizer, models, pre_tokenizers
        >>> tok = Tokenizer(models.WordLevel({"hi": 0, "you": 1}, unk_token="hi"))
        >>> tok.pre_tokenizer = pre_tokenizers.Whitespace()
        >>> token_offsets(tok, "hi  you").offsets
        [(0, 2), (4, 7)]
    """
    from tokenizers import Tokenizer

    if isinstance(tokenizer, Tokenizer):
        return _offsets_from_tokenizers(tokenizer, text, max_length)
    if getattr(tokenizer, "is_fast", False):
        return _offsets_from_transformers(tokenizer, text, max_length)
    raise TypeError(f"{type(tokenizer).__name__} gives no offsets: use a tokenizers.Tokenizer or a fast tokenizer")


def _offsets_from_tokenizers(tokenizer: Any, text: str, max_length: int | None) -> TokenOffsets:
    saved = tokenizer.truncation
    if max_length is not None:
        tokenizer.enable_truncation(max_length)
    try:
        enc = tokenizer.encode(text)
    finally:
        # The caller's tokenizer is shared state: put its truncation back as it was.
        if max_length is not None and saved is None:
            tokenizer.no_truncation()
        elif max_length is not None:
            tokenizer.enable_truncation(**saved)
    real = [not special for special in enc.special_tokens_mask]
    offsets = tokens_in_text(list(enc.offsets), list(enc.tokens), text)
    return TokenOffsets(offsets, real, list(enc.tokens), list(enc.ids), bool(enc.overflowing))


def _offsets_from_transformers(tokenizer: Any, text: str, max_length: int | None) -> TokenOffsets:
    enc = tokenizer(
        text,
        truncation=max_length is not None,
        max_length=max_length,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    offsets = tokens_in_text([tuple(pair) for pair in enc["offset_mapping"]], enc.tokens(), text)
    real = [not special for special in enc["special_tokens_mask"]]
    # The Rust encoding keeps what truncation cut off even when the dict does not.
    truncated = bool(enc.encodings and enc.encodings[0].overflowing)
    return TokenOffsets(offsets, real, enc.tokens(), list(enc["input_ids"]), truncated)


#: SentencePiece's word-start marker: a token of only this stands for no character of the text.
METASPACE = "\u2581"


def without_lone_metaspace(offsets: list[tuple[int, int]], tokens: Sequence[str]) -> list[tuple[int, int]]:
    """Give a token that is only ``▁`` an empty offset at its start.

    SentencePiece tokenizers (XLM-R, multilingual-e5) emit a lone ``▁`` before a word
    whose first piece has no ``▁`` form, as most Japanese and Chinese words. Its offset
    then overlaps the word's first character (``▁`` ``(0, 1)``, ``東京都`` ``(0, 3)``), so
    a span starting there would be tagged from the ``▁``. Made empty, the marker is
    never part of a span and is always tagged ``O``.

    Example:
        >>> without_lone_metaspace([(0, 0), (0, 1), (0, 3), (0, 0)], ["<s>", "▁", "東京都", "</s>"])
        [(0, 0), (0, 0), (0, 3), (0, 0)]
    """
    return [(a, a) if token == METASPACE else (a, b) for (a, b), token in zip(offsets, tokens, strict=True)]


def tokens_in_text(offsets: list[tuple[int, int]], tokens: Sequence[str], text: str) -> list[tuple[int, int]]:
    """Token offsets that cover only characters the token stands for: no lone ``▁``, no spaces.

    A SentencePiece tokenizer whose pre-tokenizer is ``Metaspace`` without offset
    trimming (multilingual-e5's ``tokenizer.json``) gives ``▁the`` in ``"play the"``
    the offset ``(4, 8)``: the space before the word is part of the token. A span
    ``the`` (5-8) would then be tagged as wider tokens and predicted as `` the``
    (4-8), one character off gold. Whitespace at either edge of a token's range is
    therefore cut off (a token of whitespace only becomes empty), and a lone ``▁``
    is made empty (:func:`without_lone_metaspace`).

    Example:
        >>> tokens_in_text([(0, 0), (0, 4), (4, 8), (0, 0)], ["<s>", "▁play", "▁the", "</s>"], "play the")
        [(0, 0), (0, 4), (5, 8), (0, 0)]
    """
    return [strip_space(text, a, b) for a, b in without_lone_metaspace(offsets, tokens)]


def strip_space(text: str, start: int, end: int) -> tuple[int, int]:
    """``start``-``end`` without the whitespace at its edges (empty, at ``end``, if all whitespace).

    Example:
        >>> strip_space("play the", 4, 8), strip_space("a  b", 1, 3)
        ((5, 8), (3, 3))
    """
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _as_offsets(offsets: TokenOffsets | Sequence[tuple[int, int]]) -> TokenOffsets:
    if isinstance(offsets, TokenOffsets):
        return offsets
    pairs = [(int(a), int(b)) for a, b in offsets]
    # Without a mask, an empty offset is the only sign of a special token.
    return TokenOffsets(pairs, [b > a for a, b in pairs])


def char_spans_to_token_spans(
    offsets: TokenOffsets | Sequence[tuple[int, int]],
    spans: Sequence[Span],
    *,
    mode: str = "strict",
) -> AlignmentResult:
    """Map character spans onto token spans; no span is ever dropped silently.

    In ``strict`` mode a span with a boundary inside a token is not aligned
    (``misaligned``); in ``expand`` mode it is snapped outward to the tokens
    covering it (``expanded``). A span covering no token (``no_token``) or
    reaching past the truncation point (``truncated``) is never aligned. A span
    whose edge lies in text no token covers (whitespace) is aligned to the
    tokens inside it and reported as ``trimmed``. So a span without an issue
    maps back to exactly its own offsets.

    Args:
        offsets: Token offsets, from :func:`token_offsets` or plain pairs
            (where ``(0, 0)`` marks a special token).
        spans: Character spans into the text the offsets came from.
        mode: ``"strict"`` or ``"expand"``.

    Returns:
        Token spans parallel to ``spans`` (``None`` where not aligned) and issues.

    Example:
        >>> r = char_spans_to_token_spans([(0, 0), (0, 4), (5, 9), (0, 0)], [Span(5, 9, "artist")])
        >>> r.token_spans, r.issues
        ([(2, 3, 'artist')], [])
    """
    if mode not in ("strict", "expand"):
        raise ValueError(f"mode must be 'strict' or 'expand', not {mode!r}")
    tokens = _as_offsets(offsets)
    result: list[TokenSpan | None] = []
    issues: list[AlignmentIssue] = []
    for index, span in enumerate(spans):
        token_span, issue = _align_one(tokens, span, mode)
        result.append(token_span)
        if issue is not None:
            issues.append(AlignmentIssue(index, *issue))
    return AlignmentResult(result, issues)


def _align_one(tokens: TokenOffsets, span: Span, mode: str) -> tuple[TokenSpan | None, tuple[str, str] | None]:
    where = f"span {span.start}-{span.end} ({span.label})"
    if tokens.truncated and span.end > tokens.covered_end:
        return None, (TRUNCATED, f"{where} reaches past the truncation point at character {tokens.covered_end}")
    hit = [
        i
        for i, ((start, end), real) in enumerate(zip(tokens.offsets, tokens.real, strict=True))
        if real and end > start and start < span.end and end > span.start
    ]
    if not hit:
        return None, (NO_TOKEN, f"{where} covers no token")
    first, last = hit[0], hit[-1] + 1
    char_start, char_end = tokens.offsets[first][0], tokens.offsets[last - 1][1]
    token_span = (first, last, span.label)
    if (char_start, char_end) == (span.start, span.end):
        return token_span, None
    moved = f"{where} -> tokens {first}-{last} = characters {char_start}-{char_end}"
    if char_start < span.start or char_end > span.end:
        if mode == "strict":
            return None, (MISALIGNED, f"{where} has a boundary inside a token (would be {char_start}-{char_end})")
        return token_span, (EXPANDED, moved)
    return token_span, (TRIMMED, moved)


def token_spans_to_char_spans(
    offsets: TokenOffsets | Sequence[tuple[int, int]], token_spans: Sequence[TokenSpan]
) -> list[Span]:
    """Map token spans back to character spans (first token's start, last token's end).

    Special and padding tokens inside a token span are ignored; a token span of
    special tokens only gives no character span.

    Raises:
        MrekitError: ``E110`` for a token span outside the token sequence.

    Example:
        >>> token_spans_to_char_spans([(0, 0), (0, 4), (5, 9), (0, 0)], [(1, 3, "artist")])
        [Span(start=0, end=9, label='artist', attrs={}, surface=None, score=None, attr_scores=None)]
    """
    tokens = _as_offsets(offsets)
    out: list[Span] = []
    for first, last, label in token_spans:
        if not 0 <= first < last <= len(tokens):
            raise MrekitError("E110", f"token span {first}-{last} lies outside 0..{len(tokens)}")
        # Empty real tokens (a lone SentencePiece marker) hold no characters of the span.
        inside = [
            tokens.offsets[i]
            for i in range(first, last)
            if tokens.real[i] and tokens.offsets[i][1] > tokens.offsets[i][0]
        ]
        if inside:
            out.append(Span(inside[0][0], inside[-1][1], label))
    return out


def encode_example(
    tokenizer: Any,
    example: Example,
    *,
    scheme: str = "BIO",
    mode: str = "strict",
    max_length: int | None = None,
) -> EncodedExample:
    """Tokenize an example and tag its tokens with its spans.

    Spans that do not align, and spans overlapping an earlier aligned span
    (which tags cannot express), are left out of the tags and listed in ``issues``.

    Example:
        >>> enc = encode_example(tok, Example("play muse", spans=[Span(5, 9, "artist")]))  # doctest: +SKIP
        >>> enc.tags  # doctest: +SKIP
        ['O', 'O', 'B-artist', 'O']
    """
    offsets = token_offsets(tokenizer, example.text, max_length=max_length)
    if example.spans is None:
        return EncodedExample(offsets, None, [], [])
    result = char_spans_to_token_spans(offsets, example.spans, mode=mode)
    token_spans, issues = list(result.token_spans), list(result.issues)
    taken = [False] * len(offsets)
    for index in sorted(range(len(token_spans)), key=lambda i: example.spans[i].start):
        span = token_spans[index]
        if span is None:
            continue
        if any(taken[span[0] : span[1]]):
            token_spans[index] = None
            issues.append(AlignmentIssue(index, OVERLAP, f"tokens {span[0]}-{span[1]} ({span[2]}) are already tagged"))
            continue
        taken[span[0] : span[1]] = [True] * (span[1] - span[0])
    tags = spans_to_tags(len(offsets), [t for t in token_spans if t is not None], scheme=scheme)
    return EncodedExample(offsets, tags, token_spans, sorted(issues, key=lambda issue: issue.index))


def decode_tags(offsets: TokenOffsets | Sequence[tuple[int, int]], tags: Sequence[str]) -> list[Span]:
    """Turn one tag per token back into character spans.

    Tags on special and padding tokens are ignored, so a model's guess there
    cannot produce a span.

    Raises:
        MrekitError: ``E120`` if there are not as many tags as tokens.

    Example:
        >>> decode_tags([(0, 0), (0, 4), (5, 9), (0, 0)], ["O", "O", "B-artist", "O"])
        [Span(start=5, end=9, label='artist', attrs={}, surface=None, score=None, attr_scores=None)]
    """
    tokens = _as_offsets(offsets)
    if len(tags) != len(tokens):
        raise MrekitError("E120", f"{len(tags)} tags for {len(tokens)} tokens")
    cleaned = [tag if real else "O" for tag, real in zip(tags, tokens.real, strict=True)]
    return token_spans_to_char_spans(tokens, tags_to_spans(cleaned))
