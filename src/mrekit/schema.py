"""The one MRE schema that every reader, model, metric and writer speaks.

An :class:`Example` is a text with its text-level label(s) and its word-level
information. Each level may be absent on its own (partial annotation):

* ``labels`` empty means *the text level is not annotated*;
* ``spans`` is ``None`` when the word level is not annotated, and ``[]`` when
  it is annotated and the text has no spans.

Spans use character offsets into ``text`` (``end`` exclusive): they are the
truth, never whitespace words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mrekit.errors import MrekitError


@dataclass(frozen=True)
class Span:
    """A labelled character span ``text[start:end]``.

    Args:
        start: Offset of the first character.
        end: Offset one past the last character.
        label: The span type (entity type, slot, aspect, ...).
        attrs: Optional attributes, e.g. ``{"polarity": "negative"}``.
        surface: The declared surface string, checked against the text when set.
        score: A model's confidence, set on predictions only.
        attr_scores: A model's probability of each value of each attribute, set on
            predictions only, e.g. ``{"polarity": {"negative": 0.9, "positive": 0.1}}``.

    Example:
        >>> Span(0, 4, "artist").key
        (0, 4, 'artist')
    """

    start: int
    end: int
    label: str
    attrs: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    surface: str | None = field(default=None, compare=False)
    score: float | None = field(default=None, compare=False)
    attr_scores: dict[str, dict[str, float]] | None = field(default=None, compare=False, hash=False)

    @property
    def key(self) -> tuple[int, int, str]:
        """The identity used by strict span metrics."""
        return (self.start, self.end, self.label)


@dataclass(frozen=True)
class Relation:
    """A labelled relation between two spans, given by their indices in ``Example.spans``."""

    head: int
    tail: int
    label: str
    score: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Event:
    """An event: a trigger span index, a type and ``(role, span index)`` arguments."""

    trigger: int
    type: str
    args: tuple[tuple[str, int], ...] = ()


@dataclass
class Example:
    """One text with its text-level and word-level annotation.

    Args:
        text: The raw text.
        id: A stable identifier (optional).
        labels: Text-level labels; a list so single- and multi-label both fit.
            Empty means the text level is not annotated.
        label_attrs: Attributes per text label, e.g. ``{"food": {"polarity": "positive"}}``.
        label_scores: Scores per text label, set on predictions only.
        label_attr_scores: Per text label, a model's probability of each value of each
            attribute, e.g. ``{"food": {"polarity": {"positive": 0.8, ...}}}`` (predictions only).
        spans: Word-level spans, or ``None`` when the word level is not annotated.
        relations: Relations between spans.
        events: Events over spans.
        meta: Free metadata (language, source, split, ...).

    Example:
        >>> ex = Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")])
        >>> ex.surface(ex.spans[0])
        'muse'
    """

    text: str
    id: str | None = None
    labels: list[str] = field(default_factory=list)
    label_attrs: dict[str, dict[str, Any]] = field(default_factory=dict)
    label_scores: dict[str, float] | None = None
    spans: list[Span] | None = None
    relations: list[Relation] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    label_attr_scores: dict[str, dict[str, dict[str, float]]] | None = None

    @property
    def has_text_level(self) -> bool:
        """Whether the text level is annotated."""
        return bool(self.labels)

    @property
    def has_word_level(self) -> bool:
        """Whether the word level is annotated (possibly with no spans)."""
        return self.spans is not None

    def surface(self, span: Span) -> str:
        """The characters of ``text`` that ``span`` covers."""
        return self.text[span.start : span.end]

    def to_dict(self) -> dict[str, Any]:
        """Serialise to the canonical JSON object (absent levels are omitted)."""
        out: dict[str, Any] = {}
        if self.id is not None:
            out["id"] = self.id
        out["text"] = self.text
        if self.labels:
            out["labels"] = list(self.labels)
        if self.label_attrs:
            out["label_attrs"] = {k: dict(v) for k, v in self.label_attrs.items()}
        if self.label_scores is not None:
            out["label_scores"] = dict(self.label_scores)
        if self.label_attr_scores is not None:
            out["label_attr_scores"] = {
                k: {a: dict(v) for a, v in d.items()} for k, d in self.label_attr_scores.items()
            }
        if self.spans is not None:
            out["spans"] = [_span_to_dict(self, s) for s in self.spans]
        if self.relations:
            out["relations"] = [_relation_to_dict(r) for r in self.relations]
        if self.events:
            out["events"] = [
                {"trigger": e.trigger, "type": e.type, "args": [[r, i] for r, i in e.args]} for e in self.events
            ]
        if self.meta:
            out["meta"] = dict(self.meta)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Example:
        """Build an example from its canonical JSON object, checking field types.

        Raises:
            MrekitError: ``E104`` naming the field that is missing or mistyped.

        Example:
            >>> Example.from_dict({"text": "hi", "labels": ["greet"]}).labels
            ['greet']
        """
        if not isinstance(data, dict):
            raise MrekitError("E104", f"expected a JSON object, got {type(data).__name__}")
        text = _require(data, "text", str)
        ex_id = data.get("id")
        if ex_id is not None and not isinstance(ex_id, (str, int)):
            raise MrekitError("E104", "'id' must be a string or an integer", field="id")
        labels = _labels(data)
        label_attrs = _typed(data, "label_attrs", dict, {})
        scores = data.get("label_scores")
        if scores is not None and not isinstance(scores, dict):
            raise MrekitError("E104", "'label_scores' must be an object", field="label_scores")
        attr_scores = data.get("label_attr_scores")
        if attr_scores is not None and not isinstance(attr_scores, dict):
            raise MrekitError("E104", "'label_attr_scores' must be an object", field="label_attr_scores")
        spans = None
        if data.get("spans") is not None:
            spans = [_span_from(s, f"spans[{i}]") for i, s in enumerate(_typed(data, "spans", list, []))]
        relations = [_relation_from(r, f"relations[{i}]") for i, r in enumerate(_typed(data, "relations", list, []))]
        events = [_event_from(e, f"events[{i}]") for i, e in enumerate(_typed(data, "events", list, []))]
        return cls(
            text=text,
            id=str(ex_id) if ex_id is not None else None,
            labels=labels,
            label_attrs=label_attrs,
            label_scores=scores,
            spans=spans,
            relations=relations,
            events=events,
            meta=_typed(data, "meta", dict, {}),
            label_attr_scores=attr_scores,
        )


def validate(example: Example, *, allow_overlap: bool = True, check_surface: bool = True) -> list[MrekitError]:
    """List every problem of one example (an empty list means it is valid).

    Args:
        example: The example to check.
        allow_overlap: Whether spans may overlap (nested entities, aspect terms).
        check_surface: Whether a span's declared ``surface`` must equal ``text[start:end]``.

    Returns:
        The problems found, each a :class:`MrekitError` with its code and field.

    Example:
        >>> [e.code for e in validate(Example("abc", spans=[Span(1, 9, "x")]))]
        ['E110']
    """
    problems: list[MrekitError] = []
    spans = example.spans or []
    n = len(example.text)
    if not _encodable(example.text):
        problems.append(MrekitError("E105", "the text holds a lone surrogate, which is not Unicode text", field="text"))
    for i, span in enumerate(spans):
        where = f"spans[{i}]"
        if span.start < 0 or span.end > n:
            problems.append(
                MrekitError("E110", f"span {span.start}-{span.end} lies outside the text (length {n})", field=where)
            )
        elif span.start >= span.end:
            problems.append(MrekitError("E111", f"span start {span.start} is not before end {span.end}", field=where))
        elif check_surface and span.surface is not None and example.surface(span) != span.surface:
            problems.append(
                MrekitError(
                    "E112",
                    f"span {span.start}-{span.end} covers {example.surface(span)!r}, not {span.surface!r}",
                    field=where,
                    hint="fix the offsets or the declared text",
                )
            )
    if not allow_overlap:
        problems.extend(_overlaps(spans))
    for i, rel in enumerate(example.relations):
        for role, idx in (("head", rel.head), ("tail", rel.tail)):
            if not 0 <= idx < len(spans):
                problems.append(
                    MrekitError(
                        "E114", f"{role} {idx} is not a span index (0..{len(spans) - 1})", field=f"relations[{i}]"
                    )
                )
    for i, event in enumerate(example.events):
        for what, idx in [("trigger", event.trigger), *((f"argument {r!r}", j) for r, j in event.args)]:
            if not 0 <= idx < len(spans):
                problems.append(
                    MrekitError("E115", f"{what} {idx} is not a span index (0..{len(spans) - 1})", field=f"events[{i}]")
                )
    return problems


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _overlaps(spans: list[Span]) -> list[MrekitError]:
    problems = []
    order = sorted(range(len(spans)), key=lambda i: (spans[i].start, spans[i].end))
    # Compare with the span reaching furthest so far, so a long span overlapping
    # several later ones reports each of them.
    furthest = None
    for cur in order:
        if furthest is not None and spans[cur].start < spans[furthest].end:
            problems.append(
                MrekitError(
                    "E113",
                    f"spans[{furthest}] and spans[{cur}] overlap",
                    field=f"spans[{cur}]",
                    hint="allow overlaps (--allow-overlap) or remove one span",
                )
            )
        if furthest is None or spans[cur].end > spans[furthest].end:
            furthest = cur
    return problems


def _span_to_dict(example: Example, span: Span) -> dict[str, Any]:
    out: dict[str, Any] = {"start": span.start, "end": span.end, "label": span.label}
    out["text"] = example.text[span.start : span.end]
    if span.attrs:
        out["attrs"] = dict(span.attrs)
    if span.score is not None:
        out["score"] = span.score
    if span.attr_scores:
        out["attr_scores"] = {name: dict(values) for name, values in span.attr_scores.items()}
    return out


def _relation_to_dict(rel: Relation) -> dict[str, Any]:
    out: dict[str, Any] = {"head": rel.head, "tail": rel.tail, "label": rel.label}
    if rel.score is not None:
        out["score"] = rel.score
    return out


def _require(data: dict, key: str, kind: type, where: str | None = None) -> Any:
    name = f"{where}.{key}" if where else key
    if key not in data:
        raise MrekitError("E104", f"missing required field '{name}'", field=name)
    value = data[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise MrekitError("E104", f"'{name}' must be {kind.__name__}, got {type(value).__name__}", field=name)
    return value


def _typed(data: dict, key: str, kind: type, default: Any) -> Any:
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise MrekitError("E104", f"'{key}' must be {kind.__name__}, got {type(value).__name__}", field=key)
    return value


def _labels(data: dict) -> list[str]:
    value = data.get("labels")
    if value is None and isinstance(data.get("label"), str):
        value = [data["label"]]  # tolerate the common single-label spelling
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MrekitError("E104", "'labels' must be a list of strings", field="labels")
    return list(value)


def _span_from(data: Any, where: str) -> Span:
    if not isinstance(data, dict):
        raise MrekitError("E104", f"'{where}' must be an object", field=where)
    surface = data.get("text")
    if surface is not None and not isinstance(surface, str):
        raise MrekitError("E104", f"'{where}.text' must be a string", field=f"{where}.text")
    attrs = data.get("attrs") or {}
    if not isinstance(attrs, dict):
        raise MrekitError("E104", f"'{where}.attrs' must be an object", field=f"{where}.attrs")
    score = data.get("score")
    attr_scores = data.get("attr_scores")
    if attr_scores is not None and not isinstance(attr_scores, dict):
        raise MrekitError("E104", f"'{where}.attr_scores' must be an object", field=f"{where}.attr_scores")
    return Span(
        start=_require(data, "start", int, where),
        end=_require(data, "end", int, where),
        label=_require(data, "label", str, where),
        attrs=attrs,
        surface=surface,
        score=float(score) if isinstance(score, (int, float)) else None,
        attr_scores=attr_scores,
    )


def _relation_from(data: Any, where: str) -> Relation:
    if not isinstance(data, dict):
        raise MrekitError("E104", f"'{where}' must be an object", field=where)
    return Relation(
        head=_require(data, "head", int, where),
        tail=_require(data, "tail", int, where),
        label=_require(data, "label", str, where),
    )


def _event_from(data: Any, where: str) -> Event:
    if not isinstance(data, dict):
        raise MrekitError("E104", f"'{where}' must be an object", field=where)
    args = []
    for j, arg in enumerate(data.get("args") or []):
        ok = isinstance(arg, (list, tuple)) and len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], int)
        if not ok:
            raise MrekitError("E104", f"'{where}.args[{j}]' must be [role, span index]", field=f"{where}.args[{j}]")
        args.append((arg[0], arg[1]))
    return Event(
        trigger=_require(data, "trigger", int, where),
        type=_require(data, "type", str, where),
        args=tuple(args),
    )
