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

Modules exchange a dict of named tensors (``input_ids``, ``attention_mask``,
``real_mask``, ``tag_ids``, ``label_ids``, ``label_mask`` in; ``text_logits``,
``tag_logits``, ``loss`` ... out).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mrekit.encoder.features import IGNORE
from mrekit.encoder.heads import CRF, TagHead, TextHead, masked_mean
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
        if config.mode == "mre":
            self.first_tags = TagHead(hidden, n_tags, dropout=config.dropout)
            self.tag_bag = nn.Linear(n_tags, hidden)
            self.text_head = TextHead(4 * hidden, n_labels, config.dropout)
            self.label_embedding = nn.Linear(n_labels, hidden, bias=False)
            self.tag_head = TagHead(hidden, n_tags, extra=hidden, dropout=config.dropout)
        else:
            self.text_head = TextHead(2 * hidden, n_labels, config.dropout)
            self.tag_head = TagHead(hidden, n_tags, dropout=config.dropout)
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
        if "tag_ids" in batch:
            out.update(self._losses(out, batch))
        return out

    def _mre(self, states: torch.Tensor, base: torch.Tensor, real: torch.Tensor) -> dict[str, torch.Tensor]:
        first = self.first_tags(states)
        probs = first.softmax(dim=-1) * real.unsqueeze(-1)
        marked = masked_mean(states, probs[..., 1:].sum(dim=-1))
        bag = self.tag_bag(probs.sum(dim=1) / real.sum(dim=1, keepdim=True).clamp(min=1))
        text_logits = self.text_head(torch.cat([base, marked, bag], dim=-1))
        text_probs = text_logits.sigmoid() if self.config.multi_label else text_logits.softmax(dim=-1)
        tag_logits = self.tag_head(states, self.label_embedding(text_probs))
        return {"text_logits": text_logits, "tag_logits": tag_logits, "first_tag_logits": first}

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
        return {"loss": text_loss + word_loss, "text_loss": text_loss.detach(), "word_loss": word_loss.detach()}

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

    def scores(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Text-label probabilities and per-token tag scores (what a backend returns).

        Tag scores are log-probabilities, or a CRF's emissions when one is trained;
        :func:`mrekit.tags.viterbi` turns them into paths.
        """
        out = self.forward({k: batch[k] for k in ("input_ids", "attention_mask", "real_mask")})
        text_logits = out["text_logits"]
        text_probs = text_logits.sigmoid() if self.config.multi_label else text_logits.softmax(dim=-1)
        tags = out["tag_logits"]
        return text_probs, tags if self.crf is not None else tags.log_softmax(dim=-1)
