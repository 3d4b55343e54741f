"""BIO triple folders: ``seq.in`` (whitespace tokens), ``seq.out`` (tags), ``label``.

This is the JointBERT layout of ATIS and SNIPS: one text per line in each file.
The text of an example is its tokens joined by single spaces, and character
offsets are computed from that text. ``label`` is optional (no text level).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from itertools import zip_longest
from pathlib import Path

from mrekit.errors import MrekitError
from mrekit.files import iter_lines, require_exists
from mrekit.formats._words import count_dropped, example_to_word_tags, join_words, tags_to_char_spans, warn_dropped
from mrekit.outputs import atomic_dir
from mrekit.schema import Example

logger = logging.getLogger(__name__)

_SPLITS = {"train", "dev", "test", "valid", "validation"}


def read(folder: str | Path, *, label_sep: str | None = None, source: str | None = None) -> Iterator[Example]:
    """Stream examples from a ``seq.in``/``seq.out``/``label`` folder.

    Args:
        folder: The folder holding the three files.
        label_sep: Split each intent on this string into several labels (ATIS
            writes multi-intents as ``a#b``); ``None`` keeps the intent whole,
            which is how published ATIS intent accuracies are computed.
        source: Stored in ``meta["source"]`` (e.g. ``"snips"``).

    Raises:
        MrekitError: ``E120`` when a line's token and tag counts differ,
            ``E122`` when the files have different line counts, ``E121`` for a
            malformed tag, ``E101`` when the folder holds no examples.

    Example:
        >>> ex = next(read("tests/fixtures/bio_mini"))  # doctest: +SKIP
        >>> ex.text, ex.labels  # doctest: +SKIP
        ('play muse', ['PlayMusic'])
    """
    root = require_exists(folder, folder=True)
    seq_in, seq_out, label = root / "seq.in", root / "seq.out", root / "label"
    require_exists(seq_out, folder=False)
    labels = iter_lines(label) if label.exists() else None
    meta = {"split": root.name} if root.name in _SPLITS else {}
    if source:
        meta["source"] = source
    count = 0
    rows = zip_longest(iter_lines(seq_in), iter_lines(seq_out), labels or (), fillvalue=None)
    for words_line, tags_line, label_line in rows:
        _check_parallel(words_line, tags_line, label_line if labels is not None else True, seq_in, seq_out, label)
        number, words_text = words_line
        tags = tags_line[1].split()
        words = words_text.split()
        if not words and not tags:
            continue
        if len(words) != len(tags):
            raise MrekitError(
                "E120",
                f"{len(words)} tokens in seq.in but {len(tags)} tags in seq.out",
                path=seq_out,
                line=number,
                hint="each token needs exactly one tag",
            )
        text, offsets = join_words(words, " ")
        try:
            spans = tags_to_char_spans(offsets, tags)
        except MrekitError as err:
            raise err.at(seq_out, number) from None
        count += 1
        yield Example(
            text=text,
            id=f"{root.name}-{number}",
            labels=_split_label(label_line[1] if labels is not None else "", label_sep),
            spans=spans,
            meta=dict(meta),
        )
    if count == 0:
        raise MrekitError("E101", "no examples in folder", path=root)


def _check_parallel(words_line, tags_line, label_line, seq_in: Path, seq_out: Path, label: Path) -> None:
    for row, path in ((words_line, seq_in), (tags_line, seq_out), (label_line, label)):
        if row is None:
            others = [r for r in (words_line, tags_line, label_line) if isinstance(r, tuple)]
            raise MrekitError(
                "E122",
                f"{path.name} ends before line {others[0][0]} while the other files go on",
                path=path,
                hint="seq.in, seq.out and label need one line per example each",
            )


def _split_label(raw: str, sep: str | None) -> list[str]:
    raw = raw.strip()
    if not raw:
        return []
    if sep is None:
        return [raw]
    return [part for part in raw.split(sep) if part]


def write(
    examples: Iterable[Example],
    folder: str | Path,
    *,
    label_sep: str = "#",
    scheme: str = "BIO",
    overwrite: bool = False,
    inputs: Iterable[str | Path] = (),
) -> int:
    """Write examples as a ``seq.in``/``seq.out``/``label`` folder, atomically.

    Multi-label texts are written as labels joined by ``label_sep``; a text with
    no text level gets an empty ``label`` line.

    Raises:
        MrekitError: ``E123`` when a text cannot be written as whitespace tokens
            without changing it (spans inside words, double spaces): use the
            ``conll`` format, which keeps the text. ``E113`` for overlapping spans.

    Ids, span and label attributes, relations and events have no place in the folder:
    they are counted and reported once (``W131``).
    """
    count = 0
    dropped: dict[str, int] = {}
    with atomic_dir(folder, overwrite=overwrite, inputs=inputs) as tmp:
        files = [(tmp / name).open("w", encoding="utf-8", newline="\n") for name in ("seq.in", "seq.out", "label")]
        try:
            for example in examples:
                words, tags = _words_and_tags(example, scheme, count)
                files[0].write(" ".join(words) + "\n")
                files[1].write(" ".join(tags) + "\n")
                files[2].write(label_sep.join(example.labels) + "\n")
                count_dropped(example, dropped, ids=True)
                count += 1
        finally:
            for fh in files:
                fh.close()
    warn_dropped(logger, "A BIO folder", dropped)
    return count


def _words_and_tags(example: Example, scheme: str, index: int) -> tuple[list[str], list[str]]:
    where = f"example {index} ({example.id})" if example.id else f"example {index}"
    try:
        offsets, tags = example_to_word_tags(example, scheme)
    except MrekitError as err:
        raise MrekitError(err.code, f"{where}: {err.message}", field=err.field, hint=err.hint) from None
    words = [example.text[a:b] for a, b in offsets]
    if " ".join(words) != example.text:
        raise MrekitError(
            "E123",
            f"{where}: {example.text[:40]!r} is not single-space separated words with spans on word boundaries",
            hint="write --to conll, which keeps the original text",
        )
    return words, tags
