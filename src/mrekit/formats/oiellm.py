"""OIELLM strings (MMM paper) and files of them.

Input ``text/TASK``; output ``Label/TASK/`` followed by the items of
:mod:`mrekit.formats.items`, e.g. ``play muse/NER`` ->
``PlayMusic/NER/:artist;muse``. Several text labels are joined with
:data:`LABEL_SEP` (``,``); no text label leaves the label part empty
(``/NER/:artist;muse``). The label part ends at the first ``/TASK/``, so labels
may hold ``/`` (``anecdotes/miscellaneous/NER/``).

A file is JSONL with one ``{"id": ..., "input": ..., "output": ...}`` per line
(``id`` left out when the example has none); :func:`read_records` and
:func:`write_records` handle that layout for GIELLM files too.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path

from mrekit.errors import MrekitError
from mrekit.files import iter_lines, strict_json_loads
from mrekit.formats.items import (
    DEFAULT_ATTR_KEYS,
    ParsedOutput,
    check_rendered,
    check_task,
    items_of,
    parse_body,
    render_items,
    resolve,
    to_example,
)
from mrekit.outputs import atomic_file
from mrekit.schema import Example

#: Separator of several text labels in an output.
LABEL_SEP = ","


def render_oiellm(
    example: Example,
    task: str | None = None,
    *,
    kind: str | None = None,
    types: Collection[str] | None = None,
    attr_keys: Sequence[str] = DEFAULT_ATTR_KEYS,
) -> tuple[str, str]:
    """Render ``example`` as an OIELLM ``(input, output)`` pair.

    Args:
        example: The example; its spans, relations or events give the items.
        task: The task word (default from ``kind``: ``NER``, ``Relation Extraction``, ``Event Extraction``).
        kind: ``"spans"``, ``"relations"`` or ``"events"`` (default from ``task``).
        types: The types the output will be parsed with; the output is checked
            to parse back with them (needed where an entity holds ``:`` before attributes).
        attr_keys: Span attributes rendered by position after the surface.

    Raises:
        MrekitError: ``E150`` when a label, type or surface holds a separator that
            would make the output parse back differently (with ``types``).

    Example:
        >>> from mrekit import Span
        >>> render_oiellm(Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")]))
        ('play muse/NER', 'PlayMusic/NER/:artist;muse')
    """
    task, kind = resolve(task, kind)
    check_task(task, "/")
    items = items_of(example, kind, attr_keys)
    output = f"{LABEL_SEP.join(example.labels)}/{task}/{render_items(items, attr_keys)}"
    check_rendered(example, items, parse_oiellm(output, task, kind=kind, types=types, attr_keys=attr_keys))
    return f"{example.text}/{task}", output


def parse_oiellm(
    output: str,
    task: str | None = None,
    *,
    kind: str | None = None,
    types: Collection[str] | None = None,
    label_set: Collection[str] | None = None,
    attr_keys: Sequence[str] = DEFAULT_ATTR_KEYS,
) -> ParsedOutput:
    """Parse an OIELLM output string; never raises on a malformed string.

    Args:
        output: The string, e.g. ``PlayMusic/NER/:artist;muse``; line breaks around it are ignored.
        task: The task word (default from ``kind``; :func:`split_input` reads it from the input).
        kind: Which items to expect (default from ``task``).
        types: Known span or event types, or relation labels; other ones are errors.
        label_set: Known text labels; other ones are errors.
        attr_keys: Names of the positional span attributes.

    Example:
        >>> parsed = parse_oiellm("anecdotes/miscellaneous/NER/:time;10:30 pm")
        >>> parsed.labels, parsed.pairs, parsed.ok
        (['anecdotes/miscellaneous'], [('time', '10:30 pm')], True)
    """
    task, kind = resolve(task, kind)
    parsed = ParsedOutput(kind=kind, task=task)
    text = output.strip("\r\n")
    head, marker, body = text.partition(f"/{task}/")
    if not marker:
        if not text.endswith(f"/{task}"):
            parsed.errors.append(f"missing task marker '/{task}/'")
            return parsed
        head, body = text[: -len(task) - 1], ""
        parsed.errors.append(f"missing '/' after the task marker '/{task}'")
    labels = [part.strip() for part in head.split(LABEL_SEP)] if head.strip() else []
    return parse_body(parsed, labels, body, types=types, label_set=label_set, attr_keys=attr_keys)


def split_input(source: str, task: str | None = None) -> tuple[str, str]:
    """Split an OIELLM input ``text/TASK`` into ``(text, task)``.

    Args:
        source: The input string.
        task: The expected task word; by default the part after the last ``/``.

    Raises:
        MrekitError: ``E150`` when the input does not end with ``/TASK``.

    Example:
        >>> split_input("play 10/10 songs/NER")
        ('play 10/10 songs', 'NER')
    """
    if task is None:
        text, sep, found = source.rpartition("/")
        if sep and found:
            return text, found
    elif source.endswith(f"/{task}"):
        return source[: -len(task) - 1], task
    raise MrekitError("E150", f"input does not end with '/{task or 'TASK'}'", field="input")


def read(
    path: str | Path,
    *,
    task: str | None = None,
    kind: str | None = None,
    types: Collection[str] | None = None,
    attr_keys: Sequence[str] = DEFAULT_ATTR_KEYS,
) -> Iterator[Example]:
    """Stream examples from an OIELLM JSONL file.

    The text is the input without its ``/TASK`` suffix; labels and spans (or
    relations, events) come from the output, located as :func:`to_example` says.

    Args:
        path: The file to read.
        task: The task word; by default each line's own, read from its input.
        kind: Which items the outputs hold (default from the task word).
        types: Known types, which let entities hold ``:`` before attributes.
        attr_keys: Names of the positional span attributes.

    Raises:
        MrekitError: With file and line: ``E150`` for a malformed input or output
            or an entity not in the text, ``E103``/``E104`` for bad JSON, ``E101`` for no lines.

    Example:
        >>> next(read("tests/fixtures/oiellm_mini.jsonl")).labels  # doctest: +SKIP
        ['PlayMusic']
    """
    for number, ex_id, source, target in read_records(path):
        try:
            text, line_task = split_input(source, task)
            parsed = parse_oiellm(target, line_task, kind=kind, types=types, attr_keys=attr_keys)
            example = to_example(text, parsed, example_id=ex_id, strict=True)
        except MrekitError as err:
            raise err.at(path, number) from None
        yield example


def write(
    examples: Iterable[Example],
    path: str | Path,
    *,
    task: str | None = None,
    kind: str | None = None,
    types: Collection[str] | None = None,
    attr_keys: Sequence[str] = DEFAULT_ATTR_KEYS,
    overwrite: bool = False,
    inputs: Iterable[str | Path] = (),
) -> int:
    """Render examples as OIELLM input/output lines, atomically; returns how many.

    What ``write(..., types=T)`` writes, ``read(..., types=T)`` reads back.

    Args:
        examples: The examples to write.
        path: The file to write.
        task: The task word (default from ``kind``).
        kind: Which items to render (default from ``task``).
        types: The types the file will be read with (see :func:`render_oiellm`).
        attr_keys: Span attributes rendered by position after the surface.

    Raises:
        MrekitError: ``E150`` naming the example that cannot be rendered (nothing is written).

    Example:
        >>> import tempfile, pathlib
        >>> write([Example("play muse", labels=["PlayMusic"])], pathlib.Path(tempfile.mkdtemp()) / "o.jsonl")
        1
    """

    def records() -> Iterator[tuple[str | None, str, str]]:
        for i, example in enumerate(examples):
            try:
                yield example.id, *render_oiellm(example, task, kind=kind, types=types, attr_keys=attr_keys)
            except MrekitError as err:
                raise MrekitError(err.code, err.message, field=f"examples[{i}]", hint=err.hint) from None

    return write_records(path, records(), overwrite=overwrite, inputs=inputs)


def read_records(path: str | Path) -> Iterator[tuple[int, str | None, str, str]]:
    """Stream ``(line, id, input, output)`` from a JSONL file of input/output objects.

    Raises:
        MrekitError: ``E103`` malformed JSON, ``E104`` missing or mistyped field,
            ``E101`` no records at all; each with file and line.

    Example:
        >>> next(read_records("tests/fixtures/oiellm_mini.jsonl"))  # doctest: +SKIP
        (1, '1', 'play muse/NER', 'PlayMusic/NER/:artist;muse')
    """
    seen = 0
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            data = strict_json_loads(line)
        except MrekitError as err:
            raise err.at(path, number) from None
        if not isinstance(data, dict):
            raise MrekitError("E104", f"expected a JSON object, got {type(data).__name__}", path=path, line=number)
        for key in ("input", "output"):
            if not isinstance(data.get(key), str):
                raise MrekitError("E104", f"'{key}' must be a string", path=path, line=number, field=key)
        ex_id = data.get("id")
        if ex_id is not None and not isinstance(ex_id, (str, int)):
            raise MrekitError("E104", "'id' must be a string or an integer", path=path, line=number, field="id")
        seen += 1
        yield number, None if ex_id is None else str(ex_id), data["input"], data["output"]
    if seen == 0:
        raise MrekitError("E101", "no examples in file", path=path)


def write_records(
    path: str | Path,
    records: Iterable[tuple[str | None, str, str]],
    *,
    overwrite: bool = False,
    inputs: Iterable[str | Path] = (),
) -> int:
    """Write ``(id, input, output)`` records as JSONL atomically; returns how many.

    Example:
        >>> import tempfile, pathlib
        >>> write_records(pathlib.Path(tempfile.mkdtemp()) / "o.jsonl", [("1", "hi/NER", "/NER/")])
        1
    """
    count = 0
    with atomic_file(path, overwrite=overwrite, inputs=inputs) as fh:
        for ex_id, source, target in records:
            record = {"id": ex_id, "input": source, "output": target}
            if ex_id is None:
                del record["id"]
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count
