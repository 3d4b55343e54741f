"""Label Studio JSON: a JSON array of tasks, read and written.

A task holds the text in ``data.text`` and its annotation in
``annotations[0].result`` (a model's in ``predictions[0].result``, with scores):

* ``{"type": "labels", "id": "s0", "from_name": "label", "to_name": "text",
  "value": {"start", "end", "text", "labels": ["TYPE"]}}`` is a span (character
  offsets, end exclusive; one span per label of the region);
* ``{"type": "choices", "value": {"choices": [...]}}`` holds the text labels;
* ``{"type": "relation", "from_id", "to_id", "labels": [...]}`` links two regions
  (``direction: "left"`` is read reversed; a relation without labels is ``"related"``).

The labelling config these tasks fit (``from_name``/``to_name`` are its names)::

    <View>
      <Text name="text" value="$text"/>
      <Labels name="label" toName="text"><Label value="人名"/></Labels>
      <Choices name="choice" toName="text" choice="multiple"><Choice value="news"/></Choices>
      <Relations><Relation value="works_for"/></Relations>
    </View>

Reading uses the first annotation that was not cancelled, else the first prediction.
Spans are ``[]`` (annotated, none found) for a labelled task when some task of the file
has a ``labels`` region, else ``None``. Other result types (``textarea``, ``rating``...)
are skipped with ``W130``. ``data.id`` (else the task id) becomes the example id and
the task's ``meta`` its meta.

Writing puts an example with scores (a prediction) in ``predictions`` with the region
scores, any other in ``annotations``; an example with neither level annotated becomes a
bare task to label. Label Studio keeps one score per result, so the ``choices`` result
carries the lowest score of the chosen labels. Span and label attributes and events
have no place here (``W131``).

Example:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "tasks.json"
    >>> ex = Example("大月はキングレコード", labels=["news"], spans=[Span(0, 2, "人名"), Span(3, 10, "法人名")],
    ...              relations=[Relation(0, 1, "works_for")])
    >>> write([ex], out)
    1
    >>> back = next(read(out))
    >>> [(s.start, s.end, s.label) for s in back.spans], back.labels, back.relations
    ([(0, 2, '人名'), (3, 10, '法人名')], ['news'], [Relation(head=0, tail=1, label='works_for', score=None)])
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mrekit.errors import MrekitError, warn
from mrekit.files import read_text, strict_json_loads
from mrekit.outputs import atomic_file
from mrekit.schema import Example, Relation, Span, validate

logger = logging.getLogger(__name__)

#: The relation label of a Label Studio relation drawn without one.
UNLABELLED_RELATION = "related"
_BLANK = re.compile(r"[ \t\r\n]*")


def read(path: str | Path, *, text_key: str = "text") -> Iterator[Example]:
    """Read the tasks of a Label Studio JSON export.

    Args:
        path: The ``.json`` file (a JSON array of tasks).
        text_key: The ``data`` field holding the text (``$text`` in the labelling config).

    Raises:
        MrekitError: With file and the line the task starts on: ``E103`` malformed
            JSON, ``E104`` a task or result of the wrong shape, ``E110``-``E112``
            spans that do not fit the text, ``E114`` a relation to an unknown
            region, ``E101`` no tasks.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.json"
        >>> _ = path.write_text('[{"data": {"text": "good"}, "annotations": [{"result": '
        ...     '[{"type": "choices", "value": {"choices": ["pos"]}}]}]}]')
        >>> [(ex.labels, ex.spans) for ex in read(path)]
        [(['pos'], None)]
    """
    text = read_text(path)
    try:
        tasks = strict_json_loads(text)
    except MrekitError as err:
        raise err.at(path) from None
    if not isinstance(tasks, list):
        raise MrekitError("E104", "expected a JSON array of tasks", path=path, hint="export the project as JSON")
    if not tasks:
        raise MrekitError("E101", "no tasks in file", path=path)
    lines = _task_lines(text, len(tasks))
    results = [_results(task, i, path, lines[i]) for i, task in enumerate(tasks)]
    word_level = any(r is not None and any(item.get("type") == "labels" for item in r) for r in results)
    skipped: Counter[str] = Counter()
    for i, task in enumerate(tasks):
        try:
            yield _example(task, results[i], i, word_level, text_key, skipped)
        except MrekitError as err:
            raise err.at(path, lines[i]) from None
    if skipped:
        kinds = ", ".join(f"{n} {kind!r}" for kind, n in sorted(skipped.items()))
        warn(logger, "W130", f"{path}: skipped Label Studio results mrekit does not read: {kinds}")


def _task_lines(text: str, count: int) -> list[int]:
    """The 1-based line each top-level task starts on (the JSON is known to be valid)."""
    decoder = json.JSONDecoder()
    lines, pos, line = [], text.index("[") + 1, 1
    line += text.count("\n", 0, pos)
    for _ in range(count):
        start = _BLANK.match(text, pos).end()
        line += text.count("\n", pos, start)
        lines.append(line)
        _, end = decoder.raw_decode(text, start)
        line += text.count("\n", start, end)
        comma = text.index(",", end) + 1 if len(lines) < count else end
        line += text.count("\n", end, comma)
        pos = comma
    return lines


def _results(task: Any, index: int, path: str | Path, line: int) -> list[dict[str, Any]] | None:
    """The result list of the first live annotation, else of the first prediction."""
    where = f"[{index}]"
    if not isinstance(task, dict):
        raise MrekitError("E104", f"task {where} must be an object", path=path, line=line, field=where)
    for key in ("annotations", "predictions"):
        items = task.get(key) or []
        if not isinstance(items, list):
            raise MrekitError("E104", f"'{key}' must be a list", path=path, line=line, field=f"{where}.{key}")
        for item in items:
            if isinstance(item, dict) and not item.get("was_cancelled"):
                result = item.get("result") or []
                if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
                    raise MrekitError(
                        "E104", "'result' must be a list of objects", path=path, line=line, field=f"{where}.{key}"
                    )
                return result
    return None


def _example(
    task: dict[str, Any],
    result: list[dict[str, Any]] | None,
    index: int,
    word_level: bool,
    text_key: str,
    skipped: Counter[str],
) -> Example:
    data = task.get("data")
    if not isinstance(data, dict) or not isinstance(data.get(text_key), str):
        raise MrekitError("E104", f"task [{index}] needs a string data.{text_key}", field=f"[{index}].data.{text_key}")
    text = data[text_key]
    spans: list[Span] = []
    regions: dict[Any, int] = {}
    labels: dict[str, float | None] = {}
    relations: list[Relation] = []
    for j, item in enumerate(result or []):
        kind, where = item.get("type"), f"[{index}].result[{j}]"
        if kind == "labels":
            regions.setdefault(item.get("id", f"#{j}"), len(spans))
            spans.extend(_spans(item, where))
        elif kind == "choices":
            for name in _names(item.get("value"), "choices", where):
                labels.setdefault(name, _score(item, where))
        elif kind != "relation":
            skipped[str(kind)] += 1
    for j, item in enumerate(result or []):
        if item.get("type") == "relation":
            relations.extend(_relation(item, regions, f"[{index}].result[{j}]"))
    scored = any(score is not None for score in labels.values())
    example = Example(
        text=text,
        id=_id(data.get("id"), task.get("id")),
        labels=list(labels),
        label_scores={k: v for k, v in labels.items() if v is not None} if scored else None,
        spans=spans if word_level and result is not None else None,
        relations=relations,
        meta=dict(task["meta"]) if isinstance(task.get("meta"), dict) else {},
    )
    problems = validate(example)
    if problems:
        raise problems[0]
    return example


def _id(*candidates: Any) -> str | None:
    for value in candidates:
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return None


def _score(item: dict[str, Any], where: str) -> float | None:
    score = item.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
        raise MrekitError("E104", f"'{where}.score' must be a number", field=f"{where}.score")
    return None if score is None else float(score)


def _names(value: Any, key: str, where: str) -> list[str]:
    names = value.get(key) if isinstance(value, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise MrekitError("E104", f"'{where}.value.{key}' must be a list of strings", field=f"{where}.value.{key}")
    return names


def _spans(item: dict[str, Any], where: str) -> list[Span]:
    value = item.get("value")
    ok = isinstance(value, dict) and all(
        isinstance(value.get(k), int) and not isinstance(value.get(k), bool) for k in ("start", "end")
    )
    if not ok:
        raise MrekitError("E104", f"'{where}.value' needs integer start and end", field=f"{where}.value")
    surface = value.get("text")
    if surface is not None and not isinstance(surface, str):
        raise MrekitError("E104", f"'{where}.value.text' must be a string", field=f"{where}.value.text")
    names = _names(value, "labels", where)
    score = _score(item, where)
    return [Span(value["start"], value["end"], name, surface=surface, score=score) for name in names]


def _relation(item: dict[str, Any], regions: dict[Any, int], where: str) -> list[Relation]:
    ends = [regions.get(item.get(key)) for key in ("from_id", "to_id")]
    if None in ends:
        raise MrekitError(
            "E114",
            f"relation {item.get('from_id')!r} -> {item.get('to_id')!r} links a region that is not a labelled span",
            field=where,
        )
    head, tail = ends if item.get("direction") != "left" else ends[::-1]
    names = item.get("labels") or [UNLABELLED_RELATION]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise MrekitError("E104", f"'{where}.labels' must be a list of strings", field=f"{where}.labels")
    score = _score(item, where)
    return [Relation(head, tail, name, score) for name in names]


def _is_prediction(example: Example) -> bool:
    return (
        example.label_scores is not None
        or any(s.score is not None for s in example.spans or [])
        or any(r.score is not None for r in example.relations)
    )


def to_task(example: Example, *, from_name: str = "label", choices_name: str = "choice", to_name: str = "text") -> dict:
    """One example as a Label Studio task (``annotations``, or ``predictions`` when scored).

    Example:
        >>> to_task(Example("hi", labels=["greet"], label_scores={"greet": 0.9}))["predictions"][0]["score"]
        0.9
    """
    data: dict[str, Any] = {"text": example.text}
    if example.id is not None:
        data["id"] = example.id
    task: dict[str, Any] = {"data": data}
    if example.meta:
        task["meta"] = dict(example.meta)
    result = _result(example, from_name, choices_name, to_name)
    if not result and example.spans is None:
        return task  # nothing annotated: a task to label
    if _is_prediction(example):
        scores = [item["score"] for item in result if item.get("score") is not None]
        prediction: dict[str, Any] = {"model_version": "mrekit", "result": result}
        if scores:
            prediction["score"] = min(scores)
        task["predictions"] = [prediction]
    else:
        task["annotations"] = [{"result": result}]
    return task


def _result(example: Example, from_name: str, choices_name: str, to_name: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for i, span in enumerate(example.spans or []):
        value = {"start": span.start, "end": span.end, "text": example.surface(span), "labels": [span.label]}
        item = {"id": f"s{i}", "from_name": from_name, "to_name": to_name, "type": "labels", "value": value}
        result.append(_with_score(item, span.score))
    if example.labels:
        item = {
            "id": "c0",
            "from_name": choices_name,
            "to_name": to_name,
            "type": "choices",
            "value": {"choices": list(example.labels)},
        }
        scores = [example.label_scores[n] for n in example.labels if n in (example.label_scores or {})]
        result.append(_with_score(item, min(scores) if scores else None))
    for rel in example.relations:
        item = {"from_id": f"s{rel.head}", "to_id": f"s{rel.tail}", "type": "relation", "direction": "right"}
        result.append(_with_score({**item, "labels": [rel.label]}, rel.score))
    return result


def _with_score(item: dict[str, Any], score: float | None) -> dict[str, Any]:
    if score is not None:
        item["score"] = score
    return item


def _dropped(example: Example) -> list[str]:
    kinds = [
        ("span attributes", any(s.attrs for s in example.spans or [])),
        ("label attributes", bool(example.label_attrs)),
        ("events", bool(example.events)),
    ]
    return [name for name, lost in kinds if lost]


def write(
    examples: Iterable[Example],
    path: str | Path,
    *,
    from_name: str = "label",
    choices_name: str = "choice",
    to_name: str = "text",
    overwrite: bool = False,
    inputs: Iterable[str | Path] = (),
) -> int:
    """Write examples as a Label Studio JSON array of tasks (one task a line), atomically.

    Args:
        examples: The examples (gold, or predictions with scores).
        path: The ``.json`` file to create (``-`` for standard output).
        from_name: The ``<Labels name=...>`` of the labelling config.
        choices_name: The ``<Choices name=...>`` of the labelling config.
        to_name: The ``<Text name=...>`` the regions belong to.
        overwrite: Replace an existing output (``E170`` otherwise).
        inputs: Files the output must never be (``E172``).

    Raises:
        MrekitError: ``E108`` for a NaN or infinite score; see :func:`mrekit.outputs.atomic_file`.

    Example:
        >>> import tempfile, pathlib
        >>> write([Example("hi", spans=[])], pathlib.Path(tempfile.mkdtemp()) / "t.json")
        1
    """
    count = 0
    dropped: Counter[str] = Counter()
    with atomic_file(path, overwrite=overwrite, inputs=inputs) as fh:
        fh.write("[")
        for example in examples:
            task = to_task(example, from_name=from_name, choices_name=choices_name, to_name=to_name)
            try:
                line = json.dumps(task, ensure_ascii=False, allow_nan=False)
            except ValueError:
                raise MrekitError("E108", "a score or meta value is NaN or infinite", field=example.id) from None
            fh.write(("\n" if count == 0 else ",\n") + line)
            dropped.update(_dropped(example))
            count += 1
        fh.write("\n]\n")
    if dropped:
        lost = ", ".join(f"{name} of {n} example(s)" for name, n in dropped.items())
        warn(logger, "W131", f"Label Studio tasks have no place for {lost}; they were not written")
    return count
