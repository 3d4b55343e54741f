"""Canonical JSONL: one :class:`~mrekit.schema.Example` object per line.

Reading is lazy (one line at a time, constant memory); writing is atomic.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from mrekit.errors import MrekitError
from mrekit.files import iter_lines, strict_json_loads
from mrekit.outputs import atomic_file
from mrekit.schema import Example, validate


def read(
    path: str | Path,
    *,
    check: bool = True,
    allow_overlap: bool = True,
    check_surface: bool = True,
) -> Iterator[Example]:
    """Stream examples from a canonical JSONL file; blank lines are skipped.

    Args:
        path: The file to read.
        check: Validate each example (offsets, indices, declared surfaces).
        allow_overlap: Whether overlapping spans are valid.
        check_surface: Whether a span's ``text`` must equal the text at its offsets.

    Raises:
        MrekitError: With code, file and line: ``E103`` malformed JSON, ``E104``
            bad fields, ``E11x`` invalid spans, ``E101`` no examples at all.

    Example:
        >>> next(read("tests/fixtures/snips_mini.jsonl")).labels  # doctest: +SKIP
        ['PlayMusic']
    """
    seen = 0
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            example = parse_line(line, check=check, allow_overlap=allow_overlap, check_surface=check_surface)
        except MrekitError as err:
            raise err.at(path, number) from None
        seen += 1
        yield example
    if seen == 0:
        raise MrekitError("E101", "no examples in file", path=path)


def parse_line(line: str, *, check: bool = True, allow_overlap: bool = True, check_surface: bool = True) -> Example:
    """Parse one JSON line into an example.

    Raises:
        MrekitError: ``E103`` for malformed JSON, ``E104``/``E11x`` for bad content.

    Example:
        >>> parse_line('{"text": "hi", "spans": [{"start": 0, "end": 2, "label": "x"}]}').spans[0].label
        'x'
    """
    data = strict_json_loads(line)
    example = Example.from_dict(data)
    if check:
        problems = validate(example, allow_overlap=allow_overlap, check_surface=check_surface)
        if problems:
            raise problems[0]
    return example


def dumps(example: Example) -> str:
    """Serialise one example as a JSON line (no trailing newline).

    Raises:
        MrekitError: ``E108`` for a NaN or infinite number (a score), which JSON cannot hold.
    """
    try:
        return json.dumps(example.to_dict(), ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise MrekitError("E108", "a score or attribute is NaN or infinite", field=example.id) from None


def write(
    examples: Iterable[Example], path: str | Path, *, overwrite: bool = False, inputs: Iterable[str | Path] = ()
) -> int:
    """Write examples as canonical JSONL, atomically (temp file + rename).

    ``path`` may be ``-`` (standard output). An existing file is refused (``E170``)
    unless ``overwrite``; ``inputs`` are files the output must never be (``E172``).

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "x.jsonl"
        >>> write([Example("hi", labels=["greet"])], out)
        1
    """
    count = 0
    with atomic_file(path, overwrite=overwrite, inputs=inputs) as fh:
        for example in examples:
            fh.write(dumps(example) + "\n")
            count += 1
    return count
