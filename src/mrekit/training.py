"""Training: one dataclass of arguments, a trainer with dev selection, early stopping and exact resume.

The output folder of a run holds::

    model-best/      the model with the best dev score (a loadable model folder)
    checkpoint/      the last finished epoch: weights, optimizer, scheduler, RNG (safetensors + JSON)
    metrics.jsonl    one line per epoch: losses, dev metrics, seconds

A run killed at any point resumes from its last finished epoch with
``resume=True`` and ends with the same weights as an uninterrupted run: batch
order depends only on (seed, epoch) and the RNG state is checkpointed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mrekit.errors import MrekitError, dataclass_from_dict
from mrekit.features import LabelSpace, bucketed_batches, collate, featurize
from mrekit.formats._io import atomic_dir
from mrekit.models.joint import JointModel
from mrekit.models.serialization import save_model
from mrekit.schema import Example

logger = logging.getLogger(__name__)


@dataclass
class TrainingArguments:
    """Settings of a training run (file or CLI; CLI flags override the file).

    Args:
        epochs: Passes over the training data.
        batch_size: Texts per optimisation step.
        learning_rate: Peak learning rate of the encoder.
        head_learning_rate: Peak learning rate of the heads (new weights learn faster).
        weight_decay: AdamW weight decay (not on biases and LayerNorm).
        warmup_ratio: Share of steps with linear warm-up, then linear decay to 0.
        grad_clip: Gradient norm clip.
        seed: Seed of initialisation, batch order and dropout.
        threads: CPU threads for torch (``None`` keeps torch's default).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        patience: Stop after this many epochs without dev improvement (``None``: never).
        eval_batch_size: Texts per batch when scoring dev.
        selection_metric: Dev metric that picks the best epoch; ``auto`` is frame
            accuracy with both levels, else text accuracy or span F1.

    Example:
        >>> TrainingArguments.from_dict({"epochs": 2, "learning_rate": 2e-4}).epochs
        2
    """

    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 1e-4
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    threads: int | None = None
    device: str = "auto"
    patience: int | None = None
    eval_batch_size: int = 64
    selection_metric: str = "auto"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingArguments:
        """Build from a dict, naming any unknown key (``E183``)."""
        return dataclass_from_dict(cls, data, code="E183", what="training setting")


def read_config(path: str | Path) -> dict[str, Any]:
    """Read a JSON or TOML training config file into a dict."""
    p = Path(path)
    if not p.exists():
        raise MrekitError("E100", "config file not found", path=p)
    try:
        if p.suffix == ".toml":
            return tomllib.loads(p.read_text(encoding="utf-8"))
        return json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as err:
        raise MrekitError("E103", f"malformed config: {err}", path=p) from None


def pick_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def device_name(setting: str) -> str:
    """What ``setting`` trains on, for run records: the GPU's name or ``cpu``.

    Example:
        >>> device_name("cpu")
        'cpu'
    """
    device = pick_device(setting)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def selection_metric(args: TrainingArguments, model: JointModel, dev: Sequence[Example]) -> str:
    """The dev metric used for model selection."""
    if args.selection_metric != "auto":
        return args.selection_metric
    has_text = model.has_text and any(ex.labels for ex in dev)
    has_word = model.has_word and any(ex.spans is not None for ex in dev)
    if has_text and has_word:
        return "frame_accuracy"
    return "text_accuracy" if has_text else "span_f1"


class Trainer:
    """Fits a :class:`JointModel`; used by :meth:`mrekit.pipeline.MREModel.fit` and ``mrekit train``."""

    def __init__(self, model: JointModel, tokenizer: Any, args: TrainingArguments) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.args = args
        self.device = pick_device(args.device)
        space = model.config
        self.space = LabelSpace(space.text_labels, space.span_labels, space.multi_label)

    def train(
        self,
        train: Sequence[Example],
        dev: Sequence[Example] | None,
        output_dir: str | Path,
        *,
        resume: bool = False,
        on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
        progress: Any = None,
    ) -> dict[str, Any]:
        """Train, evaluate on dev after each epoch, keep the best model, checkpoint every epoch.

        Returns:
            The log record of the best epoch.
        """
        from mrekit.metrics import evaluate
        from mrekit.pipeline import predict_examples

        args, out = self.args, Path(output_dir)
        if args.threads:
            torch.set_num_threads(args.threads)
        out.mkdir(parents=True, exist_ok=True)
        features, report = featurize(train, self.tokenizer, self.space, self.model.config.max_length)
        logger.info("train alignment: %s", report.summary())
        lengths = [len(f.input_ids) for f in features]
        steps_per_epoch = math.ceil(len(features) / args.batch_size)
        optimizer, scheduler = self._optimizer(steps_per_epoch * args.epochs)
        metric = selection_metric(args, self.model, dev or [])
        state = {"epoch": 0, "best": None, "best_epoch": None, "stale": 0}
        if resume:
            state = self._load_checkpoint(out / "checkpoint", optimizer, scheduler)
        else:
            seed_everything(args.seed)
            (out / "metrics.jsonl").unlink(missing_ok=True)
        self.model.to(self.device)
        pad = self.tokenizer.pad_token_id or 0
        best_record: dict[str, Any] = {}
        for epoch in range(state["epoch"], args.epochs):
            started = time.perf_counter()
            self.model.train()
            batches = bucketed_batches(lengths, args.batch_size, seed=args.seed * 1000 + epoch)
            task = progress.add_task(f"epoch {epoch + 1}/{args.epochs}", total=len(batches)) if progress else None
            losses = []
            for batch_ids in batches:
                batch = {
                    k: v.to(self.device) for k, v in collate([features[i] for i in batch_ids], self.space, pad).items()
                }
                loss = self.model(batch)["loss"]
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), args.grad_clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.item())
                if progress:
                    progress.update(
                        task, advance=1, description=f"epoch {epoch + 1}/{args.epochs} loss {np.mean(losses[-50:]):.4f}"
                    )
            record: dict[str, Any] = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "train_seconds": 0.0}
            record["train_seconds"] = round(time.perf_counter() - started, 2)
            # Without dev there is nothing to select on: the last epoch is the model.
            improved = epoch + 1 == args.epochs
            if dev:
                preds = predict_examples(
                    self.model, self.tokenizer, [ex.text for ex in dev], batch_size=args.eval_batch_size
                )
                scores = evaluate(list(dev), preds, bootstrap=0)
                record["dev"] = {k: v for k, v in scores.items() if isinstance(v, float)}
                value = scores.get(metric)
                improved = value is not None and (state["best"] is None or value > state["best"])
                if improved:
                    state.update(best=value, best_epoch=epoch + 1, stale=0)
                else:
                    state["stale"] += 1
            if progress and task is not None:
                progress.remove_task(task)
                progress.console.print(_epoch_line(record, metric, improved))
            record.update(selection_metric=metric, best_epoch=state["best_epoch"] or epoch + 1)
            if improved:
                save_model(self.model, self.tokenizer, out / "model-best", extra={"training": self._summary(record)})
                best_record = record
            with (out / "metrics.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
            state["epoch"] = epoch + 1
            self._save_checkpoint(out / "checkpoint", optimizer, scheduler, state)
            logger.info("epoch %d: %s", epoch + 1, record)
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, record)
            if args.patience is not None and state["stale"] >= args.patience:
                logger.info("early stop: %d epochs without dev improvement", state["stale"])
                break
        return best_record or self._best_from_log(out)

    def _summary(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"arguments": dataclasses.asdict(self.args), "epoch": record["epoch"], "dev": record.get("dev")}

    @staticmethod
    def _best_from_log(out: Path) -> dict[str, Any]:
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
        best = records[-1]["best_epoch"] if records else None
        return next((r for r in records if r["epoch"] == best), records[-1] if records else {})

    def _optimizer(self, total_steps: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
        args = self.args
        encoder_ids = {id(p) for name, p in self.model.named_parameters() if "encoder" in name.split(".")[0]}
        groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
        for name, param in self.model.named_parameters():
            no_decay = param.ndim < 2 or "LayerNorm" in name
            groups.setdefault((id(param) in encoder_ids, no_decay), []).append(param)
        param_groups = [
            {
                "params": params,
                "lr": args.learning_rate if is_encoder else args.head_learning_rate,
                "weight_decay": 0.0 if no_decay else args.weight_decay,
            }
            for (is_encoder, no_decay), params in sorted(groups.items())
        ]
        optimizer = torch.optim.AdamW(param_groups)
        warmup = max(1, int(total_steps * args.warmup_ratio))

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    def _save_checkpoint(self, folder: Path, optimizer, scheduler, state: dict[str, Any]) -> None:
        from safetensors.torch import save_file

        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        scalars: dict[str, Any] = {"state": state, "scheduler": scheduler.state_dict(), "param_groups": []}
        opt_state = optimizer.state_dict()
        for index, values in opt_state["state"].items():
            for key, value in values.items():
                tensors[f"optim.{index}.{key}"] = value.detach().cpu().contiguous().reshape(value.shape)
        scalars["param_groups"] = opt_state["param_groups"]
        tensors["rng.torch"] = torch.get_rng_state()
        scalars["rng_python"] = _jsonable(random.getstate())
        scalars["scheduler"].pop("lr_lambdas", None)
        with atomic_dir(folder) as tmp:
            save_file(tensors, str(tmp / "state.safetensors"))
            (tmp / "state.json").write_text(json.dumps(scalars), encoding="utf-8")

    def _load_checkpoint(self, folder: Path, optimizer, scheduler) -> dict[str, Any]:
        from safetensors.torch import load_file

        if not (folder / "state.json").exists():
            raise MrekitError("E184", "no checkpoint to resume from", path=folder, hint="start without --resume")
        tensors = load_file(str(folder / "state.safetensors"))
        scalars = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        opt_state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                opt_state.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": opt_state, "param_groups": scalars["param_groups"]})
        scheduler.load_state_dict({**scheduler.state_dict(), **scalars["scheduler"]})
        torch.set_rng_state(tensors["rng.torch"])
        random.setstate(_tuplify(scalars["rng_python"]))
        return scalars["state"]


def _epoch_line(record: dict[str, Any], metric: str, improved: bool) -> str:
    dev = record.get("dev") or {}
    shown = ", ".join(
        f"{name} {dev[key]:.2%}"
        for key, name in (("text_accuracy", "text acc"), ("span_f1", "span F1"), ("frame_accuracy", "frame acc"))
        if dev.get(key) is not None
    )
    mark = " [green]★ best[/]" if improved else ""
    return (
        f"epoch {record['epoch']}: loss {record['train_loss']:.4f} ({record['train_seconds']:.0f} s); dev {shown}{mark}"
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _tuplify(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    return value
