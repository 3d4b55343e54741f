"""The encoder engine's side of training: its :class:`~mrekit.trainer.TrainingHooks`.

Featurisation (subword tags from character offsets, with truncation counts ``W101``),
the joint model's loss, dev scoring through the same decoder as prediction, AdamW
groups (the encoder at ``learning_rate``, the heads at ``head_learning_rate``, no decay
on biases and LayerNorm) and the model folder of each best epoch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mrekit.encoder.checks import alignment_line, alignment_summary, model_levels, warn_truncation
from mrekit.encoder.features import Features, LabelSpace, collate, featurize
from mrekit.encoder.inference import predict_examples
from mrekit.encoder.joint import JointModel
from mrekit.encoder.pairs import PairSpace
from mrekit.encoder.serialization import save_model
from mrekit.metrics import evaluate
from mrekit.schema import Example
from mrekit.trainer import TrainingArguments
from mrekit.trainer.checks import (
    check_training_data,
    choose_metric,
    data_facts,
    run_fingerprint,
    warn_unseen_dev_labels,
    weights_sha256,
)

logger = logging.getLogger(__name__)


class EncoderHooks:
    """Trains a :class:`JointModel` with its fast tokenizer.

    Example:
        >>> from mrekit.trainer import Trainer
        >>> Trainer(EncoderHooks(model, tokenizer, args), args).train(train, dev, "runs/x")  # doctest: +SKIP
    """

    seed_at_start = True
    min_warmup_steps = 1

    def __init__(self, model: JointModel, tokenizer: Any, args: TrainingArguments) -> None:
        self.module = model
        self.tokenizer = tokenizer
        self.args = args
        config = model.config
        pairs = None
        if config.has_pairs:
            pairs = PairSpace(
                config.relation_labels,
                config.role_labels,
                config.trigger_labels,
                config.relation_types,
                config.role_types,
            )
        self.space = LabelSpace(
            config.text_labels, config.span_labels, config.multi_label, config.span_attrs, config.label_attrs, pairs
        )
        self.features: list[Features] = []
        self.data: dict[str, Any] = {}
        self._notes: list[str] = []

    def check(self, train: Sequence[Example], dev: Sequence[Example] | None) -> None:
        check_training_data(train, self.module.config.levels)

    def prepare(self, train: Sequence[Example], dev: Sequence[Example] | None) -> dict[str, Any]:
        config = self.module.config
        if dev:
            warn_unseen_dev_labels(config.text_labels, config.span_labels, dev, model_levels(self.module))
        self.features, report = featurize(train, self.tokenizer, self.space, config.max_length)
        alignment = {"train": alignment_summary(self.features, report)}
        warn_truncation(alignment["train"], "training", config.max_length)
        if dev:
            dev_features, dev_report = featurize(dev, self.tokenizer, LabelSpace.from_examples(dev), config.max_length)
            alignment["dev"] = alignment_summary(dev_features, dev_report)
            warn_truncation(alignment["dev"], "dev", config.max_length)
        self._notes = [alignment_line(part, summary) for part, summary in alignment.items()]
        return {"alignment": alignment}

    def notes(self) -> list[str]:
        """The span alignment report of train and dev (exact / expanded / dropped), for every encoder."""
        return list(self._notes)

    def lengths(self) -> list[int]:
        return [len(f.input_ids) for f in self.features]

    def batch(self, ids: list[int], device: torch.device) -> dict[str, torch.Tensor]:
        pad = self.tokenizer.pad_token_id or 0
        return {k: v.to(device) for k, v in collate([self.features[i] for i in ids], self.space, pad).items()}

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.module(batch)["loss"]

    def param_groups(self) -> list[dict[str, Any]]:
        args, model = self.args, self.module
        encoder_ids = {id(p) for name, p in model.named_parameters() if "encoder" in name.split(".")[0]}
        groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
        for name, param in model.named_parameters():
            no_decay = param.ndim < 2 or "LayerNorm" in name
            groups.setdefault((id(param) in encoder_ids, no_decay), []).append(param)
        return [
            {
                "params": params,
                "lr": args.learning_rate if is_encoder else args.head_learning_rate,
                "weight_decay": 0.0 if no_decay else args.weight_decay,
            }
            for (is_encoder, no_decay), params in sorted(groups.items())
        ]

    def evaluate(self, dev: Sequence[Example]) -> dict[str, float]:
        texts = [ex.text for ex in dev]
        preds = predict_examples(
            self.module, self.tokenizer, texts, batch_size=self.args.eval_batch_size, warn_truncated=False
        )
        scores = evaluate(list(dev), preds, bootstrap=0)
        return {k: v for k, v in scores.items() if isinstance(v, float)}

    def selection_metric(self, dev: Sequence[Example] | None) -> str | None:
        metric = choose_metric(self.args.selection_metric, model_levels(self.module), dev)
        if self.args.selection_metric == "auto" and metric == "span_f1" and dev:
            # A word-level model of relations or events is chosen on them, not on its spans alone
            # (text + word models already are: frame accuracy holds every level).
            config = self.module.config
            if config.relation_labels and any(ex.relations for ex in dev):
                return "relation_f1"
            if config.role_labels and any(ex.events for ex in dev):
                return "event_argument_f1"
        return metric

    def fingerprint(self, train: Sequence[Example], dev: Sequence[Example] | None) -> dict[str, Any]:
        self.data = data_facts(train, dev)
        settings = self.module.config.to_dict()
        labels = {
            key: settings.pop(name)
            for key, name in (("text", "text_labels"), ("spans", "span_labels"), ("multi_label", "multi_label"))
        }
        derived = (
            "thresholds",
            "consistency",
            "attr_consistency",
            "relation_types",
            "role_types",
            "structure_consistency",
        )
        for derived_key in derived:  # tuned on dev, or read off the training data
            settings.pop(derived_key, None)
        return run_fingerprint(
            arguments=self.args.to_dict(),
            model=settings,
            labels=labels,
            encoder=weights_sha256(self.module.encoder),
            train=train,
            dev=dev,
        )

    def save(self, folder: Path, record: dict[str, Any]) -> None:
        summary = {"arguments": self.args.to_dict(), "epoch": record["epoch"], "dev": record.get("dev")}
        summary["data"] = self.data  # sizes and hashes of train and dev, for the model card
        save_model(self.module, self.tokenizer, folder, extra={"training": summary}, overwrite=True)
