"""SpERT token JSON (read only): entities and relations over whitespace tokens.

The layout of the SpERT / PFN relation-extraction releases (CoNLL04, ADE folds, SciERC)
is one JSON array of sentences::

    [{"tokens": ["Ann", "works", "for", "Acme", "."],
      "entities": [{"type": "Peop", "start": 0, "end": 1}, {"type": "Org", "start": 3, "end": 4}],
      "relations": [{"type": "Work_For", "head": 0, "tail": 1}],
      "orig_id": 17}]

Each sentence becomes one :class:`~mrekit.schema.Example`:

* ``text`` is the tokens joined by single spaces (``"Ann works for Acme ."``);
* each entity is a span over the exact characters of its tokens ``start .. end - 1``
  (token offsets, end exclusive), labelled with its ``type``. The entities keep their
  order, so span ``i`` is entity ``i`` and relation indices stay valid. Overlapping and
  nested entities (ADE has nested ones) are kept: the schema allows overlaps;
* each relation is a :class:`~mrekit.schema.Relation` ``(head, tail, type)`` between
  entity indices, its direction as in the file;
* a sentence without entities has ``spans=[]`` (annotated, no entity);
* ``id`` is ``orig_id`` (as a string) when present, else ``"<file stem>-<index>"``;
* ``labels`` is empty (SpERT data has no text level) unless ``label`` is given, which
  every sentence then gets (the ADE reader gives ``ADE``, :mod:`mrekit.formats.ade`);
* ``meta`` is ``{"source": "spert"}`` (or the ``source`` given).

A ``.json`` file whose first array element has ``tokens`` and ``entities`` is inferred
as ``spert`` (:func:`mrekit.formats.infer_format`).

Example:
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "dev.json"
    >>> _ = path.write_text(json.dumps([{"tokens": ["Ann", "works", "for", "Acme", "."],
    ...     "entities": [{"type": "Peop", "start": 0, "end": 1}, {"type": "Org", "start": 3, "end": 4}],
    ...     "relations": [{"type": "Work_For", "head": 0, "tail": 1}]}]))
    >>> ex = next(read(path))
    >>> ex.id, ex.text, [(ex.surface(s), s.label) for s in ex.spans]
    ('dev-0', 'Ann works for Acme .', [('Ann', 'Peop'), ('Acme', 'Org')])
    >>> ex.relations
    [Relation(head=0, tail=1, label='Work_For', score=None)]
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mrekit.errors import MrekitError
from mrekit.files import read_text, strict_json_loads
from mrekit.schema import Example, Relation, Span, validate


def read(path: str | Path, *, label: str | None = None, source: str = "spert") -> Iterator[Example]:
    """Read the sentences of a SpERT JSON file, in file order.

    Args:
        path: The JSON file (an array of sentences).
        label: A text label given to every sentence (``None``: no text level).
        source: Stored in ``meta["source"]``.

    Raises:
        MrekitError: Naming the file and field (``[3].entities[1]``): ``E103`` malformed
            JSON (with line), ``E101`` an empty array, ``E104`` a missing or mistyped
            field, ``E107`` an ``orig_id`` given twice, ``E110`` an entity past the last
            token, ``E111`` an entity with no tokens, ``E114`` a relation whose head or
            tail is no entity index.

    Example:
        >>> [ex.id for ex in read("tests/fixtures/conll04_mini.json")]  # doctest: +SKIP
        ['901', '902', '903', 'conll04_mini-3']
    """
    file = Path(path)
    try:
        data = strict_json_loads(read_text(file))
    except MrekitError as err:
        raise err.at(file) from None
    if not isinstance(data, list):
        raise MrekitError("E104", "expected a JSON array of sentences", path=file, hint="is this SpERT JSON?")
    if not data:
        raise MrekitError("E101", "no sentences in file", path=file)
    seen: set[str] = set()
    for index, item in enumerate(data):
        example = parse_sentence(item, index, file, label=label, source=source)
        if example.id in seen:
            raise MrekitError(
                "E107", f"sentence id {example.id!r} is given twice", path=file, field=f"[{index}].orig_id"
            )
        seen.add(str(example.id))
        yield example


def token_offsets(tokens: list[str]) -> list[tuple[int, int]]:
    """Character ``(start, end)`` of each token in ``" ".join(tokens)``.

    Example:
        >>> token_offsets(["Ann", "works", "."])
        [(0, 3), (4, 9), (10, 11)]
    """
    offsets, at = [], 0
    for token in tokens:
        offsets.append((at, at + len(token)))
        at += len(token) + 1
    return offsets


def parse_sentence(
    item: Any, index: int, path: str | Path, *, label: str | None = None, source: str = "spert"
) -> Example:
    """One SpERT sentence (element ``index`` of ``path``) as a checked example.

    Raises:
        MrekitError: As :func:`read`, naming ``path`` and the field.
    """
    where = f"[{index}]"
    if not isinstance(item, dict):
        raise MrekitError("E104", f"sentence {where} must be an object", path=path, field=where)
    tokens = _field(item, "tokens", list, path, where)
    for j, token in enumerate(tokens):
        if not isinstance(token, str):
            raise MrekitError(
                "E104", f"'{where}.tokens[{j}]' must be a string", path=path, field=f"{where}.tokens[{j}]"
            )
    entities = _field(item, "entities", list, path, where)
    relations = _field(item, "relations", list, path, where, required=False)
    offsets = token_offsets(tokens)
    ex_id = _sentence_id(item, index, path, where)
    spans = [_entity(e, f"{where}.entities[{j}]", offsets, path, ex_id) for j, e in enumerate(entities)]
    rels = [_relation(r, f"{where}.relations[{j}]", len(spans), path, ex_id) for j, r in enumerate(relations)]
    example = Example(
        text=" ".join(tokens),
        id=ex_id,
        labels=[label] if label else [],
        spans=spans,
        relations=rels,
        meta={"source": source},
    )
    problems = validate(example)
    if problems:  # empty tokens give empty spans; anything else was caught above
        err = problems[0]
        field = f"{where}.entities{err.field[len('spans') :]}" if (err.field or "").startswith("spans[") else where
        raise MrekitError(err.code, f"sentence {ex_id}: {err.message}", path=path, field=field, hint=err.hint)
    return example


def _sentence_id(item: dict, index: int, path: str | Path, where: str) -> str:
    if item.get("orig_id") is None:
        return f"{Path(path).stem}-{index}"
    value = item["orig_id"]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MrekitError(
            "E104", f"'{where}.orig_id' must be an integer or a string", path=path, field=f"{where}.orig_id"
        )
    return str(value)


def _entity(entity: Any, where: str, offsets: list[tuple[int, int]], path: str | Path, ex_id: str) -> Span:
    if not isinstance(entity, dict):
        raise MrekitError("E104", f"'{where}' must be an object", path=path, field=where)
    kind = _field(entity, "type", str, path, where)
    start = _field(entity, "start", int, path, where)
    end = _field(entity, "end", int, path, where)
    n = len(offsets)
    if start < 0 or end > n:
        raise MrekitError(
            "E110",
            f"sentence {ex_id}: entity tokens {start}-{end} lie outside its {n} tokens",
            path=path,
            field=where,
            hint="token offsets are 0-based, end exclusive",
        )
    if start >= end:
        raise MrekitError(
            "E111", f"sentence {ex_id}: entity start {start} is not before end {end}", path=path, field=where
        )
    return Span(offsets[start][0], offsets[end - 1][1], kind)


def _relation(relation: Any, where: str, n: int, path: str | Path, ex_id: str) -> Relation:
    if not isinstance(relation, dict):
        raise MrekitError("E104", f"'{where}' must be an object", path=path, field=where)
    kind = _field(relation, "type", str, path, where)
    head = _field(relation, "head", int, path, where)
    tail = _field(relation, "tail", int, path, where)
    for role, value in (("head", head), ("tail", tail)):
        if not 0 <= value < n:
            raise MrekitError(
                "E114",
                f"sentence {ex_id}: relation {role} {value} is not an entity index (0..{n - 1})",
                path=path,
                field=f"{where}.{role}",
            )
    return Relation(head, tail, kind)


def _field(data: dict, key: str, kind: type, path: str | Path, where: str, *, required: bool = True) -> Any:
    name = f"{where}.{key}"
    if key not in data or (not required and data[key] is None):
        if not required:
            return kind()
        raise MrekitError("E104", f"missing required field '{name}'", path=path, field=name)
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MrekitError(
            "E104", f"'{name}' must be {kind.__name__}, got {type(value).__name__}", path=path, field=name
        )
    return value
