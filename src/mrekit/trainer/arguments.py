"""One arguments class for every engine: the settings of a training run, checked on construction.

Settings come from config files, flags and code. Each one is checked for type and
range when the arguments are built, so a typo fails before any data is read
(``E183``; an engine's subclass may raise its own code) instead of after an epoch.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from mrekit.errors import MrekitError, dataclass_from_dict

#: Dev metrics that score one level, or both (what :func:`mrekit.metrics.evaluate` returns).
TEXT_METRICS = ("text_accuracy", "text_micro_f1", "text_macro_f1", "label_attr_f1", "label_attr_accuracy")


WORD_METRICS = (
    "span_precision",
    "span_recall",
    "span_f1",
    "span_attr_precision",
    "span_attr_recall",
    "span_attr_f1",
    "span_attr_accuracy",
    "span_attr_macro_f1",
)
#: Word-level metrics of relations and events: they also need dev data with relations / events.
STRUCTURE_METRICS = (
    "relation_f1",
    "relation_f1_macro",
    "event_trigger_f1",
    "event_argument_f1",
    "event_main_argument_f1",
)


JOINT_METRICS = ("pair_precision", "pair_recall", "pair_f1", "frame_accuracy")


#: The levels each encoder metric needs, in the model and in the dev data.
METRIC_LEVELS: dict[str, frozenset[str]] = {
    **{m: frozenset({"text"}) for m in TEXT_METRICS},
    **{m: frozenset({"word"}) for m in (*WORD_METRICS, *STRUCTURE_METRICS)},
    **{m: frozenset({"text", "word"}) for m in JOINT_METRICS},
}


#: Training arguments that say where a run computes or what it keeps, not what it computes: resuming may change them.
RUNTIME_SETTINGS = ("threads", "device", "eval_batch_size", "keep_checkpoint")


_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


@dataclass(frozen=True)
class Rule:
    """The values a setting may take.

    Args:
        kind: ``int``, ``float``, ``bool``, ``choice`` or ``device``.
        low: The smallest value allowed (numbers).
        high: The largest value allowed (numbers).
        above: ``low`` itself is not allowed (``> low`` instead of ``>= low``).
        optional: ``None`` is allowed.
        choices: The strings allowed (``choice``).
        auto: The string ``"auto"`` is allowed too (the run picks the value from its data).

    Example:
        >>> Rule("int", 1).accepts("2"), Rule("float", 0, above=True).describe()
        (False, 'a number greater than 0')
        >>> Rule("int", 1, auto=True).accepts("auto"), Rule("int", 1, auto=True).describe()
        (True, 'an integer of at least 1 or auto')
    """

    kind: str
    low: float | None = None
    high: float | None = None
    above: bool = False
    optional: bool = False
    choices: tuple[str, ...] = ()
    auto: bool = False

    def describe(self) -> str:
        """What the setting must be, for error messages."""
        if self.kind == "bool":
            text = "true or false"
        elif self.kind == "choice":
            text = "one of " + ", ".join(self.choices)
        elif self.kind == "device":
            text = "auto, cpu, cuda, cuda:N or mps"
        else:
            noun = "an integer" if self.kind == "int" else "a number"
            if self.low is not None and self.high is not None:
                text = f"{noun} from {_num(self.low)} to {_num(self.high)}"
            elif self.low is not None:
                text = f"{noun} {'greater than' if self.above else 'of at least'} {_num(self.low)}"
            else:
                text = noun
        if self.auto:
            text += " or auto"
        return text + (" (or null)" if self.optional else "")

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is allowed."""
        if value is None:
            return self.optional
        if self.auto and value == "auto":
            return True
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "choice":
            return isinstance(value, str) and value in self.choices
        if self.kind == "device":
            return isinstance(value, str) and _DEVICE.fullmatch(value) is not None
        number_types = int if self.kind == "int" else (int, float)
        if isinstance(value, bool) or not isinstance(value, number_types):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.kind == "float" and isinstance(value, int) and abs(value) > 2**53:
            return False
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            return False
        return self.high is None or value <= self.high


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def check_settings(obj: Any, rules: Mapping[str, Rule], *, code: str) -> None:
    """Check each attribute of ``obj`` named in ``rules``; numbers of ``float`` settings become floats.

    Raises:
        MrekitError: ``code`` naming the first setting that breaks its rule.

    Example:
        >>> from types import SimpleNamespace
        >>> check_settings(SimpleNamespace(epochs=-1), {"epochs": Rule("int", 1)}, code="E183")
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E183] field 'epochs': epochs must be an integer of at least 1, not -1
    """
    for name, rule in rules.items():
        value = getattr(obj, name)
        if not rule.accepts(value):
            raise MrekitError(code, f"{name} must be {rule.describe()}, not {value!r}", field=name)
        if rule.kind == "float" and value is not None:
            setattr(obj, name, float(value))


#: What each training argument may be (checked on construction, ``E183``).
TRAINING_RULES: dict[str, Rule] = {
    "epochs": Rule("int", 1, auto=True),
    "batch_size": Rule("int", 1),
    "learning_rate": Rule("float", 0, above=True),
    "head_learning_rate": Rule("float", 0, above=True),
    "weight_decay": Rule("float", 0),
    "warmup_ratio": Rule("float", 0, 1),
    "grad_clip": Rule("float", 0, above=True),
    "seed": Rule("int", 0, 2**63 - 1),
    "threads": Rule("int", 1, optional=True),
    "device": Rule("device"),
    "patience": Rule("int", 1, optional=True, auto=True),
    "eval_batch_size": Rule("int", 1),
    "selection_metric": Rule(
        "choice", choices=("auto", *TEXT_METRICS, *WORD_METRICS, *STRUCTURE_METRICS, *JOINT_METRICS)
    ),
    "max_steps": Rule("int", 1, optional=True),
    "keep_checkpoint": Rule("bool"),
}


@dataclass
class TrainingArguments:
    """Settings of a training run (file or CLI; CLI flags override the file).

    Every value is checked for type and range on construction (``E183`` naming the field).

    Args:
        epochs: Passes over the training data; ``auto`` (the default) picks them from the
            data size: enough for about 600 optimisation steps, at least 5 and at most 50
            epochs (see :func:`mrekit.trainer.budget.resolve_budget`).
        batch_size: Texts per optimisation step.
        learning_rate: Peak learning rate of the encoder.
        head_learning_rate: Peak learning rate of the heads (new weights learn faster).
        weight_decay: AdamW weight decay (not on biases and LayerNorm).
        warmup_ratio: Share of steps with linear warm-up, then linear decay to 0.
        grad_clip: Gradient norm clip.
        seed: Seed of initialisation, batch order and dropout.
        threads: CPU threads for torch (``None`` keeps torch's default).
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``.
        patience: Stop after this many epochs without dev improvement (``None``: never;
            ``auto``, the default: max(3, a fifth of the epochs) when ``epochs`` is ``auto``, else never).
        eval_batch_size: Texts per batch when scoring dev.
        selection_metric: Dev metric that picks the best epoch; ``auto`` is frame
            accuracy with both levels, else text accuracy or span F1 (by the levels
            the model learns and dev annotates). An explicit metric must fit them.
        max_steps: Stop after this many optimisation steps (``None``: all epochs).
        keep_checkpoint: Keep ``checkpoint/`` after the run finished (``False``: it is
            removed once the last epoch is written; an interrupted run always keeps it).

    Engines subclass it for their own settings and defaults
    (:class:`mrekit.generative.GenerativeArguments`), as sentence-transformers does.

    Example:
        >>> TrainingArguments.from_dict({"epochs": 2, "learning_rate": 2e-4}).epochs
        2
    """

    epochs: int | str = "auto"
    batch_size: int = 32
    learning_rate: float = 1e-4
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    threads: int | None = None
    device: str = "auto"
    patience: int | str | None = "auto"
    eval_batch_size: int = 64
    selection_metric: str = "auto"
    max_steps: int | None = None
    keep_checkpoint: bool = False

    #: The rule of each field, and the code of a broken one; an engine's subclass sets its own.
    rules: ClassVar[Mapping[str, Rule]] = TRAINING_RULES
    error_code: ClassVar[str] = "E183"

    def __post_init__(self) -> None:
        check_settings(self, self.rules, code=self.error_code)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from a dict, naming any unknown key or bad value (``E183``; an engine's own code)."""
        if not isinstance(data, Mapping):
            raise MrekitError(
                cls.error_code,
                f"training settings must be a table of names and values, not {type(data).__name__}",
                field="training",
            )
        return dataclass_from_dict(cls, data, code=cls.error_code, what="training setting")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every setting."""
        return dataclasses.asdict(self)
