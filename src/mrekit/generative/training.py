"""Fine-tuning a generative model: arguments and the training loop with dev selection.

The output folder of a run holds::

    model-best/      the model of the best dev epoch (a loadable model folder)
    metrics.jsonl    one line per epoch: loss, dev metrics (with format accuracy and
                     hallucination rate of the dev predictions), seconds

Encoder-decoder models learn the target tokens given the input; decoder-only
models read ``prompt + target`` with the loss masked to the target. Dev
predictions use the same decoding as :meth:`GenerativeModel.predict`
(constrained unless told otherwise).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mrekit.errors import MrekitError, dataclass_from_dict
from mrekit.features import bucketed_batches
from mrekit.schema import Example
from mrekit.training_checks import JOINT_METRICS, TEXT_METRICS, WORD_METRICS, Rule, check_settings

if TYPE_CHECKING:
    from mrekit.generative.engine import GenerativeModel

logger = logging.getLogger(__name__)

#: What each generative training argument may be (checked on construction, ``E202``).
GENERATIVE_RULES: dict[str, Rule] = {
    "epochs": Rule("int", 1),
    "batch_size": Rule("int", 1),
    "learning_rate": Rule("float", 0, above=True, optional=True),
    "weight_decay": Rule("float", 0),
    "warmup_ratio": Rule("float", 0, 1),
    "grad_clip": Rule("float", 0, above=True),
    "seed": Rule("int", 0, 2**63 - 1),
    "threads": Rule("int", 1, optional=True),
    "device": Rule("device"),
    "bf16": Rule("bool", optional=True),
    "lora": Rule("bool"),
    "lora_r": Rule("int", 1),
    "lora_alpha": Rule("int", 1),
    "lora_dropout": Rule("float", 0, 1),
    "max_source_length": Rule("int", 1),
    "max_target_length": Rule("int", 1),
    "num_beams": Rule("int", 1),
    "constrained": Rule("bool"),
    "eval_batch_size": Rule("int", 1),
    "patience": Rule("int", 1, optional=True),
    "max_steps": Rule("int", 1, optional=True),
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
class GenerativeArguments:
    """Settings of a generative training run and of its decoding (checked on construction: ``E202``).

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

    epochs: int = 10
    batch_size: int = 32
    learning_rate: float | None = None
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    grad_clip: float = 1.0
    seed: int = 0
    threads: int | None = None
    device: str = "auto"
    bf16: bool | None = None
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    max_source_length: int = 128
    max_target_length: int = 128
    num_beams: int = 1
    constrained: bool = True
    eval_batch_size: int = 64
    patience: int | None = None
    max_steps: int | None = None
    selection_metric: str = "auto"

    def __post_init__(self) -> None:
        check_settings(self, GENERATIVE_RULES, code="E202")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerativeArguments:
        """Build from a dict, naming any unknown key or bad value (``E202``)."""
        if not isinstance(data, Mapping):
            raise MrekitError(
                "E202",
                f"training settings must be a table of names and values, not {type(data).__name__}",
                field="training",
            )
        return dataclass_from_dict(cls, data, code="E202", what="generative training setting")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)


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


class GenerativeTrainer:
    """Fits the model of a :class:`~mrekit.generative.engine.GenerativeModel` (built, not yet trained)."""

    def __init__(self, engine: GenerativeModel, args: GenerativeArguments, device: torch.device, bf16: bool) -> None:
        self.engine = engine
        self.args = args
        self.device = device
        self.bf16 = bf16
        self.losses: list[float] = []

    def train(
        self, train: Sequence[Example], dev: Sequence[Example] | None, output_dir: Path, *, progress: Any = None
    ) -> dict[str, Any]:
        """Train, evaluate on dev after each epoch, save the best epoch to ``output_dir/model-best``.

        Returns:
            The log record of the best epoch.
        """
        from mrekit.formats._io import check_output_dir, check_output_file
        from mrekit.generative.modeling import autocast
        from mrekit.training import write_metrics

        args, engine, out = self.args, self.engine, Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        check_output_dir(out / "model-best", overwrite=True)  # E174 now, not after an epoch, for a foreign folder
        check_output_file(out / "metrics.jsonl", overwrite=True)
        (out / "metrics.jsonl").unlink(missing_ok=True)
        records: list[dict[str, Any]] = []
        pairs = self._encode(train)
        lengths = [len(s) + len(t) for s, t in pairs]
        steps_per_epoch = math.ceil(len(pairs) / args.batch_size)
        total = steps_per_epoch * args.epochs
        if args.max_steps is not None:
            total = min(total, args.max_steps)
        optimizer, scheduler = self._optimizer(total)
        metric = selection_metric(args, engine, dev or [])
        model = engine.model_
        model.to(self.device)
        best: dict[str, Any] = {"value": None, "epoch": None, "record": {}, "stale": 0}
        step = 0
        for epoch in range(args.epochs):
            started = time.perf_counter()
            model.train()
            batches = bucketed_batches(lengths, args.batch_size, seed=args.seed * 1000 + epoch)
            task = progress.add_task(f"epoch {epoch + 1}/{args.epochs}", total=len(batches)) if progress else None
            losses = []
            for batch_ids in batches:
                batch = {k: v.to(self.device) for k, v in self._collate([pairs[i] for i in batch_ids]).items()}
                with autocast(self.device, self.bf16):
                    loss = model(**batch).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.item())
                step += 1
                if progress:
                    description = f"epoch {epoch + 1}/{args.epochs} loss {np.mean(losses[-50:]):.4f}"
                    progress.update(task, advance=1, description=description)
                if args.max_steps is not None and step >= args.max_steps:
                    break
            self.losses += losses
            record: dict[str, Any] = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "steps": step}
            record["train_seconds"] = round(time.perf_counter() - started, 2)
            done = epoch + 1 == args.epochs or (args.max_steps is not None and step >= args.max_steps)
            improved = self._score(record, dev, metric, best, last=done)
            if progress and task is not None:
                progress.remove_task(task)
                progress.console.print(_epoch_line(record, metric, improved))
            record.update(selection_metric=metric, best_epoch=best["epoch"] or epoch + 1)
            if improved:
                engine._save_to(out / "model-best", overwrite=True, training={"arguments": args.to_dict(), **record})
                best["record"] = record
            records.append(record)
            write_metrics(out, records)  # rewritten atomically: never a half line
            logger.info("epoch %d: %s", epoch + 1, record)
            if done or (args.patience is not None and best["stale"] >= args.patience):
                break
        return best["record"]

    def _score(
        self, record: dict[str, Any], dev: Sequence[Example] | None, metric: str, best: dict, last: bool
    ) -> bool:
        """Add dev metrics to ``record``; whether this epoch is the best so far."""
        from mrekit.generative.metrics import generation_metrics
        from mrekit.metrics import evaluate

        if not dev:
            return last  # nothing to select on: the last epoch is the model
        preds = self.engine.predict(dev, batch_size=self.args.eval_batch_size)
        scores = evaluate(list(dev), preds, bootstrap=0)
        record["dev"] = {k: v for k, v in scores.items() if isinstance(v, float)}
        record["dev"].update({k: v for k, v in generation_metrics(preds).items() if isinstance(v, float)})
        value = record["dev"].get(metric)
        if value is None:
            return last
        if best["value"] is None or value > best["value"]:
            best.update(value=value, epoch=record["epoch"], stale=0)
            return True
        best["stale"] += 1
        return False

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

    def _optimizer(self, total_steps: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
        args = self.args
        lr = args.learning_rate or self.engine.default_learning_rate(args)
        decay, no_decay = [], []
        for name, param in self.engine.model_.named_parameters():
            if param.requires_grad:
                (no_decay if param.ndim < 2 or "norm" in name.lower() else decay).append(param)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=lr
        )
        warmup = int(total_steps * args.warmup_ratio)

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / max(1, warmup)
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def _padded(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


def _epoch_line(record: dict[str, Any], metric: str, improved: bool) -> str:
    dev = record.get("dev") or {}
    shown = ", ".join(
        f"{k} {dev[k]:.2%}" for k in ("text_accuracy", "pair_f1", "frame_accuracy", "format_accuracy") if k in dev
    )
    mark = " [green]★ best[/]" if improved else ""
    return f"epoch {record['epoch']}: loss {record['train_loss']:.4f}" + (f"; dev {shown}" if shown else "") + mark
