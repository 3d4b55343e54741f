"""From examples to tensors: tokenization with offsets, tag and label targets, length-bucketed batches.

Tags are assigned to every subword through the tokenizer's offset mapping
(``B-`` on a span's first subword, ``I-`` on the rest), so spans come back as
character offsets in any script, Japanese included.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch

from mrekit.alignment import encode_example, tokens_in_text
from mrekit.encoder.attributes import IGNORE, value_ids, warn_unseen_values
from mrekit.encoder.pairs import PairSpace, pair_targets, pair_tensors
from mrekit.errors import warn
from mrekit.schema import Example
from mrekit.tags import bio_tags

logger = logging.getLogger(__name__)


@dataclass
class LabelSpace:
    """The text labels and BIO tags a model predicts.

    Example:
        >>> space = LabelSpace.from_examples([Example("a b", labels=["x"], spans=[])])
        >>> space.tags
        ['O']
    """

    text_labels: list[str]
    span_labels: list[str]
    multi_label: bool = False
    span_attrs: dict[str, list[str]] = field(default_factory=dict)
    label_attrs: dict[str, list[str]] = field(default_factory=dict)
    pairs: PairSpace | None = None

    @property
    def tags(self) -> list[str]:
        """``O`` then ``B-``/``I-`` per span label."""
        return bio_tags(self.span_labels)

    @classmethod
    def from_examples(cls, examples: Sequence[Example]) -> LabelSpace:
        """Collect labels from training data; multi-label when any text has several."""
        text = sorted({label for ex in examples for label in ex.labels})
        spans = sorted({s.label for ex in examples for s in ex.spans or []})
        multi = any(len(ex.labels) > 1 for ex in examples)
        return cls(text, spans, multi)


@dataclass
class Features:
    """One tokenized example with its targets (``None`` where a level is not annotated)."""

    input_ids: list[int]
    offsets: list[tuple[int, int]]
    real: list[bool]
    tag_ids: list[int] | None
    label_ids: list[int] | None
    truncated: bool = False
    #: ``(first token, last token exclusive, value index per span attribute)`` of attributed gold spans.
    attr_spans: list[tuple[int, int, list[int]]] | None = None
    #: Text label index -> value index per label attribute.
    label_attr_ids: dict[int, list[int]] | None = None
    #: Aligned gold spans ``(first, last, type index)`` that relation / argument pairs point to.
    pair_spans: list[tuple[int, int, int]] | None = None
    #: ``relations`` / ``arguments`` -> ``(span a, span b, label index; 0 = none)`` targets.
    pair_targets: dict[str, list[tuple[int, int, int]]] | None = None


@dataclass
class AlignmentReport:
    """How many gold spans did not map exactly onto subword tokens, by reason."""

    n_spans: int = 0
    reasons: Counter | None = None

    def summary(self) -> str:
        """One line for logs."""
        reasons = self.reasons or Counter()
        issues = sum(reasons.values())
        detail = ", ".join(f"{k} {v}" for k, v in reasons.most_common())
        return f"{self.n_spans - issues}/{self.n_spans} spans aligned exactly" + (f" ({detail})" if detail else "")


def featurize(
    examples: Sequence[Example], tokenizer, space: LabelSpace, max_length: int
) -> tuple[list[Features], AlignmentReport]:
    """Tokenize examples and build their targets; misaligned spans are expanded and counted.

    Unknown labels (not in ``space``) are ignored with a warning (``W103``) rather
    than failing, so a dev set with a rare unseen label can still be scored.
    """
    tag_index = {t: i for i, t in enumerate(space.tags)}
    label_index = {label: i for i, label in enumerate(space.text_labels)}
    report = AlignmentReport(reasons=Counter())
    unseen: Counter = Counter()
    unseen_values: Counter = Counter()
    out = []
    for ex in examples:
        enc = encode_example(tokenizer, ex, mode="expand", max_length=max_length)
        report.n_spans += len(ex.spans or [])
        report.reasons.update(issue.reason for issue in enc.issues)
        tag_ids = None
        if enc.tags is not None:
            tag_ids = []
            for tag, real in zip(enc.tags, enc.offsets.real, strict=True):
                if not real:
                    tag_ids.append(IGNORE)
                elif tag in tag_index:
                    tag_ids.append(tag_index[tag])
                else:
                    unseen[tag[2:]] += tag.startswith("B-")  # once per span, not per subword
                    tag_ids.append(0)
        label_ids = None
        if ex.labels:
            label_ids = [label_index[label] for label in ex.labels if label in label_index]
            unseen.update(label for label in ex.labels if label not in label_index)
        feature = Features(
            enc.offsets.ids, enc.offsets.offsets, enc.offsets.real, tag_ids, label_ids, enc.offsets.truncated
        )
        _attribute_targets(feature, ex, enc.token_spans, space, label_index, unseen_values)
        if space.pairs is not None and ex.spans:
            span_index = {label: i for i, label in enumerate(space.span_labels)}
            feature.pair_spans, feature.pair_targets = pair_targets(ex, enc.token_spans, space.pairs, span_index)
        out.append(feature)
    warn_unseen_values(unseen_values)
    if unseen:
        shown = ", ".join(f"{label} ({count})" for label, count in unseen.most_common(10))
        more = f" and {len(unseen) - 10} more" if len(unseen) > 10 else ""
        warn(logger, "W103", f"labels outside the model's label space were ignored: {shown}{more}")
    return out, report


def _attribute_targets(feature, ex, token_spans, space: LabelSpace, label_index, unseen: Counter) -> None:
    """Attach span- and label-attribute targets (only for spans and labels that carry attributes)."""
    if space.span_attrs and ex.spans:
        spans = []
        for span, token_span in zip(ex.spans, token_spans, strict=False):
            if token_span is None or not span.attrs:
                continue
            ids = value_ids(span.attrs, space.span_attrs, unseen)
            if any(i != IGNORE for i in ids):
                spans.append((token_span[0], token_span[1], ids))
        feature.attr_spans = spans or None
    if space.label_attrs and ex.label_attrs:
        labels = {}
        for label in ex.labels:
            if label in label_index and ex.label_attrs.get(label):
                ids = value_ids(ex.label_attrs[label], space.label_attrs, unseen)
                if any(i != IGNORE for i in ids):
                    labels[label_index[label]] = ids
        feature.label_attr_ids = labels or None


def featurize_texts(texts: Sequence[str], tokenizer, max_length: int, *, truncation: bool = True) -> list[Features]:
    """Tokenize raw texts for prediction in one batched call of the fast tokenizer.

    With ``truncation=False`` every text is tokenized whole (``max_length`` is not applied),
    for :mod:`mrekit.encoder.windows` to split into windows.

    Example:
        >>> feats = featurize_texts(["play muse"], tok, 128)  # doctest: +SKIP
        >>> feats[0].offsets  # doctest: +SKIP
        [(0, 0), (0, 4), (5, 9), (0, 0)]
    """
    if not texts:
        return []
    limit = {"truncation": True, "max_length": max_length} if truncation else {"truncation": False, "verbose": False}
    enc = tokenizer(list(texts), return_offsets_mapping=True, return_special_tokens_mask=True, **limit)
    out = []
    for i, ids in enumerate(enc["input_ids"]):
        real = [not special for special in enc["special_tokens_mask"][i]]
        truncated = bool(enc.encodings[i].overflowing)
        offsets = tokens_in_text([tuple(o) for o in enc["offset_mapping"][i]], enc.encodings[i].tokens, texts[i])
        out.append(Features(ids, offsets, real, None, None, truncated))
    return out


def collate(items: Sequence[Features], space: LabelSpace, pad_id: int) -> dict[str, torch.Tensor]:
    """Pad a batch into the named tensors the model reads.

    Returns ``input_ids``, ``attention_mask``, ``real_mask`` and, when any item
    is annotated, ``tag_ids`` (``-100`` where ignored) and ``label_ids`` (a class
    index, or a multi-hot row for multi-label, with ``label_mask`` marking
    examples whose text level is annotated).
    """
    width = max(len(f.input_ids) for f in items)
    n = len(items)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    attention = torch.zeros((n, width), dtype=torch.long)
    real = torch.zeros((n, width), dtype=torch.bool)
    tags = torch.full((n, width), IGNORE, dtype=torch.long)
    label_mask = torch.zeros(n, dtype=torch.bool)
    labels = (
        torch.zeros((n, len(space.text_labels)), dtype=torch.float) if space.multi_label else torch.full((n,), IGNORE)
    )
    for row, f in enumerate(items):
        length = len(f.input_ids)
        input_ids[row, :length] = torch.tensor(f.input_ids)
        attention[row, :length] = 1
        real[row, :length] = torch.tensor(f.real)
        if f.tag_ids is not None:
            tags[row, :length] = torch.tensor(f.tag_ids)
        if f.label_ids:
            label_mask[row] = True
            if space.multi_label:
                labels[row, f.label_ids] = 1.0
            else:
                labels[row] = f.label_ids[0]
    batch = {
        "input_ids": input_ids,
        "attention_mask": attention,
        "real_mask": real,
        "tag_ids": tags,
        "label_ids": labels,
        "label_mask": label_mask,
    }
    batch.update(_attribute_tensors(items, space, width))
    for kind, prefix in (("relations", "rel"), ("arguments", "arg")):
        if any(f.pair_targets and f.pair_targets.get(kind) for f in items):
            tensors = pair_tensors(
                [f.pair_spans or [] for f in items], [(f.pair_targets or {}).get(kind, []) for f in items], real
            )
            batch.update({f"{prefix}_{k}": v for k, v in tensors.items()})
    if any(f.pair_spans for f in items):
        most = max(len(f.pair_spans or []) for f in items)
        spans = torch.full((len(items), most, 3), -1, dtype=torch.long)
        for row, f in enumerate(items):
            if f.pair_spans:
                spans[row, : len(f.pair_spans)] = torch.tensor(f.pair_spans)
        batch["pair_spans"] = spans
    return batch


def _attribute_tensors(items: Sequence[Features], space: LabelSpace, width: int) -> dict[str, torch.Tensor]:
    """``attr_span_weights`` (B, S, T), ``attr_span_ids`` (B, S, A), ``label_attr_ids`` (B, L, A')."""
    out: dict[str, torch.Tensor] = {}
    n = len(items)
    most = max((len(f.attr_spans or []) for f in items), default=0)
    if space.span_attrs and most:
        weights = torch.zeros((n, most, width))
        ids = torch.full((n, most, len(space.span_attrs)), IGNORE, dtype=torch.long)
        for row, f in enumerate(items):
            for k, (first, last, values) in enumerate(f.attr_spans or []):
                weights[row, k, first:last] = torch.tensor(f.real[first:last], dtype=torch.float)
                ids[row, k] = torch.tensor(values)
        out["attr_span_weights"], out["attr_span_ids"] = weights, ids
    if space.label_attrs and any(f.label_attr_ids for f in items):
        ids = torch.full((n, max(1, len(space.text_labels)), len(space.label_attrs)), IGNORE, dtype=torch.long)
        for row, f in enumerate(items):
            for label, values in (f.label_attr_ids or {}).items():
                ids[row, label] = torch.tensor(values)
        out["label_attr_ids"] = ids
    return out


def iterate(features: Sequence[Features], batches: list[list[int]]) -> Iterator[tuple[list[int], list[Features]]]:
    """Yield ``(indices, features)`` per batch."""
    for batch in batches:
        yield batch, [features[i] for i in batch]


def span_consistency(examples: Sequence[Example]) -> dict[str, list[str]]:
    """Text label -> the span labels seen with it in training (texts annotating both levels)."""
    seen: dict[str, set[str]] = {}
    for ex in examples:
        if ex.labels and ex.spans is not None:
            for label in ex.labels:
                seen.setdefault(label, set()).update(s.label for s in ex.spans)
    return {label: sorted(spans) for label, spans in seen.items()}


def structure_consistency(examples: Sequence[Example]) -> dict[str, list[str]]:
    """Text label -> relation labels and event types seen with it in training.

    Every labelled text counts, so a label that never had a relation (ADE's ``none``) maps to
    ``[]``: a relation predicted in such a text is reported. Empty when the data has no
    relations or events.
    """
    if not any(ex.relations or ex.events for ex in examples):
        return {}
    seen: dict[str, set[str]] = {}
    for ex in examples:
        for label in ex.labels:
            seen.setdefault(label, set()).update([r.label for r in ex.relations] + [e.type for e in ex.events])
    return {label: sorted(kinds) for label, kinds in sorted(seen.items())}
