"""doccano JSONL: read both export shapes, write the joint one.

doccano exports one JSON object per line, with character offsets (end exclusive):

* sequence labelling: ``{"text": ..., "label": [[start, end, "TYPE"], ...]}``;
* text classification: ``{"text": ..., "label": ["pos", ...]}``;
* relation extraction: ``{"text": ..., "entities": [{"id", "label", "start_offset",
  "end_offset"}], "relations": [{"id", "from_id", "to_id", "type"}]}``.

All three are read. mrekit writes the *joint* shape, spans in ``label`` and text
labels in ``cats``::

    {"id": "1", "text": "東京に行く", "label": [[0, 2, "地名"]], "cats": ["travel"]}

It imports into a doccano *sequence labelling* project (doccano keeps ``cats`` as
metadata). Relations are written as ``"relations": [{"id", "from_id", "to_id",
"type"}]`` whose ids are positions in ``label``; mrekit reads them back. A line
without ``label`` has no word-level annotation (``spans`` is ``None``); a line
without ``cats`` has no text-level annotation. An empty ``label: []`` is "no spans"
in a sequence-labelling file and "no labels" in a classification file: the shape of
the file is taken from its first non-empty ``label``. Span and label attributes,
events and scores have no place in doccano and are not written (``W131``).

Example:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "d.jsonl"
    >>> write([Example("東京に行く", labels=["travel"], spans=[Span(0, 2, "地名")])], out)
    1
    >>> out.read_text(encoding="utf-8")
    '{"text": "東京に行く", "label": [[0, 2, "地名"]], "cats": ["travel"]}\\n'
    >>> ex = next(read(out))
    >>> ex.labels, [(s.start, s.end, s.label) for s in ex.spans]
    (['travel'], [(0, 2, '地名')])
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mrekit.errors import MrekitError, warn
from mrekit.files import iter_lines, strict_json_loads
from mrekit.outputs import atomic_file
from mrekit.schema import Example, Relation, Span, validate

logger = logging.getLogger(__name__)

_SPANS, _LABELS = "spans", "labels"


def read(path: str | Path) -> Iterator[Example]:
    """Stream examples from a doccano JSONL export (any of its shapes).

    Raises:
        MrekitError: With file and line: ``E103`` malformed JSON, ``E104`` a bad
            ``label``/``entities``/``relations`` field or a file mixing span and
            string labels, ``E110``-``E114`` spans or relations that do not fit,
            ``E101`` no examples at all.

    Example:
        >>> import tempfile, pathlib
        >>> data = pathlib.Path(tempfile.mkdtemp()) / "cls.jsonl"
        >>> _ = data.write_text('{"text": "great", "label": ["pos"]}\\n')
        >>> ex = next(read(data))
        >>> ex.labels, ex.spans
        (['pos'], None)
    """
    shape: str | None = None
    pending: list[tuple[int, dict[str, Any]]] = []  # lines read before the shape is known
    seen = 0
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        record = _record(line, path, number)
        shape = shape or _shape(record)
        pending.append((number, record))
        if shape is None:
            continue
        for where, item in pending:
            seen += 1
            yield _example(item, shape, path, where)
        pending.clear()
    for where, item in pending:
        seen += 1
        yield _example(item, _LABELS, path, where)
    if seen == 0:
        raise MrekitError("E101", "no examples in file", path=path)


def _record(line: str, path: str | Path, number: int) -> dict[str, Any]:
    try:
        data = strict_json_loads(line)
    except MrekitError as err:
        raise err.at(path, number) from None
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise MrekitError("E104", "a doccano line needs a string 'text'", path=path, line=number, field="text")
    return data


def _shape(record: dict[str, Any]) -> str | None:
    """``spans`` or ``labels`` from the first line that shows it, else ``None``."""
    if isinstance(record.get("entities"), list):
        return _SPANS
    label = record.get("label")
    if isinstance(label, list) and label:
        return _LABELS if isinstance(label[0], str) else _SPANS
    return None


def _example(record: dict[str, Any], shape: str, path: str | Path, number: int) -> Example:
    try:
        example = _parse(record, shape)
    except MrekitError as err:
        raise err.at(path, number) from None
    problems = validate(example)
    if problems:
        raise problems[0].at(path, number)
    return example


def _parse(record: dict[str, Any], shape: str) -> Example:
    labels = _strings(record.get("cats"), "cats")
    spans: list[Span] | None = None
    relations: list[Relation] = []
    if isinstance(record.get("entities"), list):
        spans, ids = _entities(record["entities"])
        relations = _relations(record.get("relations"), ids)
    elif "label" in record:
        if shape == _LABELS:
            labels = labels + [name for name in _strings(record["label"], "label") if name not in labels]
        else:
            spans = [_triple(item, f"label[{j}]") for j, item in enumerate(_list(record["label"], "label"))]
            relations = _relations(record.get("relations"), {i: i for i in range(len(spans))})
    ex_id = record.get("id")
    meta = record.get("meta")
    return Example(
        text=record["text"],
        id=str(ex_id) if isinstance(ex_id, str | int) and not isinstance(ex_id, bool) else None,
        labels=labels,
        spans=spans,
        relations=relations,
        meta=dict(meta) if isinstance(meta, dict) else {},
    )


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise MrekitError("E104", f"'{where}' must be a list", field=where)
    return value


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    items = _list(value, where)
    if not all(isinstance(v, str) for v in items):
        raise MrekitError(
            "E104", f"'{where}' must be a list of strings", field=where, hint="a file mixes span and text labels"
        )
    return list(dict.fromkeys(items))


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _triple(item: Any, where: str) -> Span:
    ok = isinstance(item, list) and len(item) == 3 and _int(item[0]) and _int(item[1]) and isinstance(item[2], str)
    if not ok:
        raise MrekitError(
            "E104", f"'{where}' must be [start, end, \"TYPE\"]", field=where, hint="a file mixes span and text labels"
        )
    return Span(item[0], item[1], item[2])


def _entities(items: list[Any]) -> tuple[list[Span], dict[Any, int]]:
    spans, ids = [], {}
    for j, item in enumerate(items):
        where = f"entities[{j}]"
        ok = (
            isinstance(item, dict)
            and _int(item.get("start_offset"))
            and _int(item.get("end_offset"))
            and isinstance(item.get("label"), str)
        )
        if not ok:
            raise MrekitError(
                "E104", f"'{where}' needs integer start_offset, end_offset and a string label", field=where
            )
        ids[item.get("id", j)] = len(spans)
        spans.append(Span(item["start_offset"], item["end_offset"], item["label"]))
    return spans, ids


def _relations(value: Any, ids: dict[Any, int]) -> list[Relation]:
    relations = []
    for j, item in enumerate(_list(value, "relations") if value is not None else []):
        where = f"relations[{j}]"
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise MrekitError("E104", f"'{where}' needs from_id, to_id and a string type", field=where)
        ends = [ids.get(item.get(key)) for key in ("from_id", "to_id")]
        if None in ends:
            raise MrekitError(
                "E114", f"'{where}' links {item.get('from_id')!r} -> {item.get('to_id')!r}, not both spans", field=where
            )
        relations.append(Relation(ends[0], ends[1], item["type"]))
    return relations


def dumps(example: Example) -> str:
    """One example as a doccano line in the joint shape (no trailing newline).

    Raises:
        MrekitError: ``E108`` for a NaN or infinite number in ``meta``.

    Example:
        >>> dumps(Example("hi", id="7", labels=["greet"]))
        '{"id": "7", "text": "hi", "cats": ["greet"]}'
    """
    record: dict[str, Any] = {}
    if example.id is not None:
        record["id"] = example.id
    record["text"] = example.text
    if example.spans is not None:
        record["label"] = [[s.start, s.end, s.label] for s in example.spans]
    if example.labels:
        record["cats"] = list(example.labels)
    if example.relations:
        record["relations"] = [
            {"id": k, "from_id": r.head, "to_id": r.tail, "type": r.label} for k, r in enumerate(example.relations)
        ]
    if example.meta:
        record["meta"] = dict(example.meta)
    try:
        return json.dumps(record, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise MrekitError("E108", "a meta value is NaN or infinite", field=example.id) from None


def _dropped(example: Example) -> list[str]:
    spans = example.spans or []
    kinds = [
        ("span attributes", any(s.attrs for s in spans)),
        ("label attributes", bool(example.label_attrs)),
        ("events", bool(example.events)),
        ("scores", example.label_scores is not None or any(s.score is not None for s in spans)),
    ]
    return [name for name, lost in kinds if lost]


def write(
    examples: Iterable[Example], path: str | Path, *, overwrite: bool = False, inputs: Iterable[str | Path] = ()
) -> int:
    """Write examples as doccano JSONL (joint shape), atomically.

    ``path`` may be ``-`` (standard output). An existing file is refused (``E170``)
    unless ``overwrite``; ``inputs`` are files the output must never be (``E172``).
    What doccano cannot hold is counted and reported once (``W131``).

    Example:
        >>> import tempfile, pathlib
        >>> write([Example("hi", labels=["greet"])], pathlib.Path(tempfile.mkdtemp()) / "x.jsonl")
        1
    """
    count = 0
    dropped: dict[str, int] = {}
    with atomic_file(path, overwrite=overwrite, inputs=inputs) as fh:
        for example in examples:
            fh.write(dumps(example) + "\n")
            for name in _dropped(example):
                dropped[name] = dropped.get(name, 0) + 1
            count += 1
    if dropped:
        lost = ", ".join(f"{name} of {n} example(s)" for name, n in dropped.items())
        warn(logger, "W131", f"doccano JSONL has no place for {lost}; they were not written")
    return count
