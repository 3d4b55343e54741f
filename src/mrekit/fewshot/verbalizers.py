"""Verbalizers: the words that stand for each text label.

* ``names``: the label name itself (``PlayMusic`` -> ``play music``);
* ``file``: a manual list, one line per label, label name first, then its words,
  comma-separated (the layout OpenPrompt's knowledgeable verbalizer reads);
* ``wli``: word-level information: the surface strings of the spans seen with
  each text label, ranked by frequency times specificity, after the label name.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mrekit.errors import MrekitError
from mrekit.files import iter_lines
from mrekit.outputs import atomic_file
from mrekit.schema import Example

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[_/\s\-.#]+")


@dataclass
class Verbalizer:
    """Words per label, best first, with optional weights.

    Example:
        >>> v = Verbalizer({"PlayMusic": ["play music", "song"]})
        >>> v.weights_of("PlayMusic")
        [1.0, 1.0]
    """

    words: dict[str, list[str]]
    weights: dict[str, list[float]] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        """The labels, in file order."""
        return list(self.words)

    def weights_of(self, label: str) -> list[float]:
        """Weights of a label's words (1.0 each when none were given)."""
        return self.weights.get(label) or [1.0] * len(self.words[label])


def label_words(labels: Sequence[str]) -> dict[str, str]:
    """A readable phrase per label name; tokens every label shares (``atis_``) are dropped.

    Example:
        >>> label_words(["PlayMusic", "atis_flight"])
        {'PlayMusic': 'play music', 'atis_flight': 'atis flight'}
        >>> label_words(["atis_flight", "atis_airfare"])
        {'atis_flight': 'flight', 'atis_airfare': 'airfare'}
    """
    tokens = {label: [t.lower() for t in _SPLIT.split(_CAMEL.sub(" ", label)) if t] for label in labels}
    shared = set.intersection(*(set(t) for t in tokens.values())) if len(labels) > 1 else set()
    return {label: " ".join(t for t in toks if t not in shared) or " ".join(toks) for label, toks in tokens.items()}


def names_verbalizer(labels: Sequence[str]) -> Verbalizer:
    """One word (phrase) per label: its name.

    Example:
        >>> names_verbalizer(["GetWeather"]).words
        {'GetWeather': ['get weather']}
    """
    return Verbalizer({label: [phrase] for label, phrase in label_words(labels).items()})


def wli_verbalizer(
    examples: Sequence[Example],
    labels: Sequence[str] | None = None,
    *,
    pool: Sequence[Example] = (),
    top_k: int = 100,
    min_specificity: float = 0.7,
) -> Verbalizer:
    """Mine each label's verbalizer from the spans seen with it.

    A word's score for label ``t`` is ``count(t, w) * P(t | w)``: frequent under
    ``t`` and specific to it. Words with ``P(t | w) < min_specificity`` are left
    out, so strings seen under many labels alike (ATIS city names) do not blur
    every label into the same vector; a label whose spans say nothing specific
    keeps just its name. Span-only examples in ``pool`` count too, credited to
    each text label in proportion to how often their span label occurs with it
    in ``examples``. The label name comes first.

    Args:
        examples: Examples with text labels and spans (e.g. the K shots).
        labels: The label set (default: the labels of ``examples``).
        pool: More examples with spans but no text label.
        top_k: Words kept per label (besides its name).
        min_specificity: Least share of a word's occurrences that must fall under the label (0 keeps all).

    Example:
        >>> from mrekit.schema import Span
        >>> shots = [Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")]),
        ...          Example("rain in rome", labels=["GetWeather"], spans=[Span(8, 12, "city")])]
        >>> wli_verbalizer(shots, pool=[Example("blur", spans=[Span(0, 4, "artist")])]).words["PlayMusic"]
        ['play music', 'blur', 'muse']
    """
    labels = list(labels or sorted({label for ex in examples for label in ex.labels}))
    counts: dict[str, Counter] = defaultdict(Counter)
    by_span_label: dict[str, Counter] = defaultdict(Counter)
    for ex in examples:
        for span in ex.spans or []:
            for label in ex.labels:
                counts[label][ex.surface(span).lower()] += 1.0
                by_span_label[span.label][label] += 1
    for ex in pool:
        for span in ex.spans or []:
            seen = by_span_label.get(span.label)
            if not seen:
                continue
            total = sum(seen.values())
            for label, n in seen.items():
                counts[label][ex.surface(span).lower()] += n / total
    totals: Counter = Counter()
    for label in labels:
        totals.update(counts[label])
    names = label_words(labels)
    words, weights = {}, {}
    for label in labels:
        candidates = ((c, c / totals[w], w) for w, c in counts[label].items() if w != names[label])
        scored = sorted(
            ((c * share, w) for c, share, w in candidates if share >= min_specificity),
            key=lambda pair: (-pair[0], pair[1]),
        )[:top_k]
        words[label] = [names[label]] + [w for _, w in scored]
        weights[label] = [max((s for s, _ in scored), default=1.0)] + [s for s, _ in scored]
    return Verbalizer(words, weights)


def read_verbalizer(path: str | Path) -> Verbalizer:
    """Read ``label,word,word,...`` lines (blank lines skipped).

    Raises:
        MrekitError: ``E104`` (with line) for a line without words, ``E101`` for an empty file.
    """
    words: dict[str, list[str]] = {}
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 2 or not parts[0] or not any(parts[1:]):
            raise MrekitError("E104", "expected 'label,word,word,...'", path=path, line=number)
        words.setdefault(parts[0], []).extend(p for p in parts[1:] if p)
    if not words:
        raise MrekitError("E101", "no labels in verbalizer file", path=path)
    return Verbalizer(words)


def write_verbalizer(verbalizer: Verbalizer, path: str | Path, *, overwrite: bool = False) -> None:
    """Write the ``label,word,word,...`` layout atomically (commas inside words become spaces)."""
    with atomic_file(path, overwrite=overwrite) as fh:
        for label, words in verbalizer.words.items():
            fh.write(",".join([label, *(w.replace(",", " ") for w in words)]) + "\n")
