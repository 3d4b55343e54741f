"""The output format of a generative model: format, task word, label and type sets.

An :class:`OutputSpec` is learnt from the training examples and saved in the
model's manifest. It renders examples into ``(input, output)`` strings (with
:mod:`mrekit.formats.oiellm` / :mod:`mrekit.formats.giellm`), splits an output
into the segments that the tokenizer encodes one by one (fixed strings, and
entities given by their character offsets in the text), and parses generated
strings back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mrekit.errors import MrekitError, dataclass_from_dict
from mrekit.formats.giellm import parse_giellm
from mrekit.formats.items import DEFAULT_ATTR_KEYS, ParsedOutput, resolve
from mrekit.formats.oiellm import LABEL_SEP, parse_oiellm
from mrekit.generative.conditioning import CONDITIONS, FORMATS, check_choice, render_pair
from mrekit.schema import Example


@dataclass(frozen=True)
class EntityRef:
    """An entity segment of an output: the characters ``text[start:end]`` of the input text."""

    start: int
    end: int


#: A piece of an output string: a fixed string (label, type, separator) or an entity.
Segment = str | EntityRef


@dataclass
class OutputSpec:
    """What a generative model reads and writes.

    Args:
        format: ``"oiellm"`` or ``"giellm"``.
        task: The task word (``NER``, ``Sentiment Adj``, ``Relation Extraction``, ...).
        kind: ``"spans"``, ``"relations"`` or ``"events"``.
        labels: The text label set (sorted); GIELLM lists it as the candidates.
        types: Span or event types, or relation labels (sorted).
        roles: Event argument roles (sorted).
        attr_keys: Positional span attributes after the surface.
        attr_values: Values seen for each attribute key.
        min_labels: Fewest text labels of a training example.
        max_labels: Most text labels of a training example.
        condition: ``"none"``, ``"word"`` or ``"text"`` (see :mod:`mrekit.generative.conditioning`).

    Example:
        >>> spec = OutputSpec(labels=["PlayMusic"], types=["artist"])
        >>> spec.source(Example("play muse"))
        'play muse/NER'
        >>> spec.parse("PlayMusic/NER/:artist;muse").pairs
        [('artist', 'muse')]
    """

    format: str = "oiellm"
    task: str = "NER"
    kind: str = "spans"
    labels: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    attr_keys: list[str] = field(default_factory=lambda: list(DEFAULT_ATTR_KEYS))
    attr_values: dict[str, list[str]] = field(default_factory=dict)
    min_labels: int = 1
    max_labels: int = 1
    condition: str = "none"

    def __post_init__(self) -> None:
        check_choice(self.format, FORMATS, "format")
        check_choice(self.condition, CONDITIONS, "condition")
        self.task, self.kind = resolve(self.task, self.kind)

    @classmethod
    def from_examples(
        cls,
        examples: Sequence[Example],
        *,
        format: str = "oiellm",
        task: str | None = None,
        kind: str | None = None,
        condition: str = "none",
        attr_keys: Sequence[str] = DEFAULT_ATTR_KEYS,
    ) -> OutputSpec:
        """Collect the label, type, role and attribute sets of ``examples``.

        Raises:
            MrekitError: ``E101`` when there are no examples.

        Example:
            >>> from mrekit import Span
            >>> spec = OutputSpec.from_examples([Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "a")])])
            >>> spec.labels, spec.types, spec.min_labels
            (['PlayMusic'], ['a'], 1)
        """
        if not examples:
            raise MrekitError("E101", "no training examples")
        task, kind = resolve(task, kind)
        counts = [len(ex.labels) for ex in examples]
        types: set[str] = set()
        roles: set[str] = set()
        values: dict[str, set[str]] = {}
        for ex in examples:
            if kind == "spans":
                types.update(s.label for s in ex.spans or [])
                for span in ex.spans or []:
                    for key in attr_keys:
                        if span.attrs.get(key) not in (None, ""):
                            values.setdefault(key, set()).add(str(span.attrs[key]))
            elif kind == "relations":
                types.update(r.label for r in ex.relations)
            else:
                types.update(e.type for e in ex.events)
                roles.update(role for e in ex.events for role, _ in e.args)
        return cls(
            format=format,
            task=task,
            kind=kind,
            labels=sorted({label for ex in examples for label in ex.labels}),
            types=sorted(types),
            roles=sorted(roles),
            attr_keys=list(attr_keys),
            attr_values={k: sorted(v) for k, v in values.items()},
            min_labels=min(counts),
            max_labels=max(counts),
            condition=condition,
        )

    @property
    def label_bounds(self) -> tuple[int, int]:
        """Fewest and most text labels an output may hold (none when the labels are given)."""
        if self.condition == "text" or not self.labels:
            return 0, 0
        return self.min_labels, max(self.max_labels, 1)

    @property
    def has_items(self) -> bool:
        """Whether outputs hold word-level items (not when the input gives them)."""
        return self.condition != "word"

    def pair(self, example: Example) -> tuple[str, str]:
        """The ``(input, output)`` strings of a training example.

        Example:
            >>> OutputSpec(labels=["PlayMusic"]).pair(Example("play", labels=["PlayMusic"]))
            ('play/NER', 'PlayMusic/NER/')
        """
        return render_pair(example, **self._render_options())

    def source(self, example: Example) -> str:
        """The input string; conditioned models read the given level from ``example``.

        Example:
            >>> OutputSpec(format="giellm", labels=["A", "B"]).source(Example("hi"))
            'hi <A><B> NER'
        """
        if self.condition == "none":
            example = Example(example.text)
        return self.pair(example)[0]

    def segments(self, example: Example) -> list[Segment]:
        """The output of ``example`` as the fixed strings and entities it is made of.

        Their concatenation is the rendered output string (checked).

        Raises:
            MrekitError: ``E150`` when the example cannot be rendered unambiguously.

        Example:
            >>> from mrekit import Span
            >>> spec = OutputSpec(labels=["PlayMusic"], types=["artist"])
            >>> spec.segments(Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")]))
            ['PlayMusic', '/NER/', ':', 'artist', ';', EntityRef(start=5, end=9)]
        """
        output = self.pair(example)[1]
        labels = [] if self.condition == "text" else list(example.labels)
        out: list[Segment] = []
        if self.format == "oiellm":
            for i, label in enumerate(labels):
                out += [LABEL_SEP, label] if i else [label]
            out.append(f"/{self.task}/")
        else:
            for label in labels:
                out += ["<", label, ">"]
            out.append(self.task)
        if self.has_items:
            for fields in _item_fields(example, self.kind, self.attr_keys):
                out.append(":")
                for j, value in enumerate(fields):
                    out += [";", value] if j else [value]
        spelled = "".join(s if isinstance(s, str) else example.text[s.start : s.end] for s in out)
        if spelled != output:
            raise MrekitError("E150", f"example {example.id or example.text[:40]!r} cannot be split into segments")
        return out

    def parse(self, output: str) -> ParsedOutput:
        """Parse a generated string with this model's task word, label set and type set.

        A conditioned model's output must leave the given level empty.

        Example:
            >>> OutputSpec(labels=["A"], types=["t"]).parse("B/NER/:t;x").errors
            ["unknown text label 'B'"]
        """
        parse = parse_oiellm if self.format == "oiellm" else parse_giellm
        types = set(self.types)
        parsed = parse(
            output, self.task, kind=self.kind, types=types, label_set=set(self.labels), attr_keys=self.attr_keys
        )
        if self.condition == "text" and parsed.labels:
            parsed.errors.append("text labels in an output whose labels were given")
        if self.condition == "word" and parsed.items:
            parsed.errors.append("items in an output whose items were given")
        return parsed

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for the manifest).

        Example:
            >>> OutputSpec.from_dict(OutputSpec(labels=["A"]).to_dict()).labels
            ['A']
        """
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutputSpec:
        """Rebuild from :meth:`to_dict`, naming unknown keys (``E202``).

        Example:
            >>> OutputSpec.from_dict({"task": "NER"}).format
            'oiellm'
        """
        return dataclass_from_dict(cls, data, code="E202", what="output setting")

    def _render_options(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "condition": self.condition,
            "task": self.task,
            "kind": self.kind,
            "label_set": self.labels,
            "types": set(self.types),
            "attr_keys": self.attr_keys,
        }


def _item_fields(example: Example, kind: str, attr_keys: Sequence[str]) -> list[list[Segment]]:
    # The same items in the same order as mrekit.formats.items.items_of, with entities as offsets.
    spans = example.spans or []

    def ref(index: int) -> EntityRef:
        if not 0 <= index < len(spans):
            raise MrekitError("E114", f"span index {index} does not exist (0..{len(spans) - 1})", field="spans")
        return EntityRef(spans[index].start, spans[index].end)

    if kind == "spans":
        out: list[list[Segment]] = []
        for span in sorted(spans, key=lambda s: (s.start, s.end)):
            values = [str(span.attrs[k]) if span.attrs.get(k) not in (None, "") else "" for k in attr_keys]
            while values and not values[-1]:
                values.pop()
            out.append([span.label, EntityRef(span.start, span.end), *values])
        return out
    if kind == "relations":
        return [[ref(r.head), r.label, ref(r.tail)] for r in example.relations]
    return [[e.type, ref(e.trigger), *(part for role, i in e.args for part in (role, ref(i)))] for e in example.events]
