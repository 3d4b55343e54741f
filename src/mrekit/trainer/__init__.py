"""Training for every engine: one arguments class, one epoch loop, the engine's hooks.

* :mod:`mrekit.trainer.arguments` — :class:`TrainingArguments` (engines subclass it) and
  the rules its settings are checked against;
* :mod:`mrekit.trainer.checks` — checks of the training data, model selection by the
  levels a model learns, and the run's fingerprint that ``resume`` must match;
* :mod:`mrekit.trainer.loop` — :class:`Trainer` and the :class:`TrainingHooks` an engine
  implements (featurise, loss, evaluate, save);
* :mod:`mrekit.trainer.folders` — the run folder: an earlier run refused or discarded, a missing checkpoint.
"""

from __future__ import annotations

from mrekit.trainer.arguments import JOINT_METRICS, TEXT_METRICS, WORD_METRICS, Rule, TrainingArguments, check_settings
from mrekit.trainer.folders import refuse_earlier_run
from mrekit.trainer.loop import Trainer, TrainingHooks, best_record, read_log, write_metrics

__all__ = [
    "JOINT_METRICS",
    "TEXT_METRICS",
    "WORD_METRICS",
    "Rule",
    "Trainer",
    "TrainingArguments",
    "TrainingHooks",
    "best_record",
    "check_settings",
    "read_log",
    "refuse_earlier_run",
    "write_metrics",
]
