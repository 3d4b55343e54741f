"""GIELLM strings and files of them.

Input ``text <c1><c2>...<cn> TASK``: the text, a space, the candidate text
labels each in angle brackets, a space and the task word. Output: the chosen
labels each in angle brackets, the task word, then the items of
:mod:`mrekit.formats.items`, e.g. ``<PlayMusic>NER:artist;muse``; several
labels are ``<l1><l2>NER...`` and no label is ``NER...``.

A file is JSONL with one ``{"id": ..., "input": ..., "output": ...}`` per line.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path

from mrekit.errors import MrekitError
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
from mrekit.formats.oiellm import read_records, write_records
from mrekit.schema import Example

_LEADING_LABELS = re.compile(r"\s*((?:<[^<>]*>\s*)*)")
_LABEL = re.compile(r"<([^<>]*)>")
# The text is greedy, so only the last ' <...> ' can be the candidate list.
_INPUT = re.compile(r"(.*) ((?:<[^<>]*>)*) ([^<>]+)", re.DOTALL)
_TRAILING_CANDIDATES = re.compile(r"(?:<[^<>]*>)*\Z")


def render_giellm(
    example: Example,
    task: str | None = None,
    *,
    kind: str | None = None,
    types: Collection[str] | None = None,
    label_set: Sequence[str] | None = None,
    attr_keys: Sequence[str] = DEFAULT_ATTR_KEYS,
) -> tuple[str, str]:
    """Render ``example`` as a GIELLM ``(input, output)`` pair.

    Args:
        example: The example; its spans, relations or events give the items.
        task: The task word (default from ``kind``: ``NER``, ``Relation Extraction``, ``Event Extraction``).
        kind: ``"spans"``, ``"relations"`` or ``"events"`` (default from ``task``).
        types: The types the output will be parsed with; the output is checked
            to parse back with them (needed where an entity holds ``:`` before attributes).
        label_set: Candidate text labels listed in the input (default: the example's own, sorted).
        attr_keys: Span attributes rendered by position after the surface.

    Raises:
        MrekitError: ``E150`` when a label is not a candidate, or a label, type or
            surface cannot be rendered unambiguously (with ``types``).

    Example:
        >>> from mrekit import Span
        >>> ex = Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")])
        >>> render_giellm(ex, label_set=["GetWeather", "PlayMusic"])
        ('play muse <GetWeather><PlayMusic> NER', '<PlayMusic>NER:artist;muse')
    """
    task, kind = resolve(task, kind)
    check_task(task, "<>")
    candidates = sorted(example.labels) if label_set is None else list(label_set)
    _check_candidates(example, candidates)
    items = items_of(example, kind, attr_keys)
    output = "".join(f"<{label}>" for label in example.labels) + task + render_items(items, attr_keys)
    check_rendered(example, items, parse_giellm(output, task, kind=kind, types=types, attr_keys=attr_keys))
    return f"{example.text} {''.join(f'<{c}>' for c in candidates)} {task}", output


def _check_candidates(example: Example, candidates: list[str]) -> None:
    bad = [c for c in candidates if not c or "<" in c or ">" in c]
    if bad:
        raise MrekitError("E150", f"candidate labels {bad!r} cannot be rendered", hint="no '<', '>' or empty labels")
    absent = [label for label in example.labels if label not in candidates]
    if absent:
        raise MrekitError(
            "E150", f"labels {absent!r} of example {example.id!r} are not candidates", hint="add them to the label set"
        )


def parse_giellm(
    output: str,
    task: str | None = None,
    *,
    kind: str | None = None,
    types: Collection[str] | None = None,
    label_set: Collection[str] | None = None,
    attr_keys: Sequence[str] = DEFAULT_ATTR_KEYS,
) -> ParsedOutput:
    """Parse a GIELLM output string; never raises on a malformed string.

    Args:
        output: The string, e.g. ``<PlayMusic>NER:artist;muse``; line breaks around it are ignored.
        task: The task word (default from ``kind``; :func:`split_input` reads it from the input).
        kind: Which items to expect (default from ``task``).
        types: Known span or event types, or relation labels; other ones are errors.
        label_set: Known text labels (the candidates); other ones are errors.
        attr_keys: Names of the positional span attributes.

    Example:
        >>> parsed = parse_giellm("<PlayMusic>NER:artist;muse")
        >>> parsed.labels, parsed.pairs, parsed.ok
        (['PlayMusic'], [('artist', 'muse')], True)
    """
    task, kind = resolve(task, kind)
    parsed = ParsedOutput(kind=kind, task=task)
    text = output.strip("\r\n")
    lead = _LEADING_LABELS.match(text)
    assert lead is not None  # the pattern matches the empty string
    labels = [label.strip() for label in _LABEL.findall(lead.group(1))]
    rest = text[lead.end() :]
    if not rest.startswith(task):
        parsed.errors.append(f"missing task marker {task!r}")
        rest = task
    return parse_body(parsed, labels, rest[len(task) :], types=types, label_set=label_set, attr_keys=attr_keys)


def split_input(source: str, task: str | None = None) -> tuple[str, list[str], str]:
    """Split a GIELLM input ``text <c1><c2> TASK`` into ``(text, candidates, task)``.

    Args:
        source: The input string.
        task: The expected task word; by default the part after the candidate list.

    Raises:
        MrekitError: ``E150`` when the input does not end with `` <...> TASK``.

    Example:
        >>> split_input("play muse <GetWeather><PlayMusic> NER")
        ('play muse', ['GetWeather', 'PlayMusic'], 'NER')
    """
    if task is None:
        match = _INPUT.fullmatch(source)
        task = match.group(3) if match else None
    if task is None or not source.endswith(f" {task}"):
        raise MrekitError("E150", f"input does not end with ' <labels> {task or 'TASK'}'", field="input")
    rest = source[: -len(task) - 1]
    candidates = _TRAILING_CANDIDATES.search(rest)
    assert candidates is not None  # the pattern matches the empty string at the end
    before = rest[: candidates.start()]
    if not before.endswith(" "):
        raise MrekitError("E150", "no space between the text and the candidate labels", field="input")
    return before[:-1], _LABEL.findall(candidates.group(0)), task


def read(
    path: str | Path,
    *,
    task: str | None = None,
    kind: str | None = None,
    types: Collection[str] | None = None,
    attr_keys: Sequence[str] = DEFAULT_ATTR_KEYS,
) -> Iterator[Example]:
    """Stream examples from a GIELLM JSONL file.

    The text is the input without its candidate list and task word; the
    candidates are kept in ``meta["candidates"]``; labels and spans (or
    relations, events) come from the output, located as
    :func:`~mrekit.formats.items.to_example` says.

    Args:
        path: The file to read.
        task: The task word; by default each line's own, read from its input.
        kind: Which items the outputs hold (default from the task word).
        types: Known types, which let entities hold ``:`` before attributes.
        attr_keys: Names of the positional span attributes.

    Raises:
        MrekitError: With file and line: ``E150`` for a malformed input or output,
            a label that is not a candidate or an entity not in the text,
            ``E103``/``E104`` for bad JSON, ``E101`` for no lines.

    Example:
        >>> next(read("tests/fixtures/giellm_mini.jsonl")).labels  # doctest: +SKIP
        ['PlayMusic']
    """
    for number, ex_id, source, target in read_records(path):
        try:
            text, candidates, line_task = split_input(source, task)
            parsed = parse_giellm(target, line_task, kind=kind, types=types, label_set=candidates, attr_keys=attr_keys)
            example = to_example(text, parsed, example_id=ex_id, strict=True)
        except MrekitError as err:
            raise err.at(path, number) from None
        example.meta["candidates"] = candidates
        yield example


def write(
    examples: Iterable[Example],
    path: str | Path,
    *,
    task: str | None = None,
    kind: str | None = None,
    types: Collection[str] | None = None,
    label_set: Sequence[str] | None = None,
    attr_keys: Sequence[str] = DEFAULT_ATTR_KEYS,
    overwrite: bool = False,
    inputs: Iterable[str | Path] = (),
) -> int:
    """Render examples as GIELLM input/output lines, atomically; returns how many.

    What ``write(..., types=T)`` writes, ``read(..., types=T)`` reads back.

    Args:
        examples: The examples to write.
        path: The file to write.
        task: The task word (default from ``kind``).
        kind: Which items to render (default from ``task``).
        types: The types the file will be read with (see :func:`render_giellm`).
        label_set: Candidate labels of every input; by default all text labels
            of ``examples``, sorted (the examples are read into memory for it).
        attr_keys: Span attributes rendered by position after the surface.

    Raises:
        MrekitError: ``E150`` naming the example that cannot be rendered (nothing is written).

    Example:
        >>> import tempfile, pathlib
        >>> write([Example("play muse", labels=["PlayMusic"])], pathlib.Path(tempfile.mkdtemp()) / "g.jsonl")
        1
    """
    if label_set is None:
        examples = list(examples)
        label_set = sorted({label for example in examples for label in example.labels})

    def records() -> Iterator[tuple[str | None, str, str]]:
        for i, example in enumerate(examples):
            try:
                yield (
                    example.id,
                    *render_giellm(example, task, kind=kind, types=types, label_set=label_set, attr_keys=attr_keys),
                )
            except MrekitError as err:
                raise MrekitError(err.code, err.message, field=f"examples[{i}]", hint=err.hint) from None

    return write_records(path, records(), overwrite=overwrite, inputs=inputs)
