"""The item grammar shared by the papers' generative strings, and surface location.

Gan, Zhang & Mori's models write their answer as one string. The two styles
(:mod:`mrekit.formats.oiellm`, :mod:`mrekit.formats.giellm`) differ in how the
text labels and the task word are written, and share the item part after them:
each item starts with ``:`` and its fields are separated by ``;``. By kind:

* ``spans``: ``:Type;Surface;attr1;attr2`` with span attributes by position for
  ``attr_keys`` (default ``("polarity",)``); absent trailing attributes are left
  out and absent middle ones are empty: ``:aspect;food;positive``, ``:artist;muse``.
* ``relations``: ``:Head;Relation;Tail`` (head and tail surfaces).
* ``events``: ``:EventType;Trigger;Role;Arg;Role;Arg...`` (zero or more pairs).

Default task words: ``NER``, ``Relation Extraction``, ``Event Extraction``; the
kind is inferred from the task word when not given (any other word means spans).

Spans are rendered in text order. Rendering raises ``E150`` unless the string
parses back to the same labels and items (with the ``types`` given to it).

Parsing never raises: it gives a :class:`ParsedOutput` whose ``errors`` say what
was malformed; malformed items are left out of ``items``. Entities may hold
``:``: the item part is cut at every ``:``, and a piece without ``;`` continues
the previous item (``:time;10:30 pm``); before the first relation such a piece
starts its head instead (``:10:30;at;X``). With ``types``, spans and events are
cut only at ``:Type;`` for a known type: a piece whose first field is unknown
continues the previous item while that item keeps a valid number of fields
(``:aspect;10:30 pm;positive``), and is an item of unknown type otherwise. For
relations, ``types`` are relation labels and only checked. :func:`to_example`
locates the surfaces in the text.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from mrekit.errors import MrekitError
from mrekit.schema import Event, Example, Relation, Span

#: Default task word of each kind of items.
DEFAULT_TASKS: dict[str, str] = {"spans": "NER", "relations": "Relation Extraction", "events": "Event Extraction"}
#: Span attributes rendered by position after the surface unless told otherwise.
DEFAULT_ATTR_KEYS: tuple[str, ...] = ("polarity",)


@dataclass(frozen=True)
class SpanItem:
    """A span as a string names it: type, surface and positional attributes."""

    type: str
    surface: str
    attrs: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class RelationItem:
    """A relation as a string names it: head surface, relation label, tail surface."""

    head: str
    label: str
    tail: str


@dataclass(frozen=True)
class EventItem:
    """An event as a string names it: type, trigger surface and ``(role, argument surface)`` pairs."""

    type: str
    trigger: str
    args: tuple[tuple[str, str], ...] = ()


Item = SpanItem | RelationItem | EventItem


@dataclass
class ParsedOutput:
    """What a generative output string says, and what was wrong with it.

    Args:
        labels: Text labels, in output order.
        items: The well-formed items (all of ``kind``), in output order.
        errors: One message per malformed part; empty when the string is well formed.
        kind: ``"spans"``, ``"relations"`` or ``"events"``.
        task: The task word the string was parsed with.
    """

    labels: list[str] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    kind: str = "spans"
    task: str = "NER"

    @property
    def ok(self) -> bool:
        """Whether the string was well formed (no errors)."""
        return not self.errors

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """``(type, surface)`` of every span item."""
        return [(i.type, i.surface) for i in self.items if isinstance(i, SpanItem)]


def resolve(task: str | None, kind: str | None) -> tuple[str, str]:
    """Fill in the task word or the kind from the other (defaults: ``NER``, spans).

    Raises:
        MrekitError: ``E104`` for a kind that is not spans, relations or events.

    Example:
        >>> resolve("Relation Extraction", None)
        ('Relation Extraction', 'relations')
    """
    if kind is None:
        kind = next((k for k, t in DEFAULT_TASKS.items() if t == task), "spans")
    if kind not in DEFAULT_TASKS:
        raise MrekitError("E104", f"unknown kind {kind!r}", field="kind", hint="use spans, relations or events")
    return (DEFAULT_TASKS[kind] if task is None else task), kind


def items_of(example: Example, kind: str = "spans", attr_keys: Sequence[str] = DEFAULT_ATTR_KEYS) -> list[Item]:
    """The items of ``example`` as a string renders them: spans in text order.

    Raises:
        MrekitError: ``E114``/``E115`` when a relation or event names a missing span.

    Example:
        >>> items_of(Example("play muse", spans=[Span(5, 9, "artist")]))
        [SpanItem(type='artist', surface='muse', attrs={})]
    """
    spans = example.spans or []
    if kind == "spans":
        ordered = sorted(spans, key=lambda s: (s.start, s.end))
        return [SpanItem(s.label, example.surface(s), _attrs_of(s, attr_keys)) for s in ordered]

    def surface(index: int, code: str) -> str:
        if not 0 <= index < len(spans):
            raise MrekitError(code, f"span index {index} does not exist (0..{len(spans) - 1})", field="spans")
        return example.surface(spans[index])

    if kind == "relations":
        return [RelationItem(surface(r.head, "E114"), r.label, surface(r.tail, "E114")) for r in example.relations]
    return [
        EventItem(e.type, surface(e.trigger, "E115"), tuple((role, surface(i, "E115")) for role, i in e.args))
        for e in example.events
    ]


def _attrs_of(span: Span, attr_keys: Sequence[str]) -> dict[str, str]:
    return {k: str(span.attrs[k]) for k in attr_keys if span.attrs.get(k) not in (None, "")}


def render_items(items: Sequence[Item], attr_keys: Sequence[str] = DEFAULT_ATTR_KEYS) -> str:
    """The item part of an output string.

    Example:
        >>> render_items([SpanItem("aspect", "food", {"polarity": "positive"}), SpanItem("artist", "muse")])
        ':aspect;food;positive:artist;muse'
    """
    return "".join(":" + ";".join(_fields(item, attr_keys)) for item in items)


def _fields(item: Item, attr_keys: Sequence[str]) -> list[str]:
    if isinstance(item, SpanItem):
        values = [item.attrs.get(k, "") for k in attr_keys]
        while values and not values[-1]:
            values.pop()  # so that NER items stay ':Type;Entity' whatever attr_keys is
        return [item.type, item.surface, *values]
    if isinstance(item, RelationItem):
        return [item.head, item.label, item.tail]
    return [item.type, item.trigger, *(part for pair in item.args for part in pair)]


def item_types(items: Iterable[Item]) -> set[str]:
    """The types of span and event items and the labels of relation items.

    Example:
        >>> sorted(item_types([SpanItem("artist", "muse"), RelationItem("a", "born_in", "b")]))
        ['artist', 'born_in']
    """
    return {i.label if isinstance(i, RelationItem) else i.type for i in items}


def check_task(task: str, forbidden: str) -> None:
    """Raise ``E150`` unless ``task`` is a non-empty word without any of ``forbidden``.

    Example:
        >>> check_task("NER", "/")
    """
    if not task or any(c in task for c in forbidden):
        raise MrekitError("E150", f"task word {task!r} cannot be rendered", hint=f"no {forbidden!r} and not empty")


def check_rendered(example: Example, items: list[Item], parsed: ParsedOutput) -> None:
    """Raise ``E150`` unless the rendered string parsed back to ``example``'s labels and ``items``.

    The grammar has no escapes, so reading a rendering back is the one sure test
    that no label, type or surface holds a separator in a harmful place.

    Example:
        >>> check_rendered(Example("a"), [], ParsedOutput())
    """
    if parsed.ok and parsed.labels == example.labels and parsed.items == items:
        return
    raise MrekitError(
        "E150",
        f"example {example.id or example.text[:40]!r} cannot be rendered unambiguously",
        hint="labels must hold no ',', '<' or '>'; types, relations and roles no ':' or ';'; surfaces no ';'",
    )


def parse_body(
    parsed: ParsedOutput,
    labels: list[str],
    body: str,
    *,
    types: Collection[str] | None = None,
    label_set: Collection[str] | None = None,
    attr_keys: Sequence[str] = DEFAULT_ATTR_KEYS,
) -> ParsedOutput:
    """Check the text labels a style found and parse the item part into ``parsed``.

    Example:
        >>> parse_body(ParsedOutput(), ["PlayMusic"], ":artist;muse").pairs
        [('artist', 'muse')]
    """
    for position, label in enumerate(labels, start=1):
        if not label:
            parsed.errors.append(f"empty text label at position {position}")
        elif label_set is not None and label not in label_set:
            parsed.errors.append(f"unknown text label {label!r}")
        else:
            parsed.labels.append(label)
    items, errors = parse_items(body, parsed.kind, types=types, attr_keys=attr_keys)
    parsed.items.extend(items)
    parsed.errors.extend(errors)
    return parsed


def parse_items(
    body: str,
    kind: str = "spans",
    *,
    types: Collection[str] | None = None,
    attr_keys: Sequence[str] = DEFAULT_ATTR_KEYS,
) -> tuple[list[Item], list[str]]:
    """Parse the item part of an output string into items and error messages.

    Example:
        >>> parse_items(":time;10:30 pm:artist;muse")
        ([SpanItem(type='time', surface='10:30 pm', attrs={}), SpanItem(type='artist', surface='muse', attrs={})], [])
    """
    if not body:
        return [], []
    errors = []
    if not body.startswith(":"):
        errors.append(f"items must start with ':', got {body[:30]!r}")
        body = ":" + body  # read on: the items themselves may be fine
    items = []
    for group in _group(body[1:].split(":"), kind, types, attr_keys):
        item = _build(group, kind, types, attr_keys)
        if isinstance(item, str):
            errors.append(item)
        else:
            items.append(item)
    return items, errors


def _fits(kind: str, n_fields: int, attr_keys: Sequence[str]) -> bool:
    if kind == "spans":
        return 2 <= n_fields <= 2 + len(attr_keys)
    if kind == "relations":
        return n_fields == 3
    return n_fields >= 2 and n_fields % 2 == 0


def _starts_item(
    piece: str, current: str | None, kind: str, types: Collection[str] | None, attr_keys: Sequence[str]
) -> bool:
    if ";" not in piece:
        return False
    if current is None or types is None or kind == "relations":
        return True
    if piece.split(";", 1)[0] in types:
        return True
    return not _fits(kind, current.count(";") + piece.count(";") + 1, attr_keys)


def _group(pieces: list[str], kind: str, types: Collection[str] | None, attr_keys: Sequence[str]) -> list[str]:
    groups: list[str] = []
    prefix = ""  # a first relation's head may hold ':' before its first ';'
    for piece in pieces:
        current = groups[-1] if groups else None
        if _starts_item(piece, current, kind, types, attr_keys):
            groups.append(prefix + piece)
            prefix = ""
        elif current is not None:
            groups[-1] = f"{current}:{piece}"
        elif kind == "relations":
            prefix += piece + ":"
        else:
            groups.append(piece)  # _build reports it as an item without ';'
    if prefix:
        groups.append(prefix[:-1])
    return groups


_SHAPES = {
    "spans": "expected Type;Surface and at most {n} in all",
    "relations": "expected Head;Relation;Tail",
    "events": "expected EventType;Trigger and Role;Argument pairs",
}


def _build(group: str, kind: str, types: Collection[str] | None, attr_keys: Sequence[str]) -> Item | str:
    shown = f":{group}"
    fields = group.split(";")
    if len(fields) < 2:
        return f"item {shown!r} has no ';'"
    if not _fits(kind, len(fields), attr_keys):
        return f"item {shown!r} has {len(fields)} fields; {_SHAPES[kind].format(n=2 + len(attr_keys))}"
    required = fields
    if kind == "spans":
        attrs = {k: v for k, v in zip(attr_keys, fields[2:], strict=False) if v}
        item: Item = SpanItem(fields[0], fields[1], attrs)
        required = fields[:2]
    elif kind == "relations":
        item = RelationItem(*fields)
    else:
        item = EventItem(fields[0], fields[1], tuple(zip(fields[2::2], fields[3::2], strict=True)))
    if "" in required:
        return f"item {shown!r} has an empty field"
    word = item.label if isinstance(item, RelationItem) else item.type
    if types is not None and word not in types:
        return f"unknown {'relation' if kind == 'relations' else 'type'} {word!r} in item {shown!r}"
    return item


def to_example(
    text: str,
    parsed: ParsedOutput,
    *,
    example_id: str | None = None,
    arg_label: str = "entity",
    trigger_label: str = "trigger",
    strict: bool = False,
) -> Example:
    """Build an example from ``text`` and a parsed output, locating surfaces by search.

    Spans: the k-th item with a given surface maps to the k-th non-overlapping
    occurrence of that surface in ``text``, left to right. Relations and events
    name an entity again in each relation, so there each distinct surface is one
    span (labelled ``arg_label``, or ``trigger_label`` for triggers) at its first
    occurrence. Surfaces not found are listed as ``[label, surface]`` in
    ``meta["missing"]``; their spans, and relations and arguments that need them,
    are left out.

    Raises:
        MrekitError: ``E150`` when ``strict`` and the output is malformed or a surface is missing.

    Example:
        >>> ex = to_example("a b a", ParsedOutput(items=[SpanItem("t", "a"), SpanItem("u", "a")]))
        >>> [(s.start, s.end, s.label) for s in ex.spans]
        [(0, 1, 't'), (4, 5, 'u')]
    """
    if strict and not parsed.ok:
        raise MrekitError("E150", f"malformed output: {'; '.join(parsed.errors)}", field="output")
    example = Example(text, id=example_id, labels=list(parsed.labels), spans=[])
    missing: list[list[str]] = []
    if parsed.kind == "spans":
        _locate_spans(example, parsed.items, missing)
    else:
        _locate_arguments(example, parsed.items, missing, arg_label, trigger_label)
    if missing and strict:
        found = ", ".join(repr(surface) for _, surface in missing)
        raise MrekitError("E150", f"not found in the text: {found}", field="output")
    if missing:
        example.meta["missing"] = missing
    return example


def _locate_spans(example: Example, items: list[Item], missing: list[list[str]]) -> None:
    resume: dict[str, int] = {}
    for item in items:
        if not isinstance(item, SpanItem):
            continue
        start = example.text.find(item.surface, resume.get(item.surface, 0))
        if start < 0:
            missing.append([item.type, item.surface])
            continue
        resume[item.surface] = end = start + len(item.surface)
        example.spans.append(Span(start, end, item.type, dict(item.attrs), surface=item.surface))


def _locate_arguments(
    example: Example, items: list[Item], missing: list[list[str]], arg_label: str, trigger_label: str
) -> None:
    found: dict[tuple[str, str], int | None] = {}

    def span_of(surface: str, label: str) -> int | None:
        if (label, surface) not in found:
            start = example.text.find(surface)
            found[label, surface] = None if start < 0 else len(example.spans)
            if start < 0:
                missing.append([label, surface])
            else:
                example.spans.append(Span(start, start + len(surface), label, surface=surface))
        return found[label, surface]

    for item in items:
        if isinstance(item, RelationItem):
            head, tail = span_of(item.head, arg_label), span_of(item.tail, arg_label)
            if head is not None and tail is not None:
                example.relations.append(Relation(head, tail, item.label))
        elif isinstance(item, EventItem):
            trigger = span_of(item.trigger, trigger_label)
            args = tuple((role, j) for role, arg in item.args if (j := span_of(arg, arg_label)) is not None)
            if trigger is not None:
                example.events.append(Event(trigger, item.type, args))
