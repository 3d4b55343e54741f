"""Readers and writers, one module per format, behind one registry.

Each format module defines ``read(path, **options) -> Iterator[Example]`` and,
when the format can be written, ``write(examples, path, **options) -> int``
(the number of examples written, atomically: nothing is left on failure).

Example:
    >>> from mrekit import formats
    >>> sorted(formats.FORMATS)[:3]
    ['bio', 'conll', 'giellm']
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from mrekit.errors import MrekitError
from mrekit.files import iter_lines, strict_json_loads
from mrekit.schema import Example

#: Format name -> module implementing it.
FORMATS: dict[str, str] = {
    "jsonl": "mrekit.formats.jsonl",
    "bio": "mrekit.formats.bio",
    "conll": "mrekit.formats.conll",
    "semeval-absa": "mrekit.formats.semeval",
    "stockmark": "mrekit.formats.stockmark",
    "oiellm": "mrekit.formats.oiellm",
    "giellm": "mrekit.formats.giellm",
    "spacy": "mrekit.formats.spacy",
}

_SUFFIXES = {
    ".xml": "semeval-absa",
    ".spacy": "spacy",
    ".conll": "conll",
    ".iob": "conll",
    ".bio": "conll",
}


def format_module(name: str) -> ModuleType:
    """Return the module implementing format ``name``.

    Raises:
        MrekitError: ``E130`` for a name that is not a known format.
    """
    if name not in FORMATS:
        raise MrekitError("E130", f"unknown format {name!r}", hint=f"choose one of: {', '.join(sorted(FORMATS))}")
    return importlib.import_module(FORMATS[name])


def infer_format(path: str | Path) -> str:
    """Guess the format of ``path`` from its layout, suffix and first line.

    Raises:
        MrekitError: ``E100`` if ``path`` is missing, ``E131`` if ambiguous.

    Example:
        >>> infer_format("train.xml")  # doctest: +SKIP
        'semeval-absa'
    """
    p = Path(path)
    if not p.exists():
        raise MrekitError("E100", "file or folder not found", path=p)
    if p.is_dir():
        if (p / "seq.in").exists():
            return "bio"
        raise MrekitError("E131", "a folder without seq.in is no known format", path=p, hint="pass --from")
    suffix = p.suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if suffix == ".json":
        return "stockmark"
    if suffix == ".jsonl":
        return _infer_jsonl(p)
    raise MrekitError(
        "E131", f"cannot tell the format from the suffix {suffix or '(none)'!r}", path=p, hint="pass --from"
    )


def _infer_jsonl(path: Path) -> str:

    for _, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            first = strict_json_loads(line)
        except MrekitError:
            return "jsonl"  # let the reader report the malformed line
        if isinstance(first, dict) and "input" in first and "output" in first and "text" not in first:
            raise MrekitError(
                "E131",
                "input/output lines may be OIELLM or GIELLM strings",
                path=path,
                hint="pass --from oiellm or giellm",
            )
        return "jsonl"
    return "jsonl"


def read(path: str | Path, fmt: str | None = None, **options: Any) -> Iterator[Example]:
    """Read examples from ``path`` in format ``fmt`` (inferred when ``None``).

    Example:
        >>> examples = list(read("tests/fixtures/snips_mini.jsonl"))  # doctest: +SKIP
    """
    name = fmt or infer_format(path)
    return format_module(name).read(path, **options)


def write(examples: Iterable[Example], path: str | Path, fmt: str, **options: Any) -> int:
    """Write ``examples`` to ``path`` in format ``fmt``; returns how many were written.

    Every writer takes ``overwrite`` (replace an existing output mrekit may replace)
    and ``inputs`` (files the output must never be); see :mod:`mrekit.outputs`.

    Raises:
        MrekitError: ``E130`` if ``fmt`` is unknown or can only be read; ``E170``
            for an existing output without ``overwrite``; ``E172`` if it is an input.
    """
    module = format_module(fmt)
    if not hasattr(module, "write"):
        raise MrekitError("E130", f"format {fmt!r} can be read but not written", hint="write jsonl instead")
    return module.write(examples, path, **options)
