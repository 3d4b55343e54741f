"""Training: one dataclass of arguments, a trainer with dev selection, early stopping and exact resume.

The output folder of a run holds::

    model-best/      the model with the best dev score (a loadable model folder)
    checkpoint/      the last finished epoch: weights, optimizer, scheduler, RNG, the epoch records
                     and the run's fingerprint (safetensors + JSON)
    metrics.jsonl    one line per epoch: losses, dev metrics, seconds; the first also has
                     ``alignment`` (texts truncated at ``max_length``, gold spans lost)

Each epoch writes ``model-best`` (when it improved), then ``metrics.jsonl``
(rewritten atomically), then the checkpoint. A run killed at any point resumes
from its last checkpoint with ``resume=True``: ``metrics.jsonl`` is cut back to
the checkpoint's epochs, and the run ends with the same weights as an
uninterrupted one (batch order depends only on (seed, epoch) and the RNG state is
checkpointed). Resuming refuses a run whose fingerprint (data, arguments, model
settings, label space, encoder) differs from the checkpoint's (``E189``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import shutil
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mrekit.errors import MrekitError, dataclass_from_dict
from mrekit.features import LabelSpace, bucketed_batches, collate, featurize
from mrekit.formats._io import atomic_dir, atomic_file
from mrekit.models.joint import JointModel
from mrekit.models.serialization import save_model
from mrekit.schema import Example
from mrekit.training_checks import (
    JOINT_METRICS,
    TEXT_METRICS,
    WORD_METRICS,
    Rule,
    alignment_summary,
    check_resume,
    check_settings,
    check_training_data,
    model_levels,
    run_fingerprint,
    selection_metric,
    warn_truncation,
    warn_unseen_dev_labels,
    weights_sha256,
)

logger = logging.getLogger(__name__)

#: What each training argument may be (checked on construction, ``E183``).
TRAINING_RULES: dict[str, Rule] = {
    "epochs": Rule("int", 1),
    "batch_size": Rule("int", 1),
    "learning_rate": Rule("float", 0, above=True),
    "head_learning_rate": Rule("float", 0, above=True),
    "weight_decay": Rule("float", 0),
    "warmup_ratio": Rule("float", 0, 1),
    "grad_clip": Rule("float", 0, above=True),
    "seed": Rule("int", 0, 2**63 - 1),
    "threads": Rule("int", 1, optional=True),
    "device": Rule("device"),
    "patience": Rule("int", 1, optional=True),
    "eval_batch_size": Rule("int", 1),
    "selection_metric": Rule("choice", choices=("auto", *TEXT_METRICS, *WORD_METRICS, *JOINT_METRICS)),
}


@dataclass
class TrainingArguments:
    """Settings of a training run (file or CLI; CLI flags override the file).

    Every value is checked for type and range on construction (``E183`` naming the field).

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
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``.
        patience: Stop after this many epochs without dev improvement (``None``: never).
        eval_batch_size: Texts per batch when scoring dev.
        selection_metric: Dev metric that picks the best epoch; ``auto`` is frame
            accuracy with both levels, else text accuracy or span F1 (by the levels
            the model learns and dev annotates). An explicit metric must fit them.

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

    def __post_init__(self) -> None:
        check_settings(self, TRAINING_RULES, code="E183")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingArguments:
        """Build from a dict, naming any unknown key or bad value (``E183``)."""
        if not isinstance(data, Mapping):
            raise MrekitError(
                "E183",
                f"training settings must be a table of names and values, not {type(data).__name__}",
                field="training",
            )
        return dataclass_from_dict(cls, data, code="E183", what="training setting")


def read_config(path: str | Path) -> dict[str, Any]:
    """Read a JSON or TOML training config file into a dict.

    Raises:
        MrekitError: ``E100`` for a missing file, ``E102`` for bytes that are not UTF-8,
            ``E103`` for malformed JSON or TOML, ``E183`` for a file that is not a table.
    """
    from mrekit.formats._io import read_text

    p = Path(path)
    if not p.exists():
        raise MrekitError("E100", "config file not found", path=p)
    if p.is_dir():
        raise MrekitError("E100", "the config path is a folder, not a file", path=p)
    text = read_text(p)
    try:
        data = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as err:
        raise MrekitError("E103", f"malformed config: {err}", path=p) from None
    if not isinstance(data, dict):
        raise MrekitError(
            "E183", f"a config holds a table of settings (a JSON object), not a {type(data).__name__}", path=p
        )
    return data


def pick_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is ``E183``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MrekitError("E183", f"device {name} is not available here", field="device", hint="use auto or cpu")
    return device


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


def write_metrics(out: Path, records: Sequence[dict[str, Any]]) -> None:
    """Rewrite ``metrics.jsonl`` atomically: one line per finished epoch."""
    with atomic_file(out / "metrics.jsonl", overwrite=True) as fh:
        fh.writelines(json.dumps(record) + "\n" for record in records)


def best_record(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The record of the best epoch (named by the last record), ``{}`` without records."""
    if not records:
        return {}
    best = records[-1].get("best_epoch")
    return next((r for r in records if r.get("epoch") == best), records[-1])


class Trainer:
    """Fits a :class:`JointModel`; used by :meth:`mrekit.pipeline.MREModel.fit` and ``mrekit train``."""

    def __init__(self, model: JointModel, tokenizer: Any, args: TrainingArguments) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.args = args
        self.device = pick_device(args.device)
        space = model.config
        self.space = LabelSpace(space.text_labels, space.span_labels, space.multi_label)
        self.fingerprint: dict[str, Any] = {}

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

        A new run (``resume=False``) in the folder of an earlier one discards that run's
        checkpoint and log; its ``model-best`` is replaced at the first best epoch.

        Returns:
            The log record of the best epoch.

        Raises:
            MrekitError: ``E101``/``E190`` for training data with nothing to learn, ``E183``
                for a selection metric that does not fit, ``E184`` without a checkpoint to
                resume, ``E189`` when resuming another run than the checkpoint's.
        """
        args, out, config = self.args, Path(output_dir), self.model.config
        dev = list(dev) if dev else None
        check_training_data(train, config.levels)
        self.fingerprint = self._fingerprint(train, dev)
        if resume:
            self._read_checkpoint(out / "checkpoint")  # E184/E189 before anything else is said or done
        metric = selection_metric(args, self.model, dev)
        if dev:
            warn_unseen_dev_labels(config.text_labels, config.span_labels, dev, model_levels(self.model))
        if args.threads:
            torch.set_num_threads(args.threads)
        features, report = featurize(train, self.tokenizer, self.space, config.max_length)
        logger.info("train alignment: %s", report.summary())
        alignment = {"train": alignment_summary(features, report)}
        warn_truncation(alignment["train"], "training", config.max_length)
        if dev:
            dev_features, dev_report = featurize(dev, self.tokenizer, LabelSpace.from_examples(dev), config.max_length)
            alignment["dev"] = alignment_summary(dev_features, dev_report)
            warn_truncation(alignment["dev"], "dev", config.max_length)
        lengths = [len(f.input_ids) for f in features]
        steps_per_epoch = math.ceil(len(features) / args.batch_size)
        self.model.to(self.device)  # before a checkpoint loads: optimizer state follows its parameters' device
        optimizer, scheduler = self._optimizer(steps_per_epoch * args.epochs)
        if resume:
            state = self._load_checkpoint(out / "checkpoint", optimizer, scheduler)
            write_metrics(out, state["records"])  # cut back to the checkpoint: no epoch twice
        else:
            out.mkdir(parents=True, exist_ok=True)
            _start_fresh(out)
            seed_everything(args.seed)
            state = {"epoch": 0, "best": None, "best_epoch": None, "stale": 0, "records": []}
        for epoch in range(state["epoch"], args.epochs):
            if args.patience is not None and state["stale"] >= args.patience:
                logger.info("early stop: %d epochs without dev improvement", state["stale"])
                break
            record, task = self._train_epoch(epoch, features, lengths, optimizer, scheduler, progress)
            improved = self._score(record, dev, metric, state, last=epoch + 1 == args.epochs)
            if progress and task is not None:
                progress.remove_task(task)
                progress.console.print(_epoch_line(record, improved))
            record.update(selection_metric=metric, best_epoch=state["best_epoch"] or epoch + 1)
            if epoch == 0:
                record["alignment"] = alignment
            if improved:
                extra = {"training": self._summary(record)}
                save_model(self.model, self.tokenizer, out / "model-best", extra=extra, overwrite=True)
            state["records"].append(record)
            state["epoch"] = epoch + 1
            write_metrics(out, state["records"])
            self._save_checkpoint(out / "checkpoint", optimizer, scheduler, state)
            logger.info("epoch %d: %s", epoch + 1, record)
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, record)
        return best_record(state["records"])

    def _train_epoch(self, epoch, features, lengths, optimizer, scheduler, progress) -> tuple[dict[str, Any], Any]:
        args = self.args
        started = time.perf_counter()
        pad = self.tokenizer.pad_token_id or 0
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
                description = f"epoch {epoch + 1}/{args.epochs} loss {np.mean(losses[-50:]):.4f}"
                progress.update(task, advance=1, description=description)
        record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses))}
        record["train_seconds"] = round(time.perf_counter() - started, 2)
        return record, task

    def _score(
        self, record: dict[str, Any], dev: list[Example] | None, metric: str | None, state: dict, *, last: bool
    ) -> bool:
        """Add dev metrics to ``record``; whether this epoch is the best so far."""
        from mrekit.metrics import evaluate
        from mrekit.pipeline import predict_examples

        value = None
        if dev:
            texts = [ex.text for ex in dev]
            preds = predict_examples(
                self.model, self.tokenizer, texts, batch_size=self.args.eval_batch_size, warn_truncated=False
            )
            scores = evaluate(dev, preds, bootstrap=0)
            record["dev"] = {k: v for k, v in scores.items() if isinstance(v, float)}
            value = scores.get(metric) if metric else None
        if value is None:
            # Nothing to select on: the last epoch is the model.
            if last:
                state["best_epoch"] = record["epoch"]
            return last
        if state["best"] is None or value > state["best"]:
            state.update(best=value, best_epoch=record["epoch"], stale=0)
            return True
        state["stale"] += 1
        return False

    def _summary(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"arguments": dataclasses.asdict(self.args), "epoch": record["epoch"], "dev": record.get("dev")}

    def _fingerprint(self, train: Sequence[Example], dev: Sequence[Example] | None) -> dict[str, Any]:
        settings = self.model.config.to_dict()
        labels = {
            key: settings.pop(name)
            for key, name in (("text", "text_labels"), ("spans", "span_labels"), ("multi_label", "multi_label"))
        }
        for derived in ("thresholds", "consistency"):  # tuned on dev, or read off the training data
            settings.pop(derived, None)
        return run_fingerprint(
            arguments=dataclasses.asdict(self.args),
            model=settings,
            labels=labels,
            encoder=weights_sha256(self.model.encoder),
            train=train,
            dev=dev,
        )

    @staticmethod
    def _best_from_log(out: Path) -> dict[str, Any]:
        log = Path(out) / "metrics.jsonl"
        if not log.exists():
            return {}
        return best_record([json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()])

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
        if self.device.type == "cuda":  # dropout on a GPU draws from the device's own generator
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        scalars["rng_python"] = _jsonable(random.getstate())
        scalars["scheduler"].pop("lr_lambdas", None)
        scalars["fingerprint"] = self.fingerprint
        with atomic_dir(folder, overwrite=True) as tmp:
            save_file(tensors, str(tmp / "state.safetensors"))
            (tmp / "state.json").write_text(json.dumps(scalars), encoding="utf-8")

    def _read_checkpoint(self, folder: Path) -> dict[str, Any]:
        """The checkpoint's ``state.json``, once its fingerprint matches this run's (else ``E184``/``E189``)."""
        if not (folder / "state.json").exists():
            raise MrekitError("E184", "no checkpoint to resume from", path=folder, hint="start without --resume")
        try:
            scalars = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise MrekitError("E184", f"the checkpoint cannot be read ({err})", path=folder, hint=_AGAIN) from None
        check_resume(scalars.get("fingerprint") if isinstance(scalars, dict) else None, self.fingerprint, folder)
        return scalars

    def _load_checkpoint(self, folder: Path, optimizer, scheduler) -> dict[str, Any]:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        scalars = self._read_checkpoint(folder)
        try:
            tensors = load_file(str(folder / "state.safetensors"))
        except (OSError, SafetensorError) as err:
            raise MrekitError(
                "E184", f"the checkpoint's weights cannot be read ({err})", path=folder, hint=_AGAIN
            ) from None
        self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        opt_state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                opt_state.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": opt_state, "param_groups": scalars["param_groups"]})
        scheduler.load_state_dict({**scheduler.state_dict(), **scalars["scheduler"]})
        torch.set_rng_state(tensors["rng.torch"])
        if "rng.cuda" in tensors and self.device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
        random.setstate(_tuplify(scalars["rng_python"]))
        return scalars["state"]


_AGAIN = "start the run again with mrekit train --overwrite"


def _start_fresh(out: Path) -> None:
    """Discard the checkpoint and log of an earlier run in ``out``: they belong to another run.

    Only mrekit's own files go (``E174`` for a ``checkpoint``/``model-best`` folder
    that mrekit did not write); ``model-best`` stays until the new run replaces it.
    """
    from mrekit.formats._io import check_output_dir, check_output_file

    check_output_dir(out / "model-best", overwrite=True)
    checkpoint = out / "checkpoint"
    if checkpoint.exists():
        check_output_dir(checkpoint, overwrite=True)
        aside = out / f".checkpoint.mrekit-{os.getpid()}-discarded.tmp"  # one rename: never half deleted
        os.replace(checkpoint, aside)
        shutil.rmtree(aside, ignore_errors=True)
    log = out / "metrics.jsonl"
    check_output_file(log, overwrite=True)
    log.unlink(missing_ok=True)


def _epoch_line(record: dict[str, Any], improved: bool) -> str:
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
