"""Streaming readers of the documents to annotate: JSONL, plain text, CSV/TSV and Parquet.

Every reader yields, in file order, a :class:`Record` per document or a :class:`BadRow`
per row that cannot be one (no text, a text that is not a string or is empty, a line
that is not UTF-8, bad JSON): a bad row is reported with its file, line and code and
never stops the run. Memory stays constant: text files are read line by line, Parquet
in record batches.

Ids: the row's own id (``id_key``), else ``<file stem>:<line>`` (``<file stem>`` for
a whole-file text document). Lines are 1-based file lines (CSV/TSV: the line where the
row begins, the header being line 1); Parquet rows are numbered from 1.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.jsonl").write_text('{"id": 7, "text": "play muse"}\\n{"txt": "x"}\\n')
    >>> for row in iter_documents([folder / "a.jsonl"]):
    ...     print(row)  # doctest: +ELLIPSIS
    Record(source='...a.jsonl', line=1, id='7', text='play muse', extra={})
    BadRow(source='...a.jsonl', line=2, code='E104', message="no 'text' field")
"""

from __future__ import annotations

import csv
import glob
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrekit.errors import MrekitError
from mrekit.files import strict_json_loads

#: Input formats and the file suffixes that name them.
SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".txt": "txt",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
#: What ``input_format`` accepts (``None``: from each file's suffix).
INPUT_FORMATS = ("jsonl", "txt", "csv", "tsv", "parquet")
#: What ``txt_mode`` accepts: one document per non-blank line, or one per file.
TXT_MODES = ("lines", "file")
#: Rows per Parquet record batch.
PARQUET_BATCH = 1024
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Record:
    """One document to annotate: where it comes from, its id and text, and the row's other fields."""

    source: str
    line: int
    id: str
    text: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BadRow:
    """A row that is no document: its place (``line`` ``None`` for a whole file), code and message."""

    source: str
    line: int | None
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The line of ``errors.jsonl`` that reports it."""
        return {"file": self.source, "line": self.line, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class ReadOptions:
    """How inputs are read: the keys (columns) of text and id, TXT mode and a forced format."""

    text_key: str = "text"
    id_key: str = "id"
    txt_mode: str = "lines"
    input_format: str | None = None

    def check(self) -> None:
        """Refuse an unknown TXT mode or input format, or empty keys (``E183``)."""
        if self.txt_mode not in TXT_MODES:
            raise MrekitError("E183", f"txt_mode must be lines or file, not {self.txt_mode!r}", field="txt_mode")
        if self.input_format is not None and self.input_format not in INPUT_FORMATS:
            known = ", ".join(INPUT_FORMATS)
            raise MrekitError("E130", f"unknown input format {self.input_format!r}", field="input_format", hint=known)
        for name in ("text_key", "id_key"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise MrekitError("E183", f"{name} must be a non-empty string", field=name)
        if self.text_key == self.id_key:
            raise MrekitError("E183", "text_key and id_key must differ", field="id_key")


def expand_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """The input files: each given file, or each glob's matches (sorted; ``**`` recurses), once each.

    Raises:
        MrekitError: ``E100`` for a missing file, a folder, or a glob that matches no file.

    Example:
        >>> expand_inputs(["no/such/*.jsonl"])
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E100] no/such/*.jsonl: no file matches the pattern (check it; ** recurses)
    """
    found: list[Path] = []
    seen: set[str] = set()
    for item in inputs:
        spec = str(item)
        if _GLOB_CHARS & set(spec) and not Path(spec).exists():
            matches = [Path(p) for p in sorted(glob.glob(spec, recursive=True)) if Path(p).is_file()]
            if not matches:
                raise MrekitError("E100", "no file matches the pattern", path=spec, hint="check it; ** recurses")
        else:
            path = Path(spec)
            if not path.exists():
                raise MrekitError("E100", "file not found", path=path)
            if path.is_dir():
                raise MrekitError("E100", "expected a file, found a folder", path=path, hint=f"use '{path}/*.jsonl'")
            matches = [path]
        for path in matches:
            key = os.path.realpath(path)
            if key not in seen:
                seen.add(key)
                found.append(path)
    if not found:
        raise MrekitError("E101", "no input files")
    return found


def format_of(path: Path, options: ReadOptions) -> str:
    """The input format of ``path``: ``options.input_format``, else its suffix's.

    Raises:
        MrekitError: ``E131`` for a suffix that names no format.
    """
    if options.input_format is not None:
        return options.input_format
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(SUFFIXES))
        raise MrekitError("E131", "cannot tell the input format from the suffix", path=path, hint=f"use {known}")
    return fmt


def iter_documents(paths: Sequence[Path], options: ReadOptions | None = None) -> Iterator[Record | BadRow]:
    """Every document (or bad row) of ``paths``, file after file, in order."""
    options = options or ReadOptions()
    for path in paths:
        fmt = format_of(path, options)
        yield from READERS[fmt](path, options)


def _document(
    path: Path, line: int, data: dict[str, Any], options: ReadOptions, default_id: str | None = None
) -> Record | BadRow:
    """A record from one row's fields, or what is wrong with them."""
    source = str(path)
    if options.text_key not in data or data[options.text_key] is None:
        return BadRow(source, line, "E104", f"no {options.text_key!r} field")
    text = data[options.text_key]
    if not isinstance(text, str):
        return BadRow(source, line, "E104", f"{options.text_key!r} is a {type(text).__name__}, not a string")
    if not text.strip():
        return BadRow(source, line, "E104", f"{options.text_key!r} is empty")
    raw_id = data.get(options.id_key)
    if raw_id is None or raw_id == "":
        doc_id = default_id if default_id is not None else f"{path.stem}:{line}"
    elif isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
        return BadRow(source, line, "E104", f"{options.id_key!r} is a {type(raw_id).__name__}, not a string or integer")
    else:
        doc_id = str(raw_id)
    extra = {k: v for k, v in data.items() if k not in (options.text_key, options.id_key)}
    return Record(source, line, doc_id, text, extra)


def _binary_lines(path: Path) -> Iterator[tuple[int, str | BadRow]]:
    """``(line number, text or the BadRow of a line that is not UTF-8)``, line endings stripped."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                message = f"byte {raw[err.start]:#04x} at column {err.start + 1} is not UTF-8"
                yield number, BadRow(str(path), number, "E102", message)
                continue
            if number == 1:
                line = line.removeprefix("\ufeff")
            yield number, line.rstrip("\r\n")


def read_jsonl(path: Path, options: ReadOptions) -> Iterator[Record | BadRow]:
    """One JSON object per non-blank line."""
    for number, line in _binary_lines(path):
        if isinstance(line, BadRow):
            yield line
            continue
        if not line.strip():
            continue
        try:
            data = strict_json_loads(line)
        except MrekitError as err:
            yield BadRow(str(path), number, err.code, err.message)
            continue
        if not isinstance(data, dict):
            yield BadRow(str(path), number, "E104", f"expected a JSON object, got {type(data).__name__}")
            continue
        yield _document(path, number, data, options)


def read_txt(path: Path, options: ReadOptions) -> Iterator[Record | BadRow]:
    """One document per non-blank line (``txt_mode="lines"``) or the whole file (``"file"``)."""
    if options.txt_mode == "file":
        data = path.read_bytes()
        try:
            text = data.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as err:
            line = data.count(b"\n", 0, err.start) + 1
            yield BadRow(str(path), line, "E102", f"byte {data[err.start]:#04x} is not UTF-8")
            return
        yield _document(path, 1, {options.text_key: text}, options, default_id=path.stem)
        return
    for number, line in _binary_lines(path):
        if isinstance(line, BadRow):
            yield line
        elif line.strip():
            yield _document(path, number, {options.text_key: line}, options)


def read_csv(path: Path, options: ReadOptions, *, delimiter: str = ",") -> Iterator[Record | BadRow]:
    """A header row naming the columns, then one document per row (quoted fields may span lines)."""
    source = str(path)
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader, None)
        except csv.Error as err:
            yield BadRow(source, 1, "E104", f"unreadable header: {err}")
            return
        if header is None:
            return
        if options.text_key not in header:
            message = f"the header has no {options.text_key!r} column (columns: {', '.join(header)})"
            yield BadRow(source, 1, "E104", message)
            return
        if _has_bad_bytes(header):
            yield BadRow(source, 1, "E102", "the header holds bytes that are not UTF-8")
            return
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                yield BadRow(source, start, "E104", f"malformed row: {err}")
                start = reader.line_num + 1
                continue
            line, start = start, reader.line_num + 1
            if not row:
                continue
            if len(row) != len(header):
                yield BadRow(source, line, "E104", f"the row has {len(row)} fields, the header {len(header)}")
            elif _has_bad_bytes(row):
                yield BadRow(source, line, "E102", "the row holds bytes that are not UTF-8")
            else:
                yield _document(path, line, dict(zip(header, row, strict=True)), options)


def _has_bad_bytes(values: Iterable[str]) -> bool:
    return any("\udc80" <= ch <= "\udcff" for value in values for ch in value)


def read_tsv(path: Path, options: ReadOptions) -> Iterator[Record | BadRow]:
    """CSV with tabs."""
    return read_csv(path, options, delimiter="\t")


def require_pyarrow(what: str) -> Any:
    """``pyarrow.parquet``, or ``E132`` naming the extra that brings it."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MrekitError(
            "E132", f"{what} needs pyarrow", hint="pip install 'mrekit[annotate]', or pip install pyarrow"
        ) from None
    return pq


def read_parquet(path: Path, options: ReadOptions) -> Iterator[Record | BadRow]:
    """One document per row, read in record batches of :data:`PARQUET_BATCH` rows."""
    pq = require_pyarrow("reading Parquet")
    source = str(path)
    try:
        parquet = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError, ... for a file that is not Parquet
        yield BadRow(source, None, "E104", f"not a readable Parquet file: {err}")
        return
    names = parquet.schema_arrow.names
    if options.text_key not in names:
        yield BadRow(source, None, "E104", f"no {options.text_key!r} column (columns: {', '.join(names)})")
        return
    number = 0
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH):
        for data in batch.to_pylist():
            number += 1
            yield _document(path, number, {k: _plain(v) for k, v in data.items()}, options)


def _plain(value: Any) -> Any:
    """A Parquet value as JSON can hold it (dates, decimals and bytes as strings, NaN as null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


READERS = {"jsonl": read_jsonl, "txt": read_txt, "csv": read_csv, "tsv": read_tsv, "parquet": read_parquet}


def estimate_documents(paths: Sequence[Path], options: ReadOptions | None = None) -> int:
    """About how many documents ``paths`` hold, cheaply (for an ETA): non-blank lines, rows, files.

    Exact for JSONL, TXT and Parquet; a CSV field that spans lines counts more than once.
    """
    options = options or ReadOptions()
    total = 0
    for path in paths:
        fmt = format_of(path, options)
        if fmt == "parquet":
            total += require_pyarrow("reading Parquet").ParquetFile(path).metadata.num_rows
        elif fmt == "txt" and options.txt_mode == "file":
            total += 1
        else:
            with path.open("rb", buffering=1 << 20) as fh:
                count = sum(1 for raw in fh if raw.strip())
            total += max(count - 1, 0) if fmt in ("csv", "tsv") else count
    return total


def fingerprint_inputs(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Each input's absolute path, size and modification time: what ``--resume`` checks is unchanged."""
    out = []
    for path in paths:
        info = path.stat()
        out.append({"path": os.path.abspath(path), "size": info.st_size, "mtime_ns": info.st_mtime_ns})
    return out
