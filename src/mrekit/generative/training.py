"""Fine-tuning a generative model: its arguments and its hooks into :class:`mrekit.trainer.Trainer`.

The run folder is the one loop's (``model-best/``, ``checkpoint/``, ``metrics.jsonl``
with the dev predictions' format accuracy and hallucination rate beside the metrics),
and a killed run resumes exactly, as the encoder's does.

Encoder-decoder models learn the target tokens given the input; decoder-only
models read ``prompt + target`` with the loss masked to the target. Dev
predictions use the same decoding as :meth:`GenerativeModel.predict`
(constrained unless told otherwise).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from mrekit.errors import MrekitError
from mrekit.generative.metrics import generation_metrics
from mrekit.generative.modeling import autocast
from mrekit.metrics import evaluate
from mrekit.schema import Example
from mrekit.trainer import JOINT_METRICS, TEXT_METRICS, WORD_METRICS, Rule, TrainingArguments
from mrekit.trainer.arguments import TRAINING_RULES
from mrekit.trainer.checks import data_facts, run_fingerprint, weights_sha256

if TYPE_CHECKING:
    from mrekit.generative.engine import GenerativeModel

logger = logging.getLogger(__name__)

#: What each generative training argument may be (checked on construction, ``E202``).
GENERATIVE_RULES: dict[str, Rule] = {
    **TRAINING_RULES,
    "learning_rate": Rule("float", 0, above=True, optional=True),
    "bf16": Rule("bool", optional=True),
    "lora": Rule("bool"),
    "lora_r": Rule("int", 1),
    "lora_alpha": Rule("int", 1),
    "lora_dropout": Rule("float", 0, 1),
    "max_source_length": Rule("int", 1),
    "max_target_length": Rule("int", 1),
    "num_beams": Rule("int", 1),
    "constrained": Rule("bool"),
    "selection_metric": Rule(
        "choice",
        choices=(
            "auto",
            *TEXT_METRICS,
            *WORD_METRICS,
            *JOINT_METRICS,
            "relation_f1",
            "event_trigger_f1",
            "event_argument_f1",
            "format_accuracy",
        ),
    ),
}


@dataclass
class GenerativeArguments(TrainingArguments):
    """Settings of a generative training run and of its decoding (checked on construction: ``E202``).

    The generative engine's subclass of :class:`~mrekit.trainer.TrainingArguments`: the
    same loop reads the shared fields (``head_learning_rate`` is not used: there are no
    separate heads), and the fields below are the engine's own.

    Args:
        epochs: Passes over the training data.
        batch_size: Examples per optimisation step.
        learning_rate: Peak AdamW learning rate; ``None`` picks 1e-3 for a model trained
            from scratch or LoRA adapters, 1e-4 for full fine-tuning of a pretrained model.
        weight_decay: AdamW weight decay (not on biases and norms).
        warmup_ratio: Share of steps with linear warm-up, then linear decay to 0.
        grad_clip: Gradient norm clip.
        seed: Seed of initialisation, batch order and dropout.
        threads: CPU threads for torch (``None`` keeps torch's default).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        bf16: Compute in bfloat16; ``None`` when the CUDA device supports it (never on CPU).
        lora: Train LoRA adapters (``peft``) instead of every weight.
        lora_r: LoRA rank.
        lora_alpha: LoRA scaling.
        lora_dropout: LoRA dropout.
        max_source_length: Most input tokens (longer texts are cut, with a warning).
        max_target_length: Most output tokens, in training and in generation.
        num_beams: Beam width of dev and test decoding (1: greedy).
        constrained: Decode with the output grammar.
        eval_batch_size: Inputs per generation batch.
        patience: Stop after this many epochs without dev improvement (``None``: never).
        max_steps: Stop after this many optimisation steps in all (smoke runs).
        selection_metric: Dev metric that picks the best epoch; ``auto`` is frame accuracy
            with both levels, else text accuracy, span F1, relation F1 or event argument F1.

    Example:
        >>> GenerativeArguments.from_dict({"epochs": 2, "lora": True}).lora
        True
    """

    # Defaults of the shared fields that differ for this engine:
    epochs: int = 10
    learning_rate: float | None = None
    warmup_ratio: float = 0.05
    # The engine's own fields:
    bf16: bool | None = None
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    max_source_length: int = 128
    max_target_length: int = 128
    num_beams: int = 1
    constrained: bool = True

    rules: ClassVar[Mapping[str, Rule]] = GENERATIVE_RULES
    error_code: ClassVar[str] = "E202"


def selection_metric(args: GenerativeArguments, model: GenerativeModel, dev: Sequence[Example]) -> str:
    """The dev metric used for model selection (see :class:`GenerativeArguments`).

    Example:
        >>> from types import SimpleNamespace
        >>> spec = SimpleNamespace(kind="spans", condition="word", labels=["A"], types=["t"])
        >>> selection_metric(GenerativeArguments(), SimpleNamespace(spec_=spec), [])
        'text_accuracy'
    """
    if args.selection_metric != "auto":
        return args.selection_metric
    spec = model.spec_
    word = {"spans": "span_f1", "relations": "relation_f1", "events": "event_argument_f1"}[spec.kind]
    has_text = bool(spec.labels) and spec.condition != "text"
    has_word = bool(spec.types) and spec.condition != "word"
    if has_text and has_word:
        return "frame_accuracy" if spec.kind == "spans" else word
    return "text_accuracy" if has_text else word


class GenerativeHooks:
    """The generative engine's side of the one training loop (:class:`mrekit.trainer.Trainer`).

    Encoder-decoder models learn the target tokens given the input; decoder-only models
    read ``prompt + target`` with the loss masked to the target. Dev predictions use the
    same decoding as :meth:`GenerativeModel.predict`.
    """

    #: The engine seeded before building its model; seeding again would change the dropout stream.
    seed_at_start = False
    #: No warm-up step when ``warmup_ratio`` × steps is below one (as this engine always trained).
    min_warmup_steps = 0

    def __init__(self, engine: GenerativeModel, args: GenerativeArguments, bf16: bool) -> None:
        self.engine = engine
        self.module = engine.model_
        self.args = args
        self.bf16 = bf16
        self.pairs: list[tuple[list[int], list[int]]] = []
        self.losses: list[float] = []
        self.data: dict[str, Any] = {}

    def check(self, train: Sequence[Example], dev: Sequence[Example] | None) -> None:
        if not train:
            raise MrekitError("E101", "no training examples")

    def prepare(self, train: Sequence[Example], dev: Sequence[Example] | None) -> dict[str, Any]:
        self.pairs = self._encode(train)
        return {}

    def notes(self) -> list[str]:
        return []

    def lengths(self) -> list[int]:
        return [len(s) + len(t) for s, t in self.pairs]

    def batch(self, ids: list[int], device: torch.device) -> dict[str, torch.Tensor]:
        return {k: v.to(device) for k, v in self._collate([self.pairs[i] for i in ids]).items()}

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with autocast(next(self.module.parameters()).device, self.bf16):
            loss = self.module(**batch).loss
        self.losses.append(loss.item())
        return loss

    def param_groups(self) -> list[dict[str, Any]]:
        args = self.args
        lr = args.learning_rate or self.engine.default_learning_rate(args)
        decay, no_decay = [], []
        for name, param in self.module.named_parameters():
            if param.requires_grad:
                (no_decay if param.ndim < 2 or "norm" in name.lower() else decay).append(param)
        return [
            {"params": decay, "weight_decay": args.weight_decay, "lr": lr},
            {"params": no_decay, "weight_decay": 0.0, "lr": lr},
        ]

    def evaluate(self, dev: Sequence[Example]) -> dict[str, float]:
        preds = self.engine.predict(dev, batch_size=self.args.eval_batch_size)
        scores = {k: v for k, v in evaluate(list(dev), preds, bootstrap=0).items() if isinstance(v, float)}
        scores.update({k: v for k, v in generation_metrics(preds).items() if isinstance(v, float)})
        return scores

    def selection_metric(self, dev: Sequence[Example] | None) -> str | None:
        return selection_metric(self.args, self.engine, dev or [])

    def fingerprint(self, train: Sequence[Example], dev: Sequence[Example] | None) -> dict[str, Any]:
        self.data = data_facts(train, dev)
        spec = self.engine.spec_.to_dict()
        labels = {"text": spec.get("labels"), "spans": spec.get("types"), "multi_label": None}
        model = {"output": spec, "architecture": self.engine.architecture_, "base": str(self.engine.model)}
        return run_fingerprint(
            arguments=self.args.to_dict(),
            model=model,
            labels=labels,
            encoder=weights_sha256(self.module),
            train=train,
            dev=dev,
        )

    def save(self, folder: Path, record: dict[str, Any]) -> None:
        training = {"arguments": self.args.to_dict(), **record, "data": self.data}  # data: for the model card
        self.engine._save_to(folder, overwrite=True, training=training)

    def _encode(self, train: Sequence[Example]) -> list[tuple[list[int], list[int]]]:
        codec = self.engine.codec_
        pairs = []
        for i, example in enumerate(train):
            try:
                source = codec.source(example)
                pairs.append((source.ids, codec.target(example, source)))
            except MrekitError as err:
                raise MrekitError(
                    "E204", f"training example {example.id or i}: {err.message}", field=f"train[{i}]", hint=err.hint
                ) from None
        codec.report()
        return pairs

    def _collate(self, items: list[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
        pad = self.engine.codec_.pad_id
        if self.engine.architecture_ == "seq2seq":
            sources = _padded([s for s, _ in items], pad)
            return {
                "input_ids": sources,
                "attention_mask": (_padded([[1] * len(s) for s, _ in items], 0)),
                "labels": _padded([t for _, t in items], -100),
            }
        rows = [s + t for s, t in items]
        return {
            "input_ids": _padded(rows, pad),
            "attention_mask": _padded([[1] * len(r) for r in rows], 0),
            "labels": _padded([[-100] * len(s) + t for s, t in items], -100),
        }


def _padded(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)
