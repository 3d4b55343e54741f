"""The joint MRE model: one text, its text label(s) and its BIO-tagged spans.

Three modes, one switch, so the Mutual Reinforcement Effect can be measured:

* ``isolated``: a separate encoder per level (two models trained side by side);
* ``shared``: one encoder, a text head on ``[CLS; mean]`` and a tag head, summed losses;
* ``mre``: one encoder with interaction in both directions, after
  Stack-Propagation and the MRE papers:

  - word -> text: a first tag head marks likely span tokens; the text head reads
    ``[CLS; mean; mean of the marked tokens; bag of predicted tag types]``;
  - text -> word: the final tag head reads each token with the predicted
    text-label distribution embedded (a soft label embedding), so a slot type
    that fits the intent is easier to choose.

Attributes (:mod:`mrekit.encoder.attributes`), when the training data has them, add a
per-token span-attribute head over ``[token; context]`` (context: the text
representation, or in ``mre`` the predicted text-label embedding, so the text level
informs word polarity) and a label-attribute head over the text head's input; in
``mre`` the text head also reads a bag of first-pass attribute probabilities of the
marked tokens (word polarity informs the text level).

Modules exchange a dict of named tensors (``input_ids``, ``attention_mask``,
``real_mask``, ``tag_ids``, ``label_ids``, ``label_mask``, ``attr_span_weights``,
``attr_span_ids``, ``label_attr_ids`` in; ``text_logits``, ``tag_logits``,
``span_attr_logits``, ``label_attr_logits``, ``loss`` ... out).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mrekit.encoder.attributes import group_softmax, grouped_loss, pool_spans
from mrekit.encoder.features import IGNORE
from mrekit.encoder.heads import CRF, TagHead, TextHead, masked_mean
from mrekit.encoder.pairs import PairHead, pair_tensors, predicted_span_negatives
from mrekit.errors import MrekitError
from mrekit.tags import bio_tags, bio_transitions

MODES = ("isolated", "shared", "mre")
LEVELS = ("text", "word")


@dataclass
class JointConfig:
    """Everything that defines a joint model's shape and decoding.

    Args:
        text_labels: The text-level labels.
        span_labels: The span types (tags are ``O`` plus ``B-``/``I-`` per type).
        mode: ``isolated``, ``shared`` or ``mre``.
        multi_label: Sigmoid with per-label thresholds instead of softmax.
        use_crf: Train a CRF over the tags instead of per-token softmax.
        levels: Which levels the model learns (both by default).
        dropout: Dropout before each head.
        max_length: Subword tokens per text; longer texts are truncated with a warning.
        thresholds: Per-label decision thresholds for multi-label (tuned on dev).
        consistency: Span labels seen with each text label in training.
        first_tag_weight: Loss weight of the ``mre`` mode's first (word -> text) tag head.
        temperature: Temperature of the softmax text probabilities (``mrekit calibrate``; 1 = none).
        freeze_embeddings: The encoder's word embeddings were not trained (recorded for the model card).
        split_cjk: How unsegmented scripts were pre-split before the subword model: ``none``,
            ``runs`` or ``chars`` (recorded; the saved tokenizer does it).
        span_attrs: Span attribute name -> values (e.g. polarity); empty: no attribute head.
        label_attrs: Text-label attribute name -> values.
        attr_consistency: Span label -> attribute -> values seen with it in training.
        attr_weight: Loss weight of the attribute heads.
        relation_labels: Relation labels (empty: no relation head).
        role_labels: Event argument roles (empty: no argument head).
        trigger_labels: Span labels that are event triggers.
        relation_types: Relation -> ``[head label, tail label]`` pairs seen in training.
        role_types: Role -> ``[trigger label, argument label]`` pairs seen in training.
        pair_weight: Loss weight of the relation and argument heads.
        structure_consistency: Text label -> the relation labels and event types seen with it.
        conditioned: Probability of a conditioned training copy per example and direction
            (recorded; see :mod:`mrekit.encoder.conditioned`).
        condition_content: What the conditioned copies carried: ``gold``, ``shuffled`` or ``neutral``.
        cascade: Predict twice, the second time conditioned on the first (see
            :func:`mrekit.conditioning.cascade_predict`).
    """

    text_labels: list[str]
    span_labels: list[str]
    mode: str = "mre"
    multi_label: bool = False
    use_crf: bool = False
    levels: list[str] = field(default_factory=lambda: list(LEVELS))
    dropout: float = 0.1
    max_length: int = 128
    thresholds: list[float] | None = None
    consistency: dict[str, list[str]] | None = None
    first_tag_weight: float = 0.5
    temperature: float = 1.0
    freeze_embeddings: bool = False
    split_cjk: str = "none"
    span_attrs: dict[str, list[str]] = field(default_factory=dict)
    label_attrs: dict[str, list[str]] = field(default_factory=dict)
    attr_consistency: dict[str, dict[str, list[str]]] | None = None
    attr_weight: float = 1.0
    relation_labels: list[str] = field(default_factory=list)
    role_labels: list[str] = field(default_factory=list)
    trigger_labels: list[str] = field(default_factory=list)
    relation_types: dict[str, list[list[str]]] = field(default_factory=dict)
    role_types: dict[str, list[list[str]]] = field(default_factory=dict)
    pair_weight: float = 1.0
    structure_consistency: dict[str, list[str]] | None = None
    conditioned: float = 0.0
    condition_content: str = "gold"
    cascade: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.split_cjk, bool):  # folders written while the setting was on/off
            self.split_cjk = "chars" if self.split_cjk else "none"
        if self.mode not in MODES:
            raise MrekitError("E183", f"mode must be one of {', '.join(MODES)}, not {self.mode!r}", field="mode")
        if not self.levels or any(level not in LEVELS for level in self.levels):
            raise MrekitError("E183", f"levels must be a non-empty subset of {LEVELS}", field="levels")
        if self.mode == "mre" and len(self.levels) < 2:
            raise MrekitError("E183", "the mre mode needs both levels", field="levels")

    @property
    def tags(self) -> list[str]:
        """``O`` then ``B-``/``I-`` per span label."""
        return bio_tags(self.span_labels)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        return asdict(self)

    @property
    def span_attr_width(self) -> int:
        """Logits per token of the span-attribute head (0: none)."""
        return sum(len(v) for v in self.span_attrs.values()) if "word" in self.levels else 0

    @property
    def label_attr_width(self) -> int:
        """Logits per text label of the label-attribute head (0: none)."""
        has_text = "text" in self.levels and bool(self.text_labels)
        return sum(len(v) for v in self.label_attrs.values()) if has_text else 0

    @property
    def outputs(self) -> tuple[str, ...]:
        """The score arrays a backend returns, in order (attribute logits only when learned)."""
        names = ["text_probs", "tag_scores"]
        if self.span_attr_width:
            names.append("span_attr_logits")
        if self.label_attr_width:
            names.append("label_attr_logits")
        if self.has_pairs:
            names += ["token_states", "pair_context"]
        return tuple(names)

    @property
    def has_pairs(self) -> bool:
        """Whether the model has a relation or an event-argument head."""
        return "word" in self.levels and bool(self.relation_labels or self.role_labels)


class JointModel(nn.Module):
    """Encoder(s) plus text and word heads, wired by ``config.mode``."""

    def __init__(self, config: JointConfig, encoder: nn.Module) -> None:
        super().__init__()
        self.config = config
        hidden = encoder.config.hidden_size
        n_tags, n_labels = len(config.tags), max(1, len(config.text_labels))
        self.encoder = encoder
        self.word_encoder = copy.deepcopy(encoder) if self._two_encoders else None
        self.has_text = "text" in config.levels and bool(config.text_labels)
        self.has_word = "word" in config.levels
        n_attr, n_label_attr = config.span_attr_width, config.label_attr_width
        if config.mode == "mre":
            self.first_tags = TagHead(hidden, n_tags, dropout=config.dropout)
            self.tag_bag = nn.Linear(n_tags, hidden)
            text_in = (5 if n_attr else 4) * hidden
            self.text_head = TextHead(text_in, n_labels, config.dropout)
            self.label_embedding = nn.Linear(n_labels, hidden, bias=False)
            self.tag_head = TagHead(hidden, n_tags, extra=hidden, dropout=config.dropout)
            if n_attr:
                self.first_attrs = TagHead(hidden, n_attr, dropout=config.dropout)
                self.attr_bag = nn.Linear(n_attr, hidden)
        else:
            text_in = 2 * hidden
            self.text_head = TextHead(text_in, n_labels, config.dropout)
            self.tag_head = TagHead(hidden, n_tags, dropout=config.dropout)
        # Attribute heads: the span one reads [token; context], the label one the text head's input.
        self.span_attr_head = TagHead(hidden, n_attr, extra=hidden, dropout=config.dropout) if n_attr else None
        self.label_attr_head = TextHead(text_in, n_labels * n_label_attr, config.dropout) if n_label_attr else None
        n_types = len(config.span_labels)
        pairs = config.has_pairs
        self.relation_head = (
            PairHead(hidden, n_types, len(config.relation_labels), config.dropout)
            if pairs and config.relation_labels
            else None
        )
        self.argument_head = (
            PairHead(hidden, n_types, len(config.role_labels), config.dropout) if pairs and config.role_labels else None
        )
        self.crf = CRF(config.tags) if config.use_crf else None
        trans, start = (torch.from_numpy(a) for a in bio_transitions(config.tags))
        self.register_buffer("bio_trans", trans, persistent=False)
        self.register_buffer("bio_start", start, persistent=False)

    @property
    def _two_encoders(self) -> bool:
        return self.config.mode == "isolated" and set(self.config.levels) == set(LEVELS)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Scores for both levels and, when targets are in ``batch``, the loss."""
        mask = batch["attention_mask"]
        states = self.encoder(input_ids=batch["input_ids"], attention_mask=mask).last_hidden_state
        word_states = states
        if self.word_encoder is not None:
            word_states = self.word_encoder(input_ids=batch["input_ids"], attention_mask=mask).last_hidden_state
        base = torch.cat([states[:, 0], masked_mean(states, mask.float())], dim=-1)
        out: dict[str, torch.Tensor] = {}
        if self.config.mode == "mre":
            out.update(self._mre(states, base, batch["real_mask"]))
        else:
            out["text_logits"] = self.text_head(base)
            out["tag_logits"] = self.tag_head(word_states)
            if self.span_attr_head is not None:
                out["span_attr_logits"] = self.span_attr_head(word_states, word_states[:, 0])
            if self.label_attr_head is not None:
                out["label_attr_logits"] = self._label_attrs(base)
            if self.config.has_pairs:
                out["token_states"], out["pair_context"] = word_states, word_states[:, 0]
        if "tag_ids" in batch:
            out.update(self._losses(out, batch))
        return out

    def _mre(self, states: torch.Tensor, base: torch.Tensor, real: torch.Tensor) -> dict[str, torch.Tensor]:
        first = self.first_tags(states)
        probs = first.softmax(dim=-1) * real.unsqueeze(-1)
        span_weight = probs[..., 1:].sum(dim=-1)
        marked = masked_mean(states, span_weight)
        bag = self.tag_bag(probs.sum(dim=1) / real.sum(dim=1, keepdim=True).clamp(min=1))
        parts = [base, marked, bag]
        out: dict[str, torch.Tensor] = {"first_tag_logits": first}
        if self.span_attr_head is not None:
            # word -> text: the attribute values of the tokens the first tag head marks.
            first_attrs = self.first_attrs(states)
            attr_probs = group_softmax(first_attrs, self.config.span_attrs)
            parts.append(self.attr_bag(masked_mean(attr_probs, span_weight)))
            out["first_attr_logits"] = first_attrs
        text_in = torch.cat(parts, dim=-1)
        text_logits = self.text_head(text_in)
        text_probs = text_logits.sigmoid() if self.config.multi_label else text_logits.softmax(dim=-1)
        label_context = self.label_embedding(text_probs)
        out["text_logits"] = text_logits
        out["tag_logits"] = self.tag_head(states, label_context)
        if self.span_attr_head is not None:  # text -> word: polarity given the predicted text label
            out["span_attr_logits"] = self.span_attr_head(states, label_context)
        if self.label_attr_head is not None:
            out["label_attr_logits"] = self._label_attrs(text_in)
        if self.config.has_pairs:  # text -> relations and arguments: the predicted text label
            out["token_states"], out["pair_context"] = states, label_context
        return out

    def pair_logits(self, kind: str, out: dict[str, torch.Tensor], pairs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits of ``none`` + labels for ``kind`` (``relations`` or ``arguments``) over the given pairs."""
        head = self.relation_head if kind == "relations" else self.argument_head
        return head(out["token_states"], out["pair_context"], pairs)

    def _label_attrs(self, text_in: torch.Tensor) -> torch.Tensor:
        logits = self.label_attr_head(text_in)
        return logits.view(logits.size(0), -1, self.config.label_attr_width)

    def _losses(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        zero = out["tag_logits"].sum() * 0.0
        text_loss = self._text_loss(out["text_logits"], batch) if self.has_text else zero
        word_loss = zero
        if self.has_word:
            word_loss = self._tag_loss(out["tag_logits"], batch, crf=self.crf is not None)
            if "first_tag_logits" in out:
                word_loss = word_loss + self.config.first_tag_weight * self._tag_loss(
                    out["first_tag_logits"], batch, crf=False
                )
        attr_loss = self._attr_losses(out, batch) if "attr_span_ids" in batch or "label_attr_ids" in batch else zero
        pair_loss = self._pair_losses(out, batch)
        return {
            "loss": text_loss + word_loss + self.config.attr_weight * attr_loss + self.config.pair_weight * pair_loss,
            "text_loss": text_loss.detach(),
            "word_loss": word_loss.detach(),
            "attr_loss": attr_loss.detach(),
            "pair_loss": pair_loss.detach(),
        }

    def _pair_losses(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Cross-entropy over the gold spans' candidate pairs (``none`` for unrelated ones)."""
        loss = out["tag_logits"].sum() * 0.0
        for kind, prefix, head in (("relations", "rel", self.relation_head), ("arguments", "arg", self.argument_head)):
            if head is None or f"{prefix}_labels" not in batch:
                continue
            labels = batch[f"{prefix}_labels"]
            if not (labels != IGNORE).any():
                continue
            pairs = {k: batch[f"{prefix}_{k}"] for k in ("head", "tail", "between", "types")}
            logits = self.pair_logits(kind, out, pairs).reshape(-1, head.mlp[-1].out_features)
            labels = labels.reshape(-1)
            if self.training and "pair_spans" in batch:  # the model's own wrong spans, as "none"
                spans, wrong = predicted_span_negatives(
                    out["tag_logits"],
                    batch["real_mask"],
                    batch["pair_spans"],
                    self.config.tags,
                    self.config.span_labels,
                    kind,
                    set(self.config.trigger_labels),
                )
                if any(wrong):
                    extra = pair_tensors(spans, wrong, batch["real_mask"].cpu())
                    extra = {k: v.to(logits.device) for k, v in extra.items()}
                    more = self.pair_logits(kind, out, extra).reshape(-1, logits.size(-1))
                    logits, labels = torch.cat([logits, more]), torch.cat([labels, extra["labels"].reshape(-1)])
            loss = loss + F.cross_entropy(logits, labels, ignore_index=IGNORE)
        return loss

    def _attr_losses(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Span attributes pooled over gold spans' tokens; label attributes of gold labels."""
        loss = out["tag_logits"].sum() * 0.0
        if "span_attr_logits" in out and "attr_span_ids" in batch:
            weights, targets = batch["attr_span_weights"], batch["attr_span_ids"]
            pooled = pool_spans(out["span_attr_logits"], weights)
            loss = loss + grouped_loss(pooled, targets, self.config.span_attrs)
            if "first_attr_logits" in out:
                first = pool_spans(out["first_attr_logits"], weights)
                loss = loss + self.config.first_tag_weight * grouped_loss(first, targets, self.config.span_attrs)
        if "label_attr_logits" in out and "label_attr_ids" in batch:
            loss = loss + grouped_loss(out["label_attr_logits"], batch["label_attr_ids"], self.config.label_attrs)
        return loss

    def _text_loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        rows = batch["label_mask"]
        if not rows.any():
            return logits.sum() * 0.0
        if self.config.multi_label:
            return F.binary_cross_entropy_with_logits(logits[rows], batch["label_ids"][rows])
        return F.cross_entropy(logits[rows], batch["label_ids"][rows])

    def _tag_loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor], *, crf: bool) -> torch.Tensor:
        tags = batch["tag_ids"]
        if not (tags != IGNORE).any():
            return logits.sum() * 0.0
        if crf:
            return self.crf.nll(logits, tags, batch["real_mask"])
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), tags.reshape(-1), ignore_index=IGNORE)

    def scores(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """What a backend returns, named by ``config.outputs``.

        Text-label probabilities and per-token tag scores (log-probabilities, or a CRF's
        emissions when one is trained; :func:`mrekit.tags.viterbi` turns them into paths),
        then, when learned, per-token span-attribute logits and per-label attribute logits.
        """
        out = self.forward({k: batch[k] for k in ("input_ids", "attention_mask", "real_mask")})
        text_logits = out["text_logits"]
        text_probs = text_logits.sigmoid() if self.config.multi_label else text_logits.softmax(dim=-1)
        tags = out["tag_logits"]
        result = [text_probs, tags if self.crf is not None else tags.log_softmax(dim=-1)]
        extra = ("span_attr_logits", "label_attr_logits", "token_states", "pair_context")
        result += [out[name] for name in extra if name in self.config.outputs]
        return tuple(result)
