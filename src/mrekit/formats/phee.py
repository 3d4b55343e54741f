"""PHEE JSON lines (read only): pharmacovigilance events, their arguments and attributes.

PHEE (ZhaoyueSun/PHEE, MIT) has one sentence of a medical case report per line::

    {"id": "123_4", "context": "...", "is_mult_event": false,
     "annotations": [{"events": [{"event_id": "E1", "event_type": "Adverse_event",
        "Trigger": {"text": [["induced"]], "start": [[20]], "entity_id": ["T4"]},
        "Treatment": {"text": [["insulin"]], "start": [[12]], "entity_id": ["T3"],
                      "Drug": {"text": [["insulin"]], "start": [[12]], "entity_id": ["T6"]},
                      "Combination": [{"event_type": "Combination", "Trigger": {...}, "Drug": {...}}]},
        "Effect": {...}, "Subject": {..., "Age": {...}},
        "Severity": {"text": [["severe"]], "start": [[0]], "entity_id": ["T9"], "value": "High"}}]}]}

A mention is ``text[i]`` / ``start[i]`` (one per ``entity_id``); a mention is a list of
*pieces* (more than one for a discontinuous mention). Each line becomes one
:class:`~mrekit.schema.Example` (character offsets, end exclusive):

* ``text`` is ``context``; ``id`` is ``id``; ``meta`` is ``{"source": "phee",
  "document": <id before its last "_">}`` (the PubMed id, for ``by = "document"``);
* ``labels`` are the sorted distinct ``event_type`` of the sentence's events
  (``Adverse_event``, ``Potential_therapeutic_event``); ``["none"]`` if it has none;
* **spans**: one per piece of each trigger (label ``Trigger``), main argument (label
  ``Subject``, ``Treatment``, ``Effect``: the key) and sub-argument (label
  ``<Main>.<Sub>``: ``Treatment.Drug``, ``Subject.Age``). ``context[start:start +
  len(text)]`` must equal the piece's ``text`` (else ``E112``). Spans are in the order
  first met (events in order, the trigger, then the arguments in file order) and shared:
  two events with the same span and label (and the same attributes) point to one span;
* **events**: ``Event(trigger, event_type, args)`` with roles ``Subject``, ``Treatment``,
  ``Effect`` (main arguments) and ``Treatment.Drug``, ``Subject.Age``, ... (sub-arguments),
  each pointing to a span; an argument of several mentions gives one argument per
  mention;
* **discontinuous mentions** (several pieces) give one span per piece, each piece an
  argument with the mention's role (the trigger is its first piece), so every span's
  surface is exact; ``meta["discontinuous"]`` lists the span indices of each such
  mention (sorted lists). A covering span would swallow the words between the pieces,
  often another argument;
* **attributes** of an event (``Negated``, ``Speculated``, ``Severity``: a cue word and a
  ``value``) go to its trigger span's ``attrs``: ``negated`` and ``speculated`` always,
  ``"true"`` or ``"false"`` (an unmarked event is not negated), ``severity`` (``High``,
  ``Medium``, ``Low``) only where annotated: its absence states no level. The cue words
  are not spans. Two events that share a trigger but not its attributes get one trigger
  span each (same offsets);
* a ``Combination`` inside ``Treatment`` (drugs given together) is an event of its own:
  ``Event(<its trigger, label Treatment.Combination>, "Combination", (("Drug", <span
  labelled Treatment.Drug>), ...))``, after the event holding it. It gives no text label.

Only ``annotations[0]`` is read (PHEE has one annotation per sentence).

Example:
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "dev.json"
    >>> mention = lambda text, start: {"text": [[text]], "start": [[start]], "entity_id": ["T1"]}
    >>> event = {"event_type": "Adverse_event", "Trigger": mention("after", 5),
    ...          "Effect": mention("Rash", 0), "Treatment": {**mention("drug-x", 11), "Drug": mention("drug-x", 11)},
    ...          "Speculated": {**mention("may", 0), "value": True}}
    >>> _ = path.write_text(json.dumps({"id": "1_1", "context": "Rash after drug-x.",
    ...                                 "annotations": [{"events": [event]}]}) + "\\n")
    >>> ex = next(read(path))
    >>> ex.labels, [(ex.surface(s), s.label) for s in ex.spans]  # doctest: +NORMALIZE_WHITESPACE
    (['Adverse_event'],
     [('after', 'Trigger'), ('Rash', 'Effect'), ('drug-x', 'Treatment'), ('drug-x', 'Treatment.Drug')])
    >>> ex.events[0].args, ex.spans[0].attrs
    ((('Effect', 1), ('Treatment', 2), ('Treatment.Drug', 3)), {'negated': 'false', 'speculated': 'true'})
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mrekit.errors import MrekitError
from mrekit.files import iter_lines, strict_json_loads
from mrekit.schema import Event, Example, Span

#: The label of a trigger span, and the text label of a sentence without events.
TRIGGER = "Trigger"
NONE = "none"
#: Yes/no event attributes: every trigger has them (``"false"`` when not annotated).
BINARY_ATTRS = ("Negated", "Speculated")
#: The keys of a mention, and of an event that are neither argument nor attribute.
MENTION_KEYS = frozenset({"text", "start", "entity_id"})
EVENT_KEYS = frozenset({"event_id", "event_type", "Trigger"})


def read(path: str | Path) -> Iterator[Example]:
    """Stream the sentences of a PHEE JSON-lines file; blank lines are skipped.

    Raises:
        MrekitError: With file and line: ``E103`` malformed JSON, ``E104`` a missing or
            mistyped field (named, e.g. ``annotations[0].events[1].Treatment.Drug.start``),
            ``E107`` an id given twice, ``E110`` a piece outside the text, ``E111`` an
            empty piece, ``E112`` a piece whose text is not the context at its start,
            ``E101`` a file without sentences.

    Example:
        >>> [ex.id for ex in read("tests/fixtures/phee_mini.json")]  # doctest: +SKIP
        ['90001_1', '90001_2', '90002_1', '90003_1']
    """
    seen: set[str] = set()
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            record = strict_json_loads(line)
            example = parse_record(record)
            if example.id in seen:
                raise MrekitError("E107", f"sentence id {example.id!r} is given twice", field="id")
        except MrekitError as err:
            raise err.at(path, number) from None
        seen.add(str(example.id))
        yield example
    if not seen:
        raise MrekitError("E101", "no sentences in file", path=path)


def parse_record(record: Any) -> Example:
    """One PHEE line (decoded) as an example.

    Raises:
        MrekitError: As :func:`read`, naming the field but no file.
    """
    if not isinstance(record, dict):
        raise MrekitError("E104", f"expected a JSON object, got {type(record).__name__}")
    ex_id = record.get("id")
    if isinstance(ex_id, bool) or not isinstance(ex_id, str | int):
        raise MrekitError("E104", "'id' must be a string or an integer", field="id")
    ex_id = str(ex_id)
    context = _typed(record, "context", str, "context")
    annotations = _typed(record, "annotations", list, "annotations")
    if not annotations:
        raise MrekitError("E104", "'annotations' is empty", field="annotations")
    annotation = _typed_value(annotations[0], dict, "annotations[0]")
    events = _typed(annotation, "events", list, "annotations[0].events")
    builder = _Builder(ex_id, context)
    types = set()
    for i, event in enumerate(events):
        types.add(builder.event(event, f"annotations[0].events[{i}]"))
    meta: dict[str, Any] = {"source": "phee", "document": ex_id.rpartition("_")[0] or ex_id}
    if builder.groups:
        meta["discontinuous"] = [list(group) for group in sorted(builder.groups)]
    return Example(
        text=context,
        id=ex_id,
        labels=sorted(types) or [NONE],
        spans=builder.spans,
        events=builder.events,
        meta=meta,
    )


class _Builder:
    """Collects the shared spans and the events of one sentence."""

    def __init__(self, ex_id: str, context: str) -> None:
        self.ex_id = ex_id
        self.context = context
        self.spans: list[Span] = []
        self.events: list[Event] = []
        self.groups: set[tuple[int, ...]] = set()
        self._index: dict[tuple, int] = {}

    def event(self, event: Any, where: str, *, trigger_label: str = TRIGGER, prefix: str = "") -> str:
        """Add one event (and its combinations); return its type."""
        event = _typed_value(event, dict, where)
        kind = _typed(event, "event_type", str, f"{where}.event_type")
        attrs = {} if prefix else {name.lower(): "false" for name in BINARY_ATTRS}
        for key, value in event.items():
            if isinstance(value, dict) and "value" in value:
                attrs[key.lower()] = _attr_value(value["value"], f"{where}.{key}.value")
        mentions = self.mentions(_typed(event, TRIGGER, dict, f"{where}.{TRIGGER}"), f"{where}.{TRIGGER}")
        if len(mentions) != 1:
            raise MrekitError(
                "E104",
                f"sentence {self.ex_id}: a trigger has one mention, not {len(mentions)}",
                field=f"{where}.{TRIGGER}",
            )
        trigger = self.pieces(mentions[0], trigger_label, attrs)[0]
        args: dict[tuple[str, int], None] = {}
        nested: list[tuple[Any, str, str]] = []
        for key, value in event.items():
            name = f"{where}.{key}"
            if key in EVENT_KEYS or (isinstance(value, dict) and "value" in value):
                continue
            if not isinstance(value, dict):
                if isinstance(value, list):
                    raise MrekitError("E104", f"'{name}' must be an argument object", field=name)
                continue  # scalars such as an event id of another spelling
            label = f"{prefix}{key}"
            for mention in self.mentions(value, name):
                args.update(((key if prefix else label, i), None) for i in self.pieces(mention, label))
            if prefix:
                continue  # a combination's drugs have no sub-arguments
            for sub, inner in value.items():
                sub_name = f"{name}.{sub}"
                if sub in MENTION_KEYS:
                    continue
                if isinstance(inner, dict):
                    for mention in self.mentions(inner, sub_name):
                        args.update(((f"{key}.{sub}", i), None) for i in self.pieces(mention, f"{key}.{sub}"))
                elif isinstance(inner, list):
                    nested.extend((c, f"{sub_name}[{j}]", f"{key}.{sub}") for j, c in enumerate(inner))
                else:
                    raise MrekitError(
                        "E104", f"'{sub_name}' must be an argument object or a list of events", field=sub_name
                    )
        self.events.append(Event(trigger, kind, tuple(args)))
        for combination, name, label in nested:
            self.event(combination, name, trigger_label=label, prefix=f"{label.partition('.')[0]}.")
        return kind

    def mentions(self, value: Any, where: str) -> list[list[tuple[int, str]]]:
        """The mentions of an argument: per mention, its ``(start, text)`` pieces."""
        texts = _typed(value, "text", list, f"{where}.text")
        starts = _typed(value, "start", list, f"{where}.start")
        if len(texts) != len(starts):
            raise MrekitError(
                "E104", f"'{where}' has {len(texts)} mention texts but {len(starts)} starts", field=f"{where}.start"
            )
        out = []
        for j, (text, start) in enumerate(zip(texts, starts, strict=True)):
            text_ok = isinstance(text, list) and text and all(isinstance(t, str) for t in text)
            start_ok = isinstance(start, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in start)
            if not text_ok or not start_ok or len(text) != len(start):
                raise MrekitError(
                    "E104",
                    f"'{where}' mention {j} must be a list of texts and a list of as many starts",
                    field=f"{where}.start",
                )
            out.append([self.check(s, t, where) for s, t in zip(start, text, strict=True)])
        return out

    def check(self, start: int, text: str, where: str) -> tuple[int, str]:
        n = len(self.context)
        end = start + len(text)
        if start < 0 or end > n:
            raise MrekitError(
                "E110", f"sentence {self.ex_id}: piece {start}-{end} lies outside the text (length {n})", field=where
            )
        if not text:
            raise MrekitError("E111", f"sentence {self.ex_id}: an empty piece at {start}", field=where)
        if self.context[start:end] != text:
            raise MrekitError(
                "E112",
                f"sentence {self.ex_id}: {start}-{end} covers {self.context[start:end]!r}, not {text!r}",
                field=where,
                hint="fix the start of the piece",
            )
        return start, text

    def pieces(self, mention: list[tuple[int, str]], label: str, attrs: dict[str, str] | None = None) -> list[int]:
        """The span index of each piece of ``mention`` (shared when already there)."""
        attrs = attrs or {}
        indices = []
        for start, text in mention:
            key = (start, start + len(text), label, tuple(sorted(attrs.items())))
            if key not in self._index:
                self._index[key] = len(self.spans)
                self.spans.append(Span(start, start + len(text), label, attrs=dict(attrs)))
            indices.append(self._index[key])
        if len(mention) > 1:
            self.groups.add(tuple(sorted(set(indices))))
        return indices


def _attr_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int) and str(value):
        return str(value)
    raise MrekitError("E104", f"'{where}' must be a string or true/false", field=where)


def _typed(data: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(data, dict) or key not in data:
        raise MrekitError("E104", f"missing required field '{where}'", field=where)
    return _typed_value(data[key], kind, where)


def _typed_value(value: Any, kind: type, where: str) -> Any:
    if not isinstance(value, kind):
        raise MrekitError("E104", f"'{where}' must be {kind.__name__}, got {type(value).__name__}", field=where)
    return value
