"""Word segmentation derived from character offsets, for token-based formats.

Token-based formats (BIO folders, CoNLL, spaCy docs) need words; mrekit derives
them from the text and the span offsets instead of assuming anything about the
language: a text is split at whitespace and at every span boundary, so every
span is a whole number of words, in Japanese as in English.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence

from mrekit.alignment import spans_to_tags, tags_to_spans
from mrekit.errors import MrekitError, warn
from mrekit.schema import Example, Span

# Scripts written without spaces between words (CJK ideographs, kana, fullwidth forms).
#: Scripts written without spaces: CJK punctuation (「」。々〇), kana, CJK ideographs of the basic
#: plane and of the supplementary planes (𠮷), compatibility ideographs, full/half-width forms.
#: Scripts written without spaces between words: CJK punctuation, kana, ideographs (with the
#: supplementary planes), half-width katakana, Thai, Lao, Khmer and Myanmar. The one definition
#: shared by the writers here and the encoder's pre-split (:mod:`mrekit.encoder.scripts`).
UNSEGMENTED = (
    "\u3000-\u303f\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\uff66-\uff9f\u0e00-\u0e7f\u0e80-\u0eff\u1780-\u17ff\u1000-\u109f"
    "\U00020000-\U0003134f"
)
# Full-width forms (ＡＢＣ１２３, ！) are written inside Japanese text: a text holding them does not
# use spaces either, though the pre-split leaves them to the subword model.
_NO_SPACE_SCRIPT = re.compile(f"[{UNSEGMENTED}\uff00-\uffef]")
_NON_SPACE = re.compile(r"\S+")


def split_words(text: str, boundaries: Iterable[int] = ()) -> list[tuple[int, int]]:
    """Split ``text`` at whitespace and at the given character offsets.

    Args:
        text: The text to segment.
        boundaries: Extra offsets where a word must start or end (span edges).

    Returns:
        ``(start, end)`` character offsets of the words, in order.

    Example:
        >>> split_words("東京都に住む", [0, 3])
        [(0, 3), (3, 6)]
        >>> split_words("play muse's song", [5, 9])
        [(0, 4), (5, 9), (9, 11), (12, 16)]
    """
    cuts = sorted(set(boundaries))
    words = []
    for match in _NON_SPACE.finditer(text):
        start = match.start()
        for cut in cuts:
            if match.start() < cut < match.end() and cut > start:
                words.append((start, cut))
                start = cut
        words.append((start, match.end()))
    return words


def uses_spaces(text: str) -> bool:
    """Whether ``text`` is in a script that separates words with spaces.

    Example:
        >>> uses_spaces("play muse"), uses_spaces("SPRiNGSと最も仲の良い")
        (True, False)
    """
    return _NO_SPACE_SCRIPT.search(text) is None


def join_words(words: Sequence[str], joiner: str | None = None) -> tuple[str, list[tuple[int, int]]]:
    """Join pre-tokenised words into a text and return each word's offsets.

    Args:
        words: The words.
        joiner: The string between words; ``None`` picks ``""`` for texts in a
            script without spaces (Japanese, Chinese) and ``" "`` otherwise.

    Example:
        >>> join_words(["松友美佐紀", "は"])
        ('松友美佐紀は', [(0, 5), (5, 6)])
    """
    if joiner is None:
        joiner = " " if uses_spaces("".join(words)) else ""
    offsets = []
    pos = 0
    for i, word in enumerate(words):
        if i:
            pos += len(joiner)
        offsets.append((pos, pos + len(word)))
        pos += len(word)
    return joiner.join(words), offsets


def locate_words(text: str, words: Sequence[str]) -> list[tuple[int, int]] | None:
    """Find each word in ``text`` in order, allowing only whitespace between them.

    Returns:
        The offsets, or ``None`` when the words do not spell out ``text``.

    Example:
        >>> locate_words("日本の 選手", ["日本", "の", "選手"])
        [(0, 2), (2, 3), (4, 6)]
    """
    offsets = []
    pos = 0
    for word in words:
        idx = text.find(word, pos)
        if idx < 0 or text[pos:idx].strip():
            return None
        offsets.append((idx, idx + len(word)))
        pos = idx + len(word)
    return offsets if not text[pos:].strip() else None


def tags_to_char_spans(offsets: Sequence[tuple[int, int]], tags: Sequence[str]) -> list[Span]:
    """Decode word-level tags into character spans.

    Example:
        >>> tags_to_char_spans([(0, 4), (5, 9)], ["O", "B-artist"])
        [Span(start=5, end=9, label='artist', attrs={}, surface=None, score=None, attr_scores=None)]
    """
    return [Span(offsets[a][0], offsets[b - 1][1], label) for a, b, label in tags_to_spans(tags)]


def example_to_word_tags(example: Example, scheme: str = "BIO") -> tuple[list[tuple[int, int]], list[str]]:
    """Segment an example into words (see :func:`split_words`) and tag its spans.

    Raises:
        MrekitError: ``E113`` when spans overlap (tags cannot express that).

    Example:
        >>> ex = Example("play muse", spans=[Span(5, 9, "artist")])
        >>> example_to_word_tags(ex)
        ([(0, 4), (5, 9)], ['O', 'B-artist'])
    """
    spans = example.spans or []
    words = split_words(example.text, [b for s in spans for b in (s.start, s.end)])
    first = {start: i for i, (start, _) in enumerate(words)}
    last = {end: i for i, (_, end) in enumerate(words)}
    token_spans = []
    for i, s in enumerate(spans):
        if s.start not in first or s.end not in last:
            raise MrekitError(
                "E125", f"span {s.start}-{s.end} {example.surface(s)!r} has whitespace at an edge", field=f"spans[{i}]"
            )
        token_spans.append((first[s.start], last[s.end] + 1, s.label))
    return words, spans_to_tags(len(words), token_spans, scheme=scheme)


def count_dropped(example: Example, counts: dict[str, int], *, ids: bool = False) -> None:
    """Count what a word-and-tag format has no place for in ``example`` (into ``counts``)."""
    spans = example.spans or []
    kinds = [
        ("span attributes", any(s.attrs for s in spans)),
        ("label attributes", bool(example.label_attrs)),
        ("relations", bool(example.relations)),
        ("events", bool(example.events)),
        ("ids", ids and example.id is not None),
    ]
    for name, lost in kinds:
        if lost:
            counts[name] = counts.get(name, 0) + 1


def warn_dropped(logger: logging.Logger, fmt: str, counts: dict[str, int]) -> None:
    """``W131`` once, naming what was not written and for how many examples."""
    if counts:
        lost = ", ".join(f"{name} of {n} example(s)" for name, n in counts.items())
        warn(logger, "W131", f"{fmt} has no place for {lost}; they were not written (JSONL keeps everything)")
