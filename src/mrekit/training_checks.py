"""Checks around a training run: setting values, the training data, model selection, the run's fingerprint.

Settings come from config files, flags and code. Each one is checked for type and
range when the arguments are built, so a typo fails before any data is read
(``E183``; ``E202`` for the generative engine) instead of after an epoch.

The fingerprint of a run (SHA-256 of its train and dev data as canonical JSON, its
training arguments, model settings, label space and encoder weights) is stored in
the checkpoint; ``resume`` refuses a run that differs from it (``E189``) and names
what differs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mrekit.errors import MrekitError, warn
from mrekit.schema import Example

if TYPE_CHECKING:
    from mrekit.models.joint import JointModel
    from mrekit.training import TrainingArguments

logger = logging.getLogger(__name__)

#: Dev metrics that score one level, or both (what :func:`mrekit.metrics.evaluate` returns).
TEXT_METRICS = ("text_accuracy", "text_micro_f1", "text_macro_f1")
WORD_METRICS = ("span_precision", "span_recall", "span_f1")
JOINT_METRICS = ("pair_precision", "pair_recall", "pair_f1", "frame_accuracy")
#: The levels each encoder metric needs, in the model and in the dev data.
METRIC_LEVELS: dict[str, frozenset[str]] = {
    **{m: frozenset({"text"}) for m in TEXT_METRICS},
    **{m: frozenset({"word"}) for m in WORD_METRICS},
    **{m: frozenset({"text", "word"}) for m in JOINT_METRICS},
}
#: Training arguments that say where a run computes, not what it computes: resuming may change them.
RUNTIME_SETTINGS = ("threads", "device", "eval_batch_size")

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

    Example:
        >>> Rule("int", 1).accepts("2"), Rule("float", 0, above=True).describe()
        (False, 'a number greater than 0')
    """

    kind: str
    low: float | None = None
    high: float | None = None
    above: bool = False
    optional: bool = False
    choices: tuple[str, ...] = ()

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
        return text + (" (or null)" if self.optional else "")

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is allowed."""
        if value is None:
            return self.optional
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


def check_training_data(train: Sequence[Example], levels: Sequence[str]) -> None:
    """Refuse training data that gives the model nothing to learn.

    Raises:
        MrekitError: ``E101`` for no examples; ``E190`` when no example has a text
            label or a span at a level the model learns.

    Example:
        >>> try:
        ...     check_training_data([Example("hi")], ["text", "word"])
        ... except MrekitError as err:
        ...     print(err.code)
        E190
    """
    if not train:
        raise MrekitError("E101", "no training examples")
    has_text = any(ex.labels for ex in train)
    has_spans = any(ex.spans for ex in train)
    if ("text" in levels and has_text) or ("word" in levels and has_spans):
        return
    if has_text or has_spans:
        found = "text labels only" if has_text else "spans only"
        raise MrekitError(
            "E190",
            f"the training data has {found}, but this model learns the {' and '.join(levels)} level",
            field="levels",
            hint="add the other level to levels, or train on data that annotates this one",
        )
    raise MrekitError(
        "E190",
        "the training data has no text labels and no spans: there is nothing to learn",
        hint="check the data's format and its annotation",
    )


def warn_unseen_dev_labels(
    text_labels: Sequence[str], span_labels: Sequence[str], dev: Sequence[Example], levels: set[str]
) -> list[str]:
    """``W102`` for dev labels that never occur in train (the model cannot predict them); returns them.

    Example:
        >>> warn_unseen_dev_labels(["a"], [], [Example("x", labels=["b"])], {"text"})
        ['text label b']
    """
    unseen = []
    if "text" in levels:
        unseen += [f"text label {x}" for x in sorted({x for ex in dev for x in ex.labels} - set(text_labels))]
    if "word" in levels:
        spans = {s.label for ex in dev for s in ex.spans or []}
        unseen += [f"span label {x}" for x in sorted(spans - set(span_labels))]
    if unseen:
        shown = ", ".join(unseen[:10]) + (f" and {len(unseen) - 10} more" if len(unseen) > 10 else "")
        warn(logger, "W102", f"dev labels that never occur in train (the model cannot predict them): {shown}")
    return unseen


def alignment_summary(features: Sequence[Any], report: Any) -> dict[str, Any]:
    """Counts for ``metrics.jsonl``: texts, truncated texts, gold spans, spans lost past the cut, issues by reason."""
    reasons = report.reasons or Counter()
    return {
        "texts": len(features),
        "truncated": sum(bool(f.truncated) for f in features),
        "spans": report.n_spans,
        "spans_lost": reasons.get("truncated", 0),
        "issues": dict(sorted(reasons.items())),
    }


def warn_truncation(summary: Mapping[str, Any], part: str, max_length: int) -> str | None:
    """``W101`` with the counts of :func:`alignment_summary`, when any text was truncated."""
    if not summary["truncated"]:
        return None
    return warn(
        logger,
        "W101",
        f"{summary['truncated']} of {summary['texts']} {part} texts are longer than max_length {max_length} subwords "
        f"and were truncated; {summary['spans_lost']} of {summary['spans']} gold spans past the cut were lost",
    )


# --- model settings ---------------------------------------------------------------------------------------

#: Model families whose position ids start after the padding index (RoBERTa's ``padding_idx + 1``).
OFFSET_POSITION_FAMILIES = frozenset(
    {
        "roberta",
        "xlm-roberta",
        "xlm-roberta-xl",
        "camembert",
        "longformer",
        "mpnet",
        "data2vec-text",
        "roberta-prelayernorm",
        "xmod",
        "ibert",
        "luke",
    }
)


def position_limit(config: Mapping[str, Any]) -> int | None:
    """The most tokens an encoder reads, from its ``config.json`` (``None``: no fixed limit).

    ``max_position_embeddings``, less the offset of families whose positions start
    after the padding index (RoBERTa, XLM-R, ...: ``pad_token_id + 1``).

    Example:
        >>> position_limit({"model_type": "roberta", "max_position_embeddings": 514, "pad_token_id": 1})
        512
        >>> position_limit({"model_type": "bert", "max_position_embeddings": 512})
        512
    """
    limit = config.get("max_position_embeddings")
    if not isinstance(limit, int) or isinstance(limit, bool) or config.get("position_biased_input") is False:
        return None
    if config.get("model_type") in OFFSET_POSITION_FAMILIES:
        pad = config.get("pad_token_id")
        limit -= (pad if isinstance(pad, int) else 1) + 1
    return limit


def check_max_length(max_length: int, limit: int | None, *, where: Any = None) -> None:
    """Refuse a ``max_length`` beyond the encoder's position ``limit`` (``E183``; ``None``: no limit)."""
    if limit is not None and max_length > limit:
        raise MrekitError(
            "E183",
            f"max_length {max_length} is more than the encoder reads ({limit} positions)",
            path=where,
            field="max_length",
            hint=f"use a max_length of at most {limit}",
        )


def encoder_position_limit(encoder: Any) -> int | None:
    """The position limit of an encoder named as :class:`~mrekit.pipeline.MREModel` takes it.

    ``None``/``"minilm"`` is the bundled MiniLM (its weights are checked on first use);
    ``None`` comes back for a folder whose ``config.json`` cannot be read or sets no limit
    (loading the encoder reports what is wrong with such a folder).

    Example:
        >>> min(256, encoder_position_limit("tiny-encoder") or 256)  # doctest: +SKIP
        128
    """
    from pathlib import Path

    from mrekit.models.encoder import DEFAULT_ENCODER, resolve_encoder

    folder = resolve_encoder(encoder) if encoder is None or str(encoder) == DEFAULT_ENCODER else Path(encoder)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return position_limit(config) if isinstance(config, dict) else None


# --- model selection -------------------------------------------------------------------------------------

#: The metric ``auto`` selects on, by the levels that the model learns and dev annotates.
AUTO_METRIC = {
    frozenset({"text", "word"}): "frame_accuracy",
    frozenset({"text"}): "text_accuracy",
    frozenset({"word"}): "span_f1",
}


def model_levels(model: JointModel) -> set[str]:
    """The levels a model learns: text with text labels, word with span labels."""
    levels = set()
    if model.has_text:
        levels.add("text")
    if model.has_word and model.config.span_labels:
        levels.add("word")
    return levels


def dev_levels(dev: Sequence[Example]) -> set[str]:
    """The levels a data set annotates."""
    levels = set()
    if any(ex.labels for ex in dev):
        levels.add("text")
    if any(ex.spans is not None for ex in dev):
        levels.add("word")
    return levels


def selection_metric(args: TrainingArguments, model: JointModel, dev: Sequence[Example] | None) -> str | None:
    """The dev metric that picks the best epoch; ``None`` keeps the last epoch.

    Raises:
        MrekitError: ``E183`` for an explicit metric of a level that the model does not
            learn or the dev data does not annotate. ``auto`` falls back to what both have
            and says so (``W104``).
    """
    learned = model_levels(model)
    scored = learned & dev_levels(dev or [])
    chosen = args.selection_metric
    if chosen != "auto":
        for missing, what in (
            (METRIC_LEVELS[chosen] - learned, "this model does not learn"),
            (METRIC_LEVELS[chosen] - scored if dev else set(), "the dev data does not annotate"),
        ):
            if missing:
                raise MrekitError(
                    "E183",
                    f"selection_metric {chosen} needs the {' and '.join(sorted(missing))} level, which {what}",
                    field="selection_metric",
                    hint=f"use auto (here: {AUTO_METRIC.get(frozenset(scored), 'the last epoch')})",
                )
        if not dev:
            warn(logger, "W104", f"selection_metric {chosen} is not used without dev data: the last epoch is kept")
            return None
        return chosen
    metric = AUTO_METRIC.get(frozenset(scored))
    if dev and scored != learned:
        missing = " and ".join(sorted(learned - scored))
        outcome = f"selecting epochs on {metric}" if metric else "the last epoch is kept"
        warn(logger, "W104", f"the dev data does not annotate the {missing} level this model learns: {outcome}")
    return metric


# --- the run's fingerprint -----------------------------------------------------------------------------------


def data_sha256(examples: Sequence[Example] | None) -> str | None:
    """SHA-256 of examples as canonical JSON (sorted keys, one object a line, without ``meta``).

    Example:
        >>> data_sha256([Example("a")]) == data_sha256([Example("a", meta={"line": 3})]) != data_sha256([Example("b")])
        True
    """
    if not examples:
        return None
    digest = hashlib.sha256()
    for example in examples:
        row = example.to_dict()
        row.pop("meta", None)
        row.pop("label_scores", None)
        digest.update(json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def run_fingerprint(
    *,
    arguments: Mapping[str, Any],
    model: Mapping[str, Any],
    labels: Mapping[str, Any],
    encoder: str,
    train: Sequence[Example],
    dev: Sequence[Example] | None,
) -> dict[str, Any]:
    """What makes a run this run, JSON-ready (as it reads back from a checkpoint)."""
    fingerprint = {
        "train": data_sha256(train),
        "dev": data_sha256(dev),
        "arguments": {k: v for k, v in arguments.items() if k not in RUNTIME_SETTINGS},
        "model": dict(model),
        "labels": dict(labels),
        "encoder": encoder,
    }
    return json.loads(json.dumps(fingerprint))


def fingerprint_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between two fingerprints, in words (empty when they match).

    Example:
        >>> fingerprint_differences({"arguments": {"seed": 0}, "train": "a"}, {"arguments": {"seed": 1}, "train": "b"})
        ['the training data', 'seed 0 -> 1']
    """
    out = []
    for key, name in (("train", "the training data"), ("dev", "the dev data")):
        if old.get(key) != new.get(key):
            out.append(
                name + (" (none now)" if new.get(key) is None else " (none before)" if old.get(key) is None else "")
            )
    for key in ("arguments", "model"):
        before, now = old.get(key) or {}, new.get(key) or {}
        out += [
            f"{name} {before.get(name)!r} -> {now.get(name)!r}"
            for name in sorted(set(before) | set(now))
            if before.get(name) != now.get(name)
        ]
    before, now = old.get("labels") or {}, new.get("labels") or {}
    for key, name in (("text", "text labels"), ("spans", "span labels")):
        gone, added = (
            set(before.get(key) or []) - set(now.get(key) or []),
            set(now.get(key) or []) - set(before.get(key) or []),
        )
        if gone or added:
            change = [f"+{x}" for x in sorted(added)] + [f"-{x}" for x in sorted(gone)]
            out.append(f"the {name} ({', '.join(change[:6])}{' ...' if len(change) > 6 else ''})")
    if before.get("multi_label") != now.get("multi_label"):
        out.append(f"multi_label {before.get('multi_label')!r} -> {now.get('multi_label')!r}")
    if old.get("encoder") != new.get("encoder"):
        out.append("the encoder (another folder or encoder_layers)")
    return out


def check_resume(old: Mapping[str, Any] | None, new: Mapping[str, Any], path: Any) -> None:
    """Refuse to resume a run that is not the one in the checkpoint.

    Raises:
        MrekitError: ``E189`` naming what differs (or that the checkpoint has no fingerprint).
    """
    hint = "resume with the same data and settings, or start the run again with mrekit train --overwrite"
    if not isinstance(old, Mapping):
        raise MrekitError(
            "E189", "the checkpoint has no fingerprint of its run (an older mrekit wrote it)", path=path, hint=hint
        )
    differences = fingerprint_differences(old, new)
    if differences:
        raise MrekitError(
            "E189", "this run differs from the interrupted one: " + "; ".join(differences), path=path, hint=hint
        )


def weights_sha256(module: Any) -> str:
    """SHA-256 of a module's weights (names and bytes, in name order)."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
