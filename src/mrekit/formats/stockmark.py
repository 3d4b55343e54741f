"""Stockmark Japanese Wikipedia NER JSON (read only): spans only, no text level.

The file is one JSON array of ``{"curid", "text", "entities": [{"name", "span": [start, end], "type"}]}``
with character offsets (end exclusive).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mrekit.errors import MrekitError
from mrekit.files import read_text, strict_json_loads
from mrekit.schema import Example, Span, validate


def read(path: str | Path) -> Iterator[Example]:
    """Read the sentences of a Stockmark NER JSON file.

    Raises:
        MrekitError: ``E103`` for malformed JSON (with line), ``E104`` for
            missing fields, ``E110``-``E112`` for spans that do not fit the text.

    Example:
        >>> ex = next(read("tests/fixtures/stockmark_mini.json"))  # doctest: +SKIP
        >>> ex.surface(ex.spans[0]), ex.spans[0].label  # doctest: +SKIP
        ('SPRiNGS', 'その他の組織名')
    """
    try:
        data = strict_json_loads(read_text(path))
    except MrekitError as err:
        raise err.at(path) from None
    if not isinstance(data, list):
        raise MrekitError("E104", "expected a JSON array of sentences", path=path)
    if not data:
        raise MrekitError("E101", "no sentences in file", path=path)
    for i, item in enumerate(data):
        yield _sentence(item, i, path)


def _sentence(item: Any, index: int, path: str | Path) -> Example:
    where = f"[{index}]"
    if not isinstance(item, dict) or not isinstance(item.get("text"), str):
        raise MrekitError("E104", f"sentence {where} needs a string 'text'", path=path, field=where)
    spans = [_entity(e, f"{where}.entities[{j}]", path) for j, e in enumerate(item.get("entities") or [])]
    example = Example(
        text=item["text"],
        id=str(item.get("curid", index)),
        spans=spans,
        meta={"lang": "ja", "source": "stockmark-ner"},
    )
    problems = validate(example)
    if problems:
        err = problems[0]
        raise MrekitError(err.code, f"sentence {where}: {err.message}", path=path, field=err.field, hint=err.hint)
    return example


def _entity(entity: Any, where: str, path: str | Path) -> Span:
    ok = (
        isinstance(entity, dict)
        and isinstance(entity.get("span"), list)
        and len(entity["span"]) == 2
        and all(isinstance(v, int) for v in entity["span"])
        and isinstance(entity.get("type"), str)
    )
    if not ok:
        raise MrekitError("E104", f"{where} needs 'span': [start, end] and 'type'", path=path, field=where)
    start, end = entity["span"]
    return Span(start, end, entity["type"], surface=entity.get("name"))
