"""Relations and event arguments: one pairwise classifier over spans, used twice.

GIELLM's relation extraction and event extraction both reduce, at the word level, to
labelling ordered pairs of spans:

* a **relation** ``(head span, tail span, label)`` over every ordered pair of spans;
* an **event argument** ``(trigger span, argument span, role)`` from each trigger span
  (a span whose type is a trigger type in training, e.g. PHEE's ``Trigger``) to every
  other non-trigger span; the event's *type* is learned as the trigger span's
  ``event_type`` attribute (:mod:`mrekit.encoder.attributes`), so in the ``mre`` mode the
  text label (PHEE's event type) informs it.

The pair classifier reads the mean-pooled token states of both spans, the mean of the
tokens between them (the local context, as in SpERT), an embedding of each span's type
and the text-level context (the text representation, or in ``mre`` the embedded
predicted text-label distribution), and scores ``none`` plus every label with a softmax.
It is trained on all ordered pairs of the gold spans (``none`` for unrelated pairs) and
on pairs with the spans the tagger currently gets wrong (``none``: see
:func:`predicted_span_negatives`), and runs after the encoder, on the token states that
every backend returns (the ONNX graph outputs them), so it decodes the spans that were
actually predicted. Written here
because no library pairs character-offset spans decoded by our tagger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from mrekit.encoder.attributes import IGNORE
from mrekit.schema import Example, Span
from mrekit.tags import TagTable, extract_spans

#: The span attribute that carries a trigger's event type while training and decoding.
EVENT_TYPE = "event_type"
#: At most this many candidate pairs per text and kind (the rest are not trained on).
MAX_PAIRS = 400


@dataclass
class PairSpace:
    """What the pair classifiers predict, and the type constraints seen in training.

    Args:
        relation_labels: Relation labels (sorted).
        role_labels: Event argument roles (sorted).
        trigger_labels: Span labels that are event triggers.
        relation_types: Relation -> ``[head span label, tail span label]`` pairs seen with it.
        role_types: Role -> ``[trigger span label, argument span label]`` pairs seen with it.

    Example:
        >>> from mrekit.schema import Relation
        >>> ex = Example("Ann works at Acme", spans=[Span(0, 3, "Peop"), Span(13, 17, "Org")],
        ...              relations=[Relation(0, 1, "Work_For")])
        >>> PairSpace.from_examples([ex]).relation_types
        {'Work_For': [['Peop', 'Org']]}
    """

    relation_labels: list[str] = field(default_factory=list)
    role_labels: list[str] = field(default_factory=list)
    trigger_labels: list[str] = field(default_factory=list)
    relation_types: dict[str, list[list[str]]] = field(default_factory=dict)
    role_types: dict[str, list[list[str]]] = field(default_factory=dict)

    @classmethod
    def from_examples(cls, examples: Sequence[Example]) -> PairSpace:
        """Collect relation labels, roles, trigger span types and the type pairs seen with each."""
        relations: dict[str, set[tuple[str, str]]] = {}
        roles: dict[str, set[tuple[str, str]]] = {}
        triggers: set[str] = set()
        for ex in examples:
            spans = ex.spans or []
            for rel in ex.relations:
                if _valid(spans, rel.head, rel.tail):
                    relations.setdefault(rel.label, set()).add((spans[rel.head].label, spans[rel.tail].label))
            for event in ex.events:
                if not _valid(spans, event.trigger):
                    continue
                triggers.add(spans[event.trigger].label)
                for role, index in event.args:
                    if _valid(spans, index):
                        roles.setdefault(role, set()).add((spans[event.trigger].label, spans[index].label))
        return cls(
            sorted(relations),
            sorted(roles),
            sorted(triggers),
            {k: sorted(map(list, v)) for k, v in sorted(relations.items())},
            {k: sorted(map(list, v)) for k, v in sorted(roles.items())},
        )


def _valid(spans: Sequence[Span], *indices: int) -> bool:
    return all(0 <= i < len(spans) for i in indices)


def with_event_types(examples: Sequence[Example]) -> list[Example]:
    """Copies whose trigger spans carry their event's type as the ``event_type`` attribute.

    Example:
        >>> from mrekit.schema import Event
        >>> ex = Example("took aspirin", spans=[Span(0, 4, "Trigger")], events=[Event(0, "Adverse_event")])
        >>> with_event_types([ex])[0].spans[0].attrs
        {'event_type': 'Adverse_event'}
    """
    out = []
    for ex in examples:
        if not ex.events or not ex.spans:
            out.append(ex)
            continue
        types = {e.trigger: e.type for e in ex.events if _valid(ex.spans, e.trigger)}
        spans = [
            Span(s.start, s.end, s.label, attrs={**s.attrs, EVENT_TYPE: types[i]}, surface=s.surface)
            if i in types
            else s
            for i, s in enumerate(ex.spans)
        ]
        out.append(
            Example(
                ex.text,
                id=ex.id,
                labels=list(ex.labels),
                label_attrs=dict(ex.label_attrs),
                spans=spans,
                relations=list(ex.relations),
                events=list(ex.events),
                meta=dict(ex.meta),
            )
        )
    return out


def candidate_pairs(labels: Sequence[str], kind: str, triggers: set[str]) -> list[tuple[int, int]]:
    """Ordered span-index pairs to classify: every pair (relations) or trigger -> non-trigger (arguments)."""
    n = len(labels)
    if kind == "relations":
        pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    else:
        pairs = [(i, j) for i in range(n) if labels[i] in triggers for j in range(n) if labels[j] not in triggers]
    return pairs[:MAX_PAIRS]


def pair_targets(
    ex: Example, token_spans: Sequence, space: PairSpace, span_index: dict[str, int]
) -> tuple[list[tuple[int, int, int]], dict[str, list[tuple[int, int, int]]]]:
    """Aligned gold spans ``(first, last, type index)`` and, per kind, ``(head, tail, label index)`` targets.

    Label index 0 is ``none``; pairs whose spans did not align are left out.
    """
    spans = ex.spans or []
    aligned = [i for i, t in enumerate(token_spans[: len(spans)]) if t is not None and spans[i].label in span_index]
    position = {original: k for k, original in enumerate(aligned)}
    tokens = [(token_spans[i][0], token_spans[i][1], span_index[spans[i].label]) for i in aligned]
    labels = [spans[i].label for i in aligned]
    gold = {
        "relations": {(r.head, r.tail): r.label for r in ex.relations},
        "arguments": {(e.trigger, i): role for e in ex.events for role, i in e.args},
    }
    names = {"relations": space.relation_labels, "arguments": space.role_labels}
    out: dict[str, list[tuple[int, int, int]]] = {}
    for kind in ("relations", "arguments"):
        if not names[kind]:
            continue
        index = {label: k + 1 for k, label in enumerate(names[kind])}
        targets = []
        for a, b in candidate_pairs(labels, kind, set(space.trigger_labels)):
            label = gold[kind].get((aligned[a], aligned[b]))
            targets.append((a, b, index.get(label, 0) if label is not None else 0))
        # Gold pairs beyond MAX_PAIRS still train.
        seen = {(a, b) for a, b, _ in targets}
        for (h, t), label in gold[kind].items():
            if h in position and t in position and (position[h], position[t]) not in seen and label in index:
                targets.append((position[h], position[t], index[label]))
        out[kind] = targets
    return tokens, out


def pair_tensors(
    span_tokens: Sequence[Sequence[tuple[int, int, int]]],
    pairs: Sequence[Sequence[tuple[int, int, int]]],
    real: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Pair tensors: ``head``, ``tail``, ``between`` weights (B, P, T), ``types`` (B, P, 2), ``labels`` (B, P)."""
    batch, width = real.shape
    most = max((len(p) for p in pairs), default=0)
    head = torch.zeros((batch, max(most, 1), width))
    tail, between = torch.zeros_like(head), torch.zeros_like(head)
    types = torch.zeros((batch, max(most, 1), 2), dtype=torch.long)
    labels = torch.full((batch, max(most, 1)), IGNORE, dtype=torch.long)
    for row, (tokens, row_pairs) in enumerate(zip(span_tokens, pairs, strict=True)):
        for k, (a, b, label) in enumerate(row_pairs):
            (fa, la, ta), (fb, lb, tb) = tokens[a], tokens[b]
            head[row, k, fa:la] = 1.0
            tail[row, k, fb:lb] = 1.0
            lo, hi = (la, fb) if la <= fb else (lb, fa)
            if hi > lo:
                between[row, k, lo:hi] = 1.0
            types[row, k] = torch.tensor([ta, tb])
            labels[row, k] = label
    mask = real.unsqueeze(1).float()
    return {"head": head * mask, "tail": tail * mask, "between": between * mask, "types": types, "labels": labels}


class PairHead(nn.Module):
    """Scores ``none`` + labels for ordered span pairs from pooled token states, types and text context."""

    def __init__(self, hidden: int, n_span_types: int, n_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.types = nn.Embedding(max(1, n_span_types), 32)
        self.mlp = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(5 * hidden + 64, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_labels + 1),
        )

    def forward(self, states: torch.Tensor, context: torch.Tensor, pairs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits ``(B, P, 1 + labels)`` for the pairs described by :func:`pair_tensors`."""
        head, tail, between = (_pool(pairs[k], states) for k in ("head", "tail", "between"))
        ctx = context.unsqueeze(1).expand(-1, head.size(1), -1)
        kinds = self.types(pairs["types"]).flatten(2)
        return self.mlp(torch.cat([head, tail, head * tail, between, ctx, kinds], dim=-1))


def _pool(weights: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    counts = weights.sum(dim=-1, keepdim=True).clamp(min=1.0)
    return torch.einsum("bpt,bth->bph", weights / counts, states)


def allowed_labels(labels: list[str], seen: dict[str, list[list[str]]], first: str, second: str) -> np.ndarray:
    """Which of ``none`` + ``labels`` were seen with this pair of types (``none`` always)."""
    ok = [True] + [[first, second] in seen.get(label, []) for label in labels]
    return np.array(ok)


@dataclass
class PairPrediction:
    """One labelled pair of one text: span indices, label, probability, and whether its types were seen."""

    row: int
    first: int
    second: int
    label: str
    score: float
    consistent: bool


def predict_pairs(
    model: nn.Module,
    arrays: dict[str, np.ndarray],
    span_tokens: Sequence[Sequence[tuple[int, int, int]]],
    real: np.ndarray,
    kind: str,
    *,
    enforce: bool = False,
) -> list[PairPrediction]:
    """Label the candidate pairs of each text's predicted spans (``relations`` or ``arguments``).

    Args:
        model: The :class:`~mrekit.encoder.joint.JointModel` (its pair heads run here, after any backend).
        arrays: The backend's outputs, with ``token_states`` and ``pair_context``.
        span_tokens: Per text, its spans as ``(first token, last token exclusive, type index)``.
        real: ``(B, T)`` real-token mask.
        kind: ``relations`` or ``arguments``.
        enforce: Forbid labels never seen with the pair's types in training.
    """
    config = model.config
    labels = config.relation_labels if kind == "relations" else config.role_labels
    seen = config.relation_types if kind == "relations" else config.role_types
    triggers = set(config.trigger_labels)
    names = [[config.span_labels[t] for _, _, t in row] for row in span_tokens]
    candidates = [[(a, b, 0) for a, b in candidate_pairs(row, kind, triggers)] for row in names]
    if not labels or not any(candidates):
        return []
    tensors = pair_tensors(span_tokens, candidates, torch.from_numpy(real.astype(bool)))
    device = next(model.parameters()).device
    states = torch.from_numpy(np.ascontiguousarray(arrays["token_states"])).float().to(device)
    context = torch.from_numpy(np.ascontiguousarray(arrays["pair_context"])).float().to(device)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        pairs = {k: v.to(device) for k, v in tensors.items() if k != "labels"}
        probs = model.pair_logits(kind, {"token_states": states, "pair_context": context}, pairs).softmax(-1)
    if was_training:
        model.train()
    probs = probs.cpu().numpy()
    out = []
    for row, row_pairs in enumerate(candidates):
        for k, (a, b, _) in enumerate(row_pairs):
            ok = allowed_labels(labels, seen, names[row][a], names[row][b])
            scores = np.where(ok, probs[row, k], 0.0) if enforce else probs[row, k]
            best = int(scores.argmax())
            if best == 0:
                continue
            out.append(
                PairPrediction(row, a, b, labels[best - 1], round(float(probs[row, k, best]), 4), bool(ok[best]))
            )
    return out


#: At most this many extra ``none`` pairs per text from the model's own wrong spans.
MAX_PREDICTED_PAIRS = 40


def predicted_span_negatives(
    tag_logits: torch.Tensor,
    real: torch.Tensor,
    gold: torch.Tensor,
    tags: list[str],
    span_labels: list[str],
    kind: str,
    triggers: set[str],
) -> tuple[list[list[tuple[int, int, int]]], list[list[tuple[int, int, int]]]]:
    """``none`` pairs that involve the spans the tagger currently predicts wrongly.

    At prediction time the pair heads see the tagger's spans, not the gold ones; training on
    the model's own wrong spans (as ``none``) teaches them to reject a pair whose span has
    the wrong boundaries or type.

    Args:
        tag_logits: ``(B, T, tags)`` scores of the final tag head.
        real: ``(B, T)`` real-token mask.
        gold: ``(B, S, 3)`` gold spans ``(first, last exclusive, type index)``, ``-1`` padded.
        tags: The BIO tags; span_labels: the span types (type index order).
        kind: ``relations`` or ``arguments``; triggers: trigger span labels.

    Returns:
        Per text, its spans (gold first, then the wrong predicted ones) and ``(a, b, 0)`` pairs.
    """
    table = TagTable.from_tags(tags)
    paths = tag_logits.detach().argmax(-1).cpu().numpy()
    mask = real.detach().cpu().numpy().astype(bool)
    rows, first, last = extract_spans(paths, mask, table)
    kinds = table.kind[paths[rows, first]]
    index = {label: i for i, label in enumerate(span_labels)}
    type_of = [index.get(tag[2:], 0) for tag in tags]
    gold_rows = gold.cpu().numpy()
    spans_out: list[list[tuple[int, int, int]]] = []
    pairs_out: list[list[tuple[int, int, int]]] = []
    for row in range(paths.shape[0]):
        spans = [tuple(int(v) for v in s) for s in gold_rows[row] if s[0] >= 0]
        known = set(spans)
        extra = []
        for r, f, la, k in zip(rows, first, last, kinds, strict=True):
            span = (int(f), int(la) + 1, type_of[int(k)])
            if r == row and span not in known:
                extra.append(span)
        spans = spans + extra
        labels = [span_labels[t] for _, _, t in spans]
        wrong = set(range(len(spans) - len(extra), len(spans)))
        pairs = [(a, b, 0) for a, b in candidate_pairs(labels, kind, triggers) if a in wrong or b in wrong]
        spans_out.append(spans)
        pairs_out.append(pairs[:MAX_PREDICTED_PAIRS])
    return spans_out, pairs_out
