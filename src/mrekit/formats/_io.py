"""Shared file plumbing for readers and writers: UTF-8 lines and atomic writes."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

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


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[IO[str]]:
    """Open a temporary file beside ``path`` and move it into place on success.

    If the body raises, the temporary file is removed and ``path`` is untouched,
    so a failed conversion never leaves a half-written output.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
        >>> with atomic_file(target) as fh:
        ...     _ = fh.write("ok")
        >>> target.read_text()
        'ok'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a folder under a temporary name and rename it to ``path`` on success.

    An existing folder at ``path`` is replaced only once the new one is complete.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
