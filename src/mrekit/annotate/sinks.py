"""Writing annotations: one row per document, sharded into ``part-NNNNN.jsonl`` (or ``.parquet``).

A shard is written under a temporary name and renamed into place when complete
(:func:`mrekit.outputs.atomic_file`), so a shard file is either whole or absent; the
temporary file of a killed run is removed by the next write of that shard (``W110``).

Every row has the same keys (an absent level is ``null`` or empty)::

    id, text (unless include_text=False), labels, label_scores, label_attrs, label_attr_scores,
    spans (start, end, label, text, score, attrs, attr_scores), relations, events, meta,
    source {file, line}, fields (the input row's other fields), model {name, path},
    model_version {mrekit, weights_sha256}

In Parquet, the open-ended parts (``label_attrs``, ``label_attr_scores``, a span's
``attrs`` and ``attr_scores``, ``meta``, ``fields``) are JSON strings; the rest is typed.

Example:
    >>> from mrekit.schema import Example, Span
    >>> from mrekit.annotate.sources import Record
    >>> doc = Record("a.txt", 1, "a:1", "play muse")
    >>> row = build_row(doc, Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")]), model={})
    >>> row["id"], row["labels"], row["spans"][0]["text"], row["source"]
    ('a:1', ['PlayMusic'], 'muse', {'file': 'a.txt', 'line': 1})
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from mrekit.annotate.sources import BadRow, Record, require_pyarrow
from mrekit.errors import MrekitError
from mrekit.integrity import sha256_file
from mrekit.outputs import atomic_file
from mrekit.schema import Example

#: What ``fmt`` accepts: the shards' format (and suffix).
FORMATS = ("jsonl", "parquet")
#: The errors file of an output folder: one JSON line per bad input row.
ERRORS = "errors.jsonl"
#: Rows per Parquet row group.
ROW_GROUP = 1024


def shard_name(index: int, fmt: str) -> str:
    """The file name of shard ``index``.

    Example:
        >>> shard_name(3, "parquet")
        'part-00003.parquet'
    """
    return f"part-{index:05d}.{fmt}"


@dataclass(frozen=True)
class ShardFile:
    """A shard in place: its file name, how many documents it holds, its size and hash, its first and last id."""

    name: str
    documents: int
    bytes: int
    sha256: str
    first_id: str | None
    last_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_row(record: Record, prediction: Example, *, model: dict[str, Any], include_text: bool = True) -> dict:
    """The output row of one document: the prediction's fields, where it came from and which model made it."""
    data = prediction.to_dict()
    row: dict[str, Any] = {"id": record.id}
    if include_text:
        row["text"] = record.text
    row.update(
        labels=data.get("labels", []),
        label_scores=data.get("label_scores"),
        label_attrs=data.get("label_attrs", {}),
        label_attr_scores=data.get("label_attr_scores"),
        spans=data.get("spans"),
        relations=data.get("relations", []),
        events=data.get("events", []),
        meta=data.get("meta", {}),
        source={"file": record.source, "line": record.line},
        fields=record.extra,
        model=model.get("model"),
        model_version=model.get("model_version"),
    )
    return row


class JsonlShardWriter:
    """Rows as JSON lines."""

    binary = False

    def __init__(self, fh: IO, *, include_text: bool = True) -> None:
        self.fh = fh

    def write(self, row: dict[str, Any]) -> None:
        try:
            line = json.dumps(row, ensure_ascii=False, allow_nan=False)
        except ValueError:
            raise MrekitError("E108", "a score or field is NaN or infinite", field=str(row.get("id"))) from None
        self.fh.write(line + "\n")

    def close(self) -> None:
        """Nothing buffered."""


def parquet_schema(include_text: bool = True) -> Any:
    """The Arrow schema of a Parquet shard (the same for every shard of a run)."""
    require_pyarrow("writing Parquet")
    import pyarrow as pa

    string, integer, real = pa.string(), pa.int64(), pa.float64()
    span = pa.struct(
        [
            ("start", integer),
            ("end", integer),
            ("label", string),
            ("text", string),
            ("score", real),
            ("attrs", string),
            ("attr_scores", string),
        ]
    )
    relation = pa.struct([("head", integer), ("tail", integer), ("label", string), ("score", real)])
    argument = pa.struct([("role", string), ("span", integer)])
    event = pa.struct([("trigger", integer), ("type", string), ("args", pa.list_(argument))])
    fields = [("id", string)] + ([("text", string)] if include_text else [])
    fields += [
        ("labels", pa.list_(string)),
        ("label_scores", pa.map_(string, real)),
        ("label_attrs", string),
        ("label_attr_scores", string),
        ("spans", pa.list_(span)),
        ("relations", pa.list_(relation)),
        ("events", pa.list_(event)),
        ("meta", string),
        ("source", pa.struct([("file", string), ("line", integer)])),
        ("fields", string),
        ("model", pa.struct([("name", string), ("path", string)])),
        ("model_version", pa.struct([("mrekit", string), ("weights_sha256", string)])),
    ]
    return pa.schema(fields)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)


def parquet_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row as the Parquet schema holds it (JSON strings for the open-ended parts)."""
    out = dict(row)
    scores = row.get("label_scores")
    out["label_scores"] = None if scores is None else list(scores.items())
    for key in ("label_attrs", "label_attr_scores", "meta", "fields"):
        out[key] = _json(row.get(key))
    if row.get("spans") is not None:
        out["spans"] = [
            {**span, "attrs": _json(span.get("attrs")), "attr_scores": _json(span.get("attr_scores"))}
            for span in row["spans"]
        ]
    out["events"] = [
        {"trigger": e["trigger"], "type": e["type"], "args": [{"role": r, "span": i} for r, i in e.get("args", [])]}
        for e in row.get("events", [])
    ]
    return out


class ParquetShardWriter:
    """Rows as a Parquet file, written a row group (:data:`ROW_GROUP` rows) at a time."""

    binary = True

    def __init__(self, fh: IO, *, include_text: bool = True) -> None:
        pq = require_pyarrow("writing Parquet")
        self.schema = parquet_schema(include_text)
        self.writer = pq.ParquetWriter(fh, self.schema)
        self.rows: list[dict[str, Any]] = []

    def write(self, row: dict[str, Any]) -> None:
        self.rows.append(parquet_row(row))
        if len(self.rows) >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self.rows:
            self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []

    def close(self) -> None:
        self._flush()
        self.writer.close()


WRITERS = {"jsonl": JsonlShardWriter, "parquet": ParquetShardWriter}


def write_shard(path: str | Path, rows: Iterable[dict[str, Any]], *, fmt: str = "jsonl", include_text: bool = True):
    """Write ``rows`` (consumed lazily) as the shard ``path``, atomically; returns its :class:`ShardFile`.

    An existing file at ``path`` is replaced (the caller decides which shards to write).
    If ``rows`` raises, no file (and no temporary file) is left.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "part-00000.jsonl"
        >>> write_shard(out, [{"id": "a"}, {"id": "b"}]).documents
        2
    """
    writer_class = WRITERS[fmt]
    count, first, last = 0, None, None
    with atomic_file(path, overwrite=True, binary=writer_class.binary) as fh:
        writer = writer_class(fh, include_text=include_text)
        for row in rows:
            writer.write(row)
            count += 1
            first = row.get("id") if first is None else first
            last = row.get("id")
        writer.close()
    target = Path(path)
    return ShardFile(target.name, count, target.stat().st_size, sha256_file(target), first, last)


@contextlib.contextmanager
def error_log(path: str | Path) -> Iterator[ErrorLog]:
    """``errors.jsonl``, streamed to a temporary file and put in place when the run ends (complete)."""
    with atomic_file(path, overwrite=True) as fh:
        yield ErrorLog(fh)


class ErrorLog:
    """Bad rows, one JSON line each (``file``, ``line``, ``code``, ``message``)."""

    def __init__(self, fh: IO) -> None:
        self.fh, self.count = fh, 0

    def write(self, bad: BadRow) -> None:
        self.fh.write(json.dumps(bad.to_dict(), ensure_ascii=False) + "\n")
        self.count += 1
