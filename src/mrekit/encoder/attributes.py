"""Span and text-label attributes (aspect polarity and the like): value spaces, targets, losses, decoding.

USA / SCPOS and GIELLM put word-level sentiment into the same output as the spans:
"ramen" is an ``aspect`` *and* ``negative``. The joint model learns each attribute seen
in training as a classifier:

* **span attributes** come from one linear head per token over ``[token state; context]``
  (the context is the text representation, or in the ``mre`` mode the predicted
  text-label distribution); a span's attribute logits are the *mean of its tokens'
  logits*. For a linear head that is exactly the head applied to the span's mean-pooled
  tokens, and it keeps the exported graph free of span indexing: the ONNX graph returns
  per-token logits and this module pools them over whichever spans were decoded (or
  given, for scoring attributes on gold spans).
* **text-label attributes** (an aspect category's polarity) come from a head over the
  text representation with one block of logits per text label.

Several attributes share one logits vector, split into groups (one softmax per
attribute). Every level is optional and partial: a span without an attribute, or a
label without attributes, adds no loss (targets are ``-100``). Written here because no
library pools token logits over character-offset spans this way.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from mrekit.errors import warn
from mrekit.schema import Example, Span

logger = logging.getLogger(__name__)

IGNORE = -100


@dataclass
class AttributeSpace:
    """The attribute values a model predicts, per attribute name (sorted).

    Args:
        span_attrs: Span attribute name -> its values, e.g. ``{"polarity": ["negative", "positive"]}``.
        label_attrs: Text-label attribute name -> its values.

    Example:
        >>> ex = Example("good ramen", labels=["food"], label_attrs={"food": {"polarity": "positive"}},
        ...              spans=[Span(5, 10, "aspect", attrs={"polarity": "positive"})])
        >>> space = AttributeSpace.from_examples([ex])
        >>> space.span_attrs, space.label_attrs
        ({'polarity': ['positive']}, {'polarity': ['positive']})
    """

    span_attrs: dict[str, list[str]] = field(default_factory=dict)
    label_attrs: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_examples(cls, examples: Sequence[Example]) -> AttributeSpace:
        """Collect every attribute name and value of the training spans and text labels."""
        spans: dict[str, set[str]] = {}
        labels: dict[str, set[str]] = {}
        for ex in examples:
            for span in ex.spans or []:
                for name, value in span.attrs.items():
                    spans.setdefault(name, set()).add(str(value))
            for label in ex.labels:
                for name, value in (ex.label_attrs.get(label) or {}).items():
                    labels.setdefault(name, set()).add(str(value))
        return cls({k: sorted(v) for k, v in sorted(spans.items())}, {k: sorted(v) for k, v in sorted(labels.items())})

    @property
    def span_width(self) -> int:
        """Logits per token of the span-attribute head (all attributes' values)."""
        return sum(len(v) for v in self.span_attrs.values())

    @property
    def label_width(self) -> int:
        """Logits per text label of the label-attribute head."""
        return sum(len(v) for v in self.label_attrs.values())


def groups(attrs: dict[str, list[str]]) -> list[tuple[str, int, list[str]]]:
    """``(name, offset, values)`` per attribute, in logits order.

    Example:
        >>> groups({"polarity": ["neg", "pos"], "tense": ["past"]})
        [('polarity', 0, ['neg', 'pos']), ('tense', 2, ['past'])]
    """
    out, offset = [], 0
    for name, values in attrs.items():
        out.append((name, offset, list(values)))
        offset += len(values)
    return out


def value_ids(attrs: dict, space: dict[str, list[str]], unseen: Counter) -> list[int]:
    """One target per attribute of ``space``: the value's index, ``-100`` where absent or unknown."""
    out = []
    for name, values in space.items():
        value = attrs.get(name)
        if value is None:
            out.append(IGNORE)
        elif str(value) in values:
            out.append(values.index(str(value)))
        else:
            unseen[f"{name}={value}"] += 1
            out.append(IGNORE)
    return out


def warn_unseen_values(unseen: Counter) -> None:
    """``W103`` for attribute values outside the model's value space (they add no loss)."""
    if unseen:
        shown = ", ".join(f"{value} ({count})" for value, count in unseen.most_common(10))
        warn(logger, "W103", f"attribute values outside the model's space were ignored: {shown}")


def group_softmax(logits: torch.Tensor, attrs: dict[str, list[str]]) -> torch.Tensor:
    """A softmax within each attribute's block of the last axis."""
    return torch.cat([logits[..., o : o + len(v)].softmax(dim=-1) for _, o, v in groups(attrs)], dim=-1)


def grouped_loss(logits: torch.Tensor, targets: torch.Tensor, attrs: dict[str, list[str]]) -> torch.Tensor:
    """Mean cross-entropy over every attribute target that is not ``-100``.

    Args:
        logits: ``(..., width)`` with one block per attribute.
        targets: ``(..., n_attributes)`` value indices.
    """
    losses = []
    for k, (_, offset, values) in enumerate(groups(attrs)):
        gold = targets[..., k].reshape(-1)
        if (gold != IGNORE).any():
            block = logits[..., offset : offset + len(values)].reshape(-1, len(values))
            losses.append(F.cross_entropy(block, gold, ignore_index=IGNORE))
    return torch.stack(losses).mean() if losses else logits.sum() * 0.0


def pool_spans(token_logits: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean of token logits over each span: ``(B, T, V)`` with ``(B, S, T)`` 0/1 weights -> ``(B, S, V)``."""
    counts = weights.sum(dim=-1, keepdim=True).clamp(min=1.0)
    return torch.einsum("bst,btv->bsv", weights / counts, token_logits)


def pool_token_range(token_logits: np.ndarray, real: np.ndarray, rows, first, last) -> np.ndarray:
    """Mean logits of the real tokens ``first..last-1`` of each ``(row, first, last)``; ``(n, V)``."""
    if len(rows) == 0:
        return np.zeros((0, token_logits.shape[-1]))
    masked = token_logits * real[..., None]
    cum = np.concatenate([np.zeros_like(masked[:, :1]), np.cumsum(masked, axis=1)], axis=1)
    counts = np.concatenate([np.zeros_like(real[:, :1], dtype=float), np.cumsum(real, axis=1)], axis=1)
    rows, first, last = (np.asarray(a, dtype=np.int64) for a in (rows, first, last))
    total = cum[rows, last] - cum[rows, first]
    n = (counts[rows, last] - counts[rows, first])[:, None]
    return total / np.maximum(n, 1.0)


def decode_values(
    logits: np.ndarray, attrs: dict[str, list[str]], allowed: dict[str, set[str]] | None = None
) -> tuple[dict[str, str], dict[str, dict[str, float]]]:
    """One item's logits -> (chosen value per attribute, probability of every value).

    ``allowed`` restricts the choice (consistency enforcement); the probabilities are
    always the model's own.

    Example:
        >>> decode_values(np.array([0.0, 2.0]), {"polarity": ["negative", "positive"]})[0]
        {'polarity': 'positive'}
    """
    chosen: dict[str, str] = {}
    scores: dict[str, dict[str, float]] = {}
    for name, offset, values in groups(attrs):
        block = logits[offset : offset + len(values)].astype(np.float64)
        probs = np.exp(block - block.max())
        probs /= probs.sum()
        scores[name] = {value: round(float(p), 4) for value, p in zip(values, probs, strict=True)}
        order = np.argsort(-probs)
        ok = allowed.get(name) if allowed else None
        pick = next((i for i in order if ok is None or values[i] in ok), int(order[0]))
        chosen[name] = values[int(pick)]
    return chosen, scores


def attribute_consistency(examples: Sequence[Example]) -> dict[str, dict[str, list[str]]]:
    """Span label -> attribute -> the values seen with it in training.

    Example:
        >>> attribute_consistency([Example("ab", spans=[Span(0, 1, "aspect", attrs={"polarity": "neutral"})])])
        {'aspect': {'polarity': ['neutral']}}
    """
    seen: dict[str, dict[str, set[str]]] = {}
    for ex in examples:
        for span in ex.spans or []:
            for name, value in span.attrs.items():
                seen.setdefault(span.label, {}).setdefault(name, set()).add(str(value))
    return {label: {k: sorted(v) for k, v in sorted(d.items())} for label, d in sorted(seen.items())}


def with_attrs(
    span: Span,
    attrs: dict[str, str],
    scores: dict[str, dict[str, float]],
    seen: dict[str, dict[str, list[str]]] | None = None,
) -> Span:
    """``span`` with predicted attributes and their value probabilities.

    With ``seen`` (span label -> attributes seen with it in training), a span gets only the
    attributes its type had in training: PHEE's argument spans get no ``event_type``, which
    only triggers carry.

    Example:
        >>> with_attrs(Span(0, 2, "Drug"), {"event_type": "x"}, {"event_type": {"x": 1.0}}, {"Trigger": {}}).attrs
        {}
    """
    if seen is not None:
        names = seen.get(span.label, {})
        attrs = {k: v for k, v in attrs.items() if k in names}
        scores = {k: v for k, v in scores.items() if k in names}
    return Span(
        span.start,
        span.end,
        span.label,
        attrs=attrs,
        surface=span.surface,
        score=span.score,
        attr_scores=scores or None,
    )


def inconsistent_attrs(spans: Sequence[Span], seen: dict[str, dict[str, list[str]]]) -> list[int]:
    """Indices of spans with an attribute value never seen with their span type in training."""
    bad = []
    for i, span in enumerate(spans):
        known = seen.get(span.label, {})
        if any(name in known and str(value) not in known[name] for name, value in span.attrs.items()):
            bad.append(i)
    return bad
