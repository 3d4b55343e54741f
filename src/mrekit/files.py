"""Reading user files: UTF-8 line by line with file:line errors, and strict JSON.

Every reader of :mod:`mrekit.formats` (and the config reader) goes through these, so a
bad byte, a malformed line, ``NaN``, a lone surrogate or absurd nesting is reported the
same way everywhere, with its code, file and line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from mrekit.errors import MrekitError


def require_exists(path: str | Path, *, folder: bool | None = None) -> Path:
    """Return ``path`` as a :class:`Path`, raising ``E100`` if it is missing."""
    p = Path(path)
    if not p.exists():
        raise MrekitError("E100", f"{'folder' if folder else 'file'} not found", path=p)
    if folder is True and not p.is_dir():
        raise MrekitError("E100", "expected a folder, found a file", path=p)
    if folder is False and p.is_dir():
        raise MrekitError("E100", "expected a file, found a folder", path=p)
    return p


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` pairs, 1-based, without the line ending.

    Decoding happens line by line so a bad byte is reported at its line and
    memory stays constant however large the file is.

    Raises:
        MrekitError: ``E100`` if missing, ``E102`` on bytes that are not UTF-8.
    """
    p = require_exists(path, folder=False)
    with p.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise MrekitError(
                    "E102",
                    f"byte {raw[err.start]:#04x} at column {err.start + 1} is not UTF-8",
                    path=p,
                    line=number,
                    hint="re-encode the file as UTF-8",
                ) from None
            if number == 1:
                line = line.removeprefix("\ufeff")
            yield number, line.rstrip("\r\n")


def read_text(path: str | Path) -> str:
    """Read a whole UTF-8 file, reporting the line of any bad byte (``E102``)."""
    p = require_exists(path, folder=False)
    data = p.read_bytes()
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise MrekitError(
            "E102",
            f"byte {data[err.start]:#04x} at column {column} is not UTF-8",
            path=p,
            line=line,
            hint="re-encode the file as UTF-8",
        ) from None


#: A JSON escape of a UTF-16 surrogate; only lines with one need the slower full check.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _reject_constant(name: str) -> float:
    raise MrekitError("E108", f"{name} is not a JSON number", hint="write a finite number or null")


def strict_json_loads(line: str) -> object:
    """Parse one JSON line strictly: no NaN/Infinity, no lone surrogates, bounded nesting.

    Raises:
        MrekitError: ``E103`` malformed JSON, ``E106`` nested too deeply, ``E108``
            ``NaN``/``Infinity``, ``E105`` a lone surrogate such as ``"\\ud800"``.

    Example:
        >>> strict_json_loads('{"score": NaN}')
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E108] NaN is not a JSON number (write a finite number or null)
    """
    try:
        data = json.loads(line, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        where = err.lineno if "\n" in line else None  # a whole file: say which of its lines
        raise MrekitError("E103", f"malformed JSON at column {err.colno}: {err.msg}", line=where) from None
    except RecursionError:
        raise MrekitError("E106", "the JSON is nested too deeply", hint="flatten the record") from None
    if _SURROGATE_ESCAPE.search(line):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise MrekitError(
                "E105", "a string holds a lone surrogate escape (\\ud800-\\udfff)", hint="remove or fix the escape"
            ) from None
    return data
