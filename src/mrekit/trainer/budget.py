"""The training budget of a run: epochs and early stopping, chosen from the data when ``auto``.

Five epochs are 25 optimisation steps on 135 training texts and 2,000 on 13,000: too
few for the first, plenty for the second. ``epochs="auto"`` (the default) asks for
enough epochs to make at least :data:`MIN_STEPS` optimisation steps, never fewer than
:data:`MIN_EPOCHS` nor more than :data:`MAX_EPOCHS`, and stops early after
:data:`AUTO_PATIENCE` epochs without dev improvement, or a fifth of the epochs when that
is more (``patience="auto"``). The choice
depends only on the number of training items and the batch size, so a resumed run
makes the same one (the run's fingerprint holds ``"auto"``, and the data's hash).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: ``epochs="auto"``: the fewest optimisation steps wanted (chosen on SNIPS dev, see bench/budget.py).
MIN_STEPS = 600

#: ``epochs="auto"``: never fewer epochs than this (large sets: the old default).
MIN_EPOCHS = 5

#: ``epochs="auto"``: never more epochs than this (tiny sets).
MAX_EPOCHS = 50

#: ``patience="auto"`` with ``epochs="auto"``: epochs without dev improvement before stopping, at least.
AUTO_PATIENCE = 3

#: ``patience="auto"`` with ``epochs="auto"``: and at least this share of the epochs (tiny sets are noisy
#: in their first epochs, during warm-up: on 100 SNIPS texts dev frame accuracy stayed at 0 for 6 epochs).
AUTO_PATIENCE_SHARE = 0.2


@dataclass(frozen=True)
class Budget:
    """How long a run trains, and why.

    Args:
        examples: Training items.
        batch_size: Items per optimisation step.
        steps_per_epoch: Optimisation steps of one epoch.
        epochs: Epochs at most.
        patience: Epochs without dev improvement before stopping (``None``: never).
        total_steps: Optimisation steps at most (the learning-rate schedule spans them).
        reason: Why these epochs, in words.
    """

    examples: int
    batch_size: int
    steps_per_epoch: int
    epochs: int
    patience: int | None
    total_steps: int
    reason: str

    def line(self) -> str:
        """The one line a run says at its start.

        Example:
            >>> resolve_budget(epochs=3, patience=None, batch_size=32, max_steps=None, examples=100).line()
            'training budget: 100 examples, batch size 32, 4 steps/epoch, 3 epochs, 12 steps (epochs 3 as set)'
        """
        return (
            f"training budget: {self.examples} examples, batch size {self.batch_size}, "
            f"{self.steps_per_epoch} steps/epoch, {self.epochs} epochs, {self.total_steps} steps ({self.reason})"
        )


def resolve_budget(
    *, epochs: int | str, patience: int | str | None, batch_size: int, max_steps: int | None, examples: int
) -> Budget:
    """The epochs, patience and steps of a run of ``examples`` training items.

    Example:
        >>> budget = resolve_budget(epochs="auto", patience="auto", batch_size=32, max_steps=None, examples=135)
        >>> budget.epochs, budget.total_steps, budget.patience
        (50, 250, 10)
        >>> resolve_budget(epochs="auto", patience="auto", batch_size=32, max_steps=None, examples=1000).epochs
        19
        >>> resolve_budget(epochs="auto", patience=None, batch_size=32, max_steps=None, examples=13084).reason
        'epochs auto: at least 5 epochs (600 steps wanted)'
    """
    steps_per_epoch = max(1, math.ceil(examples / batch_size))
    if epochs == "auto":
        wanted = math.ceil(MIN_STEPS / steps_per_epoch)
        chosen = min(MAX_EPOCHS, max(MIN_EPOCHS, wanted))
        if wanted > MAX_EPOCHS:
            reason = f"epochs auto: {MIN_STEPS} steps wanted, capped at {MAX_EPOCHS} epochs"
        elif wanted < MIN_EPOCHS:
            reason = f"epochs auto: at least {MIN_EPOCHS} epochs ({MIN_STEPS} steps wanted)"
        else:
            reason = f"epochs auto: enough for {MIN_STEPS} steps"
    else:
        chosen, reason = int(epochs), f"epochs {epochs} as set"
    if patience == "auto":
        patience = max(AUTO_PATIENCE, math.ceil(AUTO_PATIENCE_SHARE * chosen)) if epochs == "auto" else None
    if patience is not None:
        reason += f"; early stop after {patience} epochs without dev improvement"
    total = steps_per_epoch * chosen
    if max_steps is not None and max_steps < total:
        total, reason = max_steps, reason + f"; max_steps {max_steps}"
    return Budget(examples, batch_size, steps_per_epoch, chosen, patience, total, reason)


def budget_of(args: Any, examples: int) -> Budget:
    """:func:`resolve_budget` for the settings of a :class:`~mrekit.trainer.TrainingArguments`.

    Example:
        >>> from mrekit.trainer import TrainingArguments
        >>> budget_of(TrainingArguments(batch_size=4), 10).epochs
        50
    """
    return resolve_budget(
        epochs=args.epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        max_steps=args.max_steps,
        examples=examples,
    )
