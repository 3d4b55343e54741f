"""CoNLL-style token files: one ``token<TAB>tag`` line per token, blank line between texts.

Per-text comment lines carry what tokens cannot:

* ``# id = ...``
* ``# text = ...`` the original text; tokens are located in it, so Japanese
  (no spaces) and irregular spacing keep exact character offsets;
* ``# label = ...`` one line per text-level label.

Without ``# text``, tokens are joined with a space, or with nothing when the
text is in a script written without spaces (Japanese, Chinese).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mrekit.errors import MrekitError
from mrekit.files import iter_lines
from mrekit.formats._words import (
    count_dropped,
    example_to_word_tags,
    join_words,
    locate_words,
    tags_to_char_spans,
    warn_dropped,
)
from mrekit.outputs import atomic_file
from mrekit.schema import Example

logger = logging.getLogger(__name__)


@dataclass
class _Block:
    first_line: int
    id: str | None = None
    text: str | None = None
    labels: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def read(path: str | Path, *, joiner: str | None = None) -> Iterator[Example]:
    """Stream examples from a CoNLL-style file.

    Args:
        path: The file.
        joiner: String placed between tokens when a text has no ``# text`` line;
            ``None`` chooses per text (nothing for Japanese/Chinese, else a space).

    Raises:
        MrekitError: ``E120`` for a token line without a tag, ``E121`` for a
            malformed tag, ``E124`` when tokens do not spell out ``# text``,
            ``E101`` for a file with no examples.

    Example:
        >>> [e.text for e in read("tests/fixtures/mini.conll")]  # doctest: +SKIP
        ['play muse', '松友美佐紀は選手']
    """
    count = 0
    block = _Block(first_line=1)
    for number, line in iter_lines(path):
        if not line.strip():
            if block.words:
                count += 1
                yield _to_example(block, path, count, joiner)
            block = _Block(first_line=number + 1)
        elif line.startswith("#"):
            _read_comment(block, line)
        else:
            _read_token(block, line, path, number)
    if block.words:
        count += 1
        yield _to_example(block, path, count, joiner)
    if count == 0:
        raise MrekitError("E101", "no examples in file", path=path)


def _read_comment(block: _Block, line: str) -> None:
    key, sep, value = line[1:].partition("=")
    if not sep:
        return
    key = key.strip()
    # The text keeps its own spaces; only the one after "=" belongs to the syntax.
    value = value[1:] if value.startswith(" ") else value
    if key == "id":
        block.id = value.strip()
    elif key == "text":
        block.text = value
    elif key in ("label", "labels") and value.strip():
        block.labels.append(value.strip())


def _read_token(block: _Block, line: str, path: str | Path, number: int) -> None:
    columns = line.split("\t") if "\t" in line else line.split()
    if len(columns) < 2 or not columns[-1].strip():
        raise MrekitError("E120", f"token line {line!r} has no tag column", path=path, line=number)
    block.words.append(columns[0])
    block.tags.append(columns[-1].strip())


def _to_example(block: _Block, path: str | Path, index: int, joiner: str | None = None) -> Example:
    if block.text is None:
        text, offsets = join_words(block.words, joiner)
    else:
        text = block.text
        offsets = locate_words(text, block.words)
        if offsets is None:
            raise MrekitError("E124", "the tokens do not spell out the '# text' line", path=path, line=block.first_line)
    try:
        spans = tags_to_char_spans(offsets, block.tags)
    except MrekitError as err:
        raise err.at(path, block.first_line) from None
    return Example(text=text, id=block.id or str(index), labels=block.labels, spans=spans)


def write(
    examples: Iterable[Example],
    path: str | Path,
    *,
    scheme: str = "BIO",
    overwrite: bool = False,
    inputs: Iterable[str | Path] = (),
) -> int:
    """Write examples as CoNLL with ``# id``, ``# text`` and ``# label`` lines, atomically.

    Words come from the character offsets (whitespace and span boundaries), so
    any text, Japanese included, round-trips exactly.

    Raises:
        MrekitError: ``E113`` for overlapping spans, ``E125`` for a span with
            whitespace at an edge, ``E123`` for a text with a line break.

    Span and label attributes, relations and events have no place in CoNLL: they are
    counted and reported once (``W131``).
    """
    count = 0
    dropped: dict[str, int] = {}
    with atomic_file(path, overwrite=overwrite, inputs=inputs) as fh:
        for example in examples:
            if "\n" in example.text or "\r" in example.text:
                raise MrekitError(
                    "E123",
                    f"example {count} ({example.id}): the text has a line break, which a `# text` line cannot hold",
                    hint="write JSONL, which keeps any text",
                )
            try:
                offsets, tags = example_to_word_tags(example, scheme)
            except MrekitError as err:
                raise MrekitError(err.code, f"example {count} ({example.id}): {err.message}", field=err.field) from None
            if example.id is not None:
                fh.write(f"# id = {example.id}\n")
            fh.write(f"# text = {example.text}\n")
            for label in example.labels:
                fh.write(f"# label = {label}\n")
            for (start, end), tag in zip(offsets, tags, strict=True):
                fh.write(f"{example.text[start:end]}\t{tag}\n")
            fh.write("\n")
            count_dropped(example, dropped)
            count += 1
    warn_dropped(logger, "CoNLL", dropped)
    return count
