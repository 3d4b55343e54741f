"""One epoch loop for every engine: dev selection, early stopping, checkpoints, exact resume, the log.

The output folder of a run holds::

    model-best/      the model with the best dev score (a loadable model folder)
    checkpoint/      the last finished epoch: weights, optimizer, scheduler, RNG, the epoch records
                     and the run's fingerprint (safetensors + JSON, never pickle); removed once
                     the run has finished, unless ``keep_checkpoint`` (an interrupted run keeps it)
    metrics.jsonl    one line per epoch: losses, dev metrics, seconds (the engine may add facts
                     to the first, such as the encoder's ``alignment`` counts); the last line of a
                     finished run says why it ended (``"finished"``)

Each epoch writes ``model-best`` (when it improved), then ``metrics.jsonl`` (rewritten
atomically), then the checkpoint. A run killed at any point resumes from its last
checkpoint with ``resume=True``: ``metrics.jsonl`` is cut back to the checkpoint's epochs,
and the run ends with the same weights as an uninterrupted one (batch order depends only
on (seed, epoch) and the RNG state is checkpointed). Resuming refuses a run whose
fingerprint differs from the checkpoint's (``E189``).

The budget (:mod:`mrekit.trainer.budget`): ``epochs="auto"`` trains enough epochs for
about 600 optimisation steps (5 to 50 epochs) and stops after max(3, epochs / 5) epochs without dev
improvement; the run's first line says what it chose and why.

Model selection: the epoch with the best dev ``selection_metric`` is ``model-best``.
Ties are broken by the other dev metrics in a fixed order (for ``frame_accuracy``: text
accuracy, then span F1, then pair F1, ...; see :data:`mrekit.trainer.checks.TIE_ORDER`),
then by a lower dev loss when the engine reports one, and last by the later epoch. Early
stopping counts the epochs whose dev scores did not beat the best (a full tie does not).

Progress (:mod:`mrekit.trainer.progress`): each optimisation step calls ``on_step`` with
an event (step, total, epoch, loss, ETA); throttled plain lines, the budget line and the
epoch lines go to the ``mrekit.trainer.progress`` logger (with a rich ``progress``
display, the budget and epoch lines are printed above its bar instead).

What is specific to an engine comes in through :class:`TrainingHooks`, in the spirit of
spaCy's ``train_while_improving(..., evaluate)`` and of the sentence-transformers trainer:
the engine featurises, computes a batch's loss, scores dev and saves its model folder;
the loop owns everything else.

Example:
    >>> from mrekit.trainer import Trainer, TrainingArguments
    >>> Trainer(hooks, TrainingArguments(epochs=3)).train(train, dev, "runs/x")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from mrekit.errors import MrekitError
from mrekit.outputs import atomic_dir, atomic_file
from mrekit.runtime import bucketed_batches, pick_device, seed_everything
from mrekit.schema import Example
from mrekit.trainer.arguments import TrainingArguments
from mrekit.trainer.budget import Budget, budget_of
from mrekit.trainer.checks import check_resume, selection_key
from mrekit.trainer.folders import no_checkpoint, refuse_earlier_run, remove_checkpoint, start_fresh
from mrekit.trainer.progress import PROGRESS_LOGGER, StepReporter

logger = logging.getLogger(__name__)
say_logger = logging.getLogger(PROGRESS_LOGGER)

#: The dev metrics an epoch line shows, when present.
SHOWN = (
    ("text_accuracy", "text acc"),
    ("span_f1", "span F1"),
    ("pair_f1", "pair F1"),
    ("frame_accuracy", "frame acc"),
    ("format_accuracy", "format acc"),
)


class TrainingHooks(Protocol):
    """What an engine gives the loop. ``module`` is the ``torch.nn.Module`` being trained."""

    module: torch.nn.Module
    #: Re-seed right before the first epoch (the encoder does; the generative engine seeded before building).
    seed_at_start: bool
    #: Fewest warm-up steps however small ``warmup_ratio`` × steps is (encoder 1, generative 0).
    min_warmup_steps: int

    def check(self, train: Sequence[Example], dev: Sequence[Example] | None) -> None:
        """Refuse data the module cannot learn from (the loop's first call: nothing is written before)."""

    def prepare(self, train: Sequence[Example], dev: Sequence[Example] | None) -> dict[str, Any]:
        """Featurise ``train`` (and check ``dev``); returns facts for the first epoch's record."""

    def notes(self) -> list[str]:
        """Lines about the prepared data for the person watching, shown after the budget line
        (the encoder's span alignment report; ``[]`` for none)."""

    def lengths(self) -> list[int]:
        """Length of each prepared training item, for length-bucketed batches."""

    def batch(self, ids: list[int], device: torch.device) -> dict[str, torch.Tensor]:
        """The named tensors of the items ``ids``, on ``device``."""

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The training loss of a batch."""

    def param_groups(self) -> list[dict[str, Any]]:
        """AdamW parameter groups (learning rates, weight decay)."""

    def evaluate(self, dev: Sequence[Example]) -> dict[str, float]:
        """Dev metrics of the module as it is now."""

    def selection_metric(self, dev: Sequence[Example] | None) -> str | None:
        """The dev metric that picks the best epoch (``None``: the last epoch)."""

    def fingerprint(self, train: Sequence[Example], dev: Sequence[Example] | None) -> dict[str, Any]:
        """What makes this run this run (see :func:`mrekit.trainer.checks.run_fingerprint`)."""

    def save(self, folder: Path, record: dict[str, Any]) -> None:
        """Write the model folder of the current weights to ``folder`` (replacing an earlier one)."""


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


def read_log(out: str | Path) -> dict[str, Any]:
    """The best epoch's record of the run in ``out`` (``{}`` without a log)."""
    log = Path(out) / "metrics.jsonl"
    if not log.exists():
        return {}
    return best_record([json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()])


def linear_schedule(optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float, min_warmup: int = 1):
    """Linear warm-up over ``warmup_ratio`` of the steps (at least ``min_warmup``), then linear decay to 0.

    Example:
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> schedule = linear_schedule(opt, 10, 0.2)
        >>> [round(schedule.lr_lambdas[0](s), 3) for s in (0, 1, 2, 9)]
        [0.5, 1.0, 1.0, 0.125]
    """
    warmup = max(min_warmup, int(total_steps * warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Trainer:
    """Trains an engine's module through its :class:`TrainingHooks`.

    Args:
        hooks: The engine's side of training.
        args: The run's settings (an engine may pass its subclass).
    """

    def __init__(self, hooks: TrainingHooks, args: TrainingArguments) -> None:
        self.hooks = hooks
        self.args = args
        self.device = pick_device(args.device)
        self.fingerprint: dict[str, Any] = {}
        self.budget: Budget | None = None

    def train(
        self,
        train: Sequence[Example],
        dev: Sequence[Example] | None,
        output_dir: str | Path,
        *,
        resume: bool = False,
        overwrite: bool = False,
        on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
        progress: Any = None,
        on_step: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Train, evaluate on dev after each epoch, keep the best model, checkpoint every epoch.

        A new run (``resume=False``) in the folder of an earlier one is refused unless
        ``overwrite``; with it, that run's checkpoint and log go and its ``model-best`` is
        replaced at the first best epoch.

        Args:
            train: Training examples.
            dev: Dev examples (model selection, early stopping).
            output_dir: The run's folder.
            resume: Continue the interrupted run in ``output_dir``.
            overwrite: Start again in an ``output_dir`` that holds an earlier run.
            on_epoch_end: Called with the epoch (from 1) and its record.
            progress: A ``rich.progress.Progress`` to show a bar per epoch on.
            on_step: Called after each optimisation step with its event (see
                :mod:`mrekit.trainer.progress`: ``step``, ``total``, ``epoch``, ``loss``, ``eta_seconds``).

        Returns:
            The log record of the best epoch.

        Raises:
            MrekitError: ``E184`` without a checkpoint to resume, ``E189`` when resuming
                another run than the checkpoint's, ``E170`` for an earlier run in
                ``output_dir`` without ``overwrite``; the engine's own codes from its hooks.
        """
        args, hooks, out = self.args, self.hooks, Path(output_dir)
        dev = list(dev) if dev else None
        hooks.check(train, dev)
        self.fingerprint = hooks.fingerprint(train, dev)
        if resume:
            self._read_checkpoint(out / "checkpoint")  # E184/E189 before anything else is said or done
        else:
            refuse_earlier_run(out, overwrite=overwrite)
        metric = hooks.selection_metric(dev)
        if args.threads:
            torch.set_num_threads(args.threads)
        first_facts = hooks.prepare(train, dev)
        lengths = hooks.lengths()
        budget = self.budget = budget_of(args, len(lengths))
        total = budget.total_steps
        hooks.module.to(self.device)  # before a checkpoint loads: optimizer state follows its parameters' device
        optimizer = torch.optim.AdamW(hooks.param_groups())
        scheduler = linear_schedule(optimizer, total, args.warmup_ratio, hooks.min_warmup_steps)
        if resume:
            state = self._load_checkpoint(out / "checkpoint", optimizer, scheduler)
            write_metrics(out, state["records"])  # cut back to the checkpoint: no epoch twice
        else:
            out.mkdir(parents=True, exist_ok=True)
            start_fresh(out)
            if hooks.seed_at_start:
                seed_everything(args.seed)
            state = {"epoch": 0, "step": 0, "best": None, "best_epoch": None, "stale": 0, "records": []}
        _say(progress, budget.line())
        for line in hooks.notes():
            _say(progress, line)
        reporter = StepReporter(total, budget.epochs, start_step=state["step"], callback=on_step)
        for epoch in range(state["epoch"], budget.epochs):
            if self._stopped(state):
                break
            record, task = self._train_epoch(epoch, lengths, optimizer, scheduler, state, progress, reporter)
            done = epoch + 1 == budget.epochs or self._out_of_steps(state)
            improved = self._score(record, dev, metric, state, last=done)
            if progress and task is not None:
                progress.remove_task(task)
            _say(progress, epoch_line(record, improved, markup=progress is not None))
            record.update(selection_metric=metric, best_epoch=state["best_epoch"] or epoch + 1)
            if epoch == 0:
                record.update(first_facts)
            if improved:
                hooks.save(out / "model-best", record)
            state["records"].append(record)
            state["epoch"] = epoch + 1
            write_metrics(out, state["records"])
            self._save_checkpoint(out / "checkpoint", optimizer, scheduler, state)
            logger.debug("epoch %d: %s", epoch + 1, record)
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, record)
        self._finish(out, state, progress)
        return best_record(state["records"])

    def _finish(self, out: Path, state: dict[str, Any], progress: Any) -> None:
        """Mark the log's last line with why the run ended, then remove the checkpoint (unless kept)."""
        if not state["records"]:
            return
        reason = self._stop_reason(state)
        state["records"][-1]["finished"] = reason
        write_metrics(out, state["records"])
        if reason.startswith("early stop"):
            _say(progress, f"{reason}; the best epoch is {state['records'][-1]['best_epoch']}")
        if not self.args.keep_checkpoint:
            remove_checkpoint(out)

    def _stop_reason(self, state: dict[str, Any]) -> str:
        budget = self.budget
        if state["epoch"] >= budget.epochs:
            return f"all {budget.epochs} epochs"
        if self._out_of_steps(state):
            return f"max_steps {self.args.max_steps} reached"
        return f"early stop: {state['stale']} epochs without dev improvement"

    def _stopped(self, state: dict[str, Any]) -> bool:
        patience = self.budget.patience
        if patience is not None and state["stale"] >= patience:
            logger.info("early stop: %d epochs without dev improvement", state["stale"])
            return True
        return self._out_of_steps(state)

    def _out_of_steps(self, state: dict[str, Any]) -> bool:
        return self.args.max_steps is not None and state["step"] >= self.args.max_steps

    def _train_epoch(
        self, epoch, lengths, optimizer, scheduler, state, progress, reporter: StepReporter
    ) -> tuple[dict[str, Any], Any]:
        args, hooks, module, epochs = self.args, self.hooks, self.hooks.module, self.budget.epochs
        started = time.perf_counter()
        module.train()
        batches = bucketed_batches(lengths, args.batch_size, seed=args.seed * 1000 + epoch)
        task = progress.add_task(f"epoch {epoch + 1}/{epochs}", total=len(batches)) if progress else None
        losses = []
        for batch_ids in batches:
            loss = hooks.loss(hooks.batch(batch_ids, self.device))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), args.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            state["step"] += 1
            running = float(np.mean(losses[-50:]))
            reporter.step(epoch + 1, state["step"], running)
            if progress:
                description = f"epoch {epoch + 1}/{epochs} loss {running:.4f}"
                progress.update(task, advance=1, description=description)
            if self._out_of_steps(state):
                break
        record: dict[str, Any] = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "steps": state["step"]}
        record["train_seconds"] = round(time.perf_counter() - started, 2)
        return record, task

    def _score(
        self, record: dict[str, Any], dev: list[Example] | None, metric: str | None, state: dict, *, last: bool
    ) -> bool:
        """Add dev metrics to ``record``; whether this epoch is the best so far (ties: see the module)."""
        value = None
        if dev:
            record["dev"] = self.hooks.evaluate(dev)
            value = record["dev"].get(metric) if metric else None
        if value is None:
            # Nothing to select on: the last epoch is the model.
            if last:
                state["best_epoch"] = record["epoch"]
            return last
        key = selection_key(record["dev"], metric)
        best = next((r for r in state["records"] if r.get("epoch") == state["best_epoch"]), None)
        best_key = selection_key(best.get("dev") or {}, metric) if best and state["best"] is not None else None
        if best_key is not None and key < best_key:
            state["stale"] += 1
            return False
        # Better, or a full tie: the later epoch is kept; only better scores reset early stopping.
        stale = state["stale"] + 1 if key == best_key else 0
        state.update(best=value, best_epoch=record["epoch"], stale=stale)
        return True

    def _save_checkpoint(self, folder: Path, optimizer, scheduler, state: dict[str, Any]) -> None:
        from safetensors.torch import save_file

        module = self.hooks.module
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
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
            save_file(_unshared(tensors), str(tmp / "state.safetensors"))
            (tmp / "state.json").write_text(json.dumps(scalars), encoding="utf-8")

    def _read_checkpoint(self, folder: Path) -> dict[str, Any]:
        """The checkpoint's ``state.json``, once its fingerprint matches this run's (else ``E184``/``E189``)."""
        if not (folder / "state.json").exists():
            raise no_checkpoint(folder)
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
        weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        self.hooks.module.load_state_dict(weights)
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
        state = scalars["state"]
        state.setdefault("step", 0)
        return state


_AGAIN = "start the run again with mrekit train --overwrite"


def epoch_line(record: dict[str, Any], improved: bool, *, markup: bool = True) -> str:
    """One line after an epoch (rich ``markup`` for the console, else plain for a log).

    Example:
        >>> epoch_line({"epoch": 2, "train_loss": 0.5, "train_seconds": 3, "dev": {"span_f1": 0.8}}, True)
        'epoch 2: loss 0.5000 (3 s); dev span F1 80.00% [green]★ best[/]'
        >>> epoch_line({"epoch": 2, "train_loss": 0.5, "train_seconds": 3}, True, markup=False)
        'epoch 2: loss 0.5000 (3 s) ★ best'
    """
    dev = record.get("dev") or {}
    shown = ", ".join(f"{name} {dev[key]:.2%}" for key, name in SHOWN if dev.get(key) is not None)
    mark = (" [green]★ best[/]" if markup else " ★ best") if improved else ""
    scored = f"; dev {shown}" if shown else ""
    return f"epoch {record['epoch']}: loss {record['train_loss']:.4f} ({record['train_seconds']:.0f} s){scored}{mark}"


def _say(progress: Any, text: str) -> None:
    """A line for the person watching: above a rich ``progress`` bar, else on the progress logger."""
    if progress is not None:
        progress.console.print(text, highlight=False)
    else:
        say_logger.info("%s", text)


def _unshared(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors that share memory (tied embeddings): store each once, as its own copy."""
    seen: set[int] = set()
    out = {}
    for name, tensor in tensors.items():
        pointer = tensor.data_ptr()
        out[name] = tensor.clone() if pointer in seen and tensor.numel() else tensor
        seen.add(pointer)
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _tuplify(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    return value
