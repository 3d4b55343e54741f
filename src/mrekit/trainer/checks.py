"""Checks around a training run: its data, model selection, and the run's fingerprint.

The fingerprint of a run (SHA-256 of its train and dev data as canonical JSON, its
training arguments, model settings, label space and initial weights) is stored in
the checkpoint; ``resume`` refuses a run that differs from it (``E189``) and names
what differs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from mrekit.errors import MrekitError, warn
from mrekit.schema import Example
from mrekit.trainer.arguments import METRIC_LEVELS, RUNTIME_SETTINGS

logger = logging.getLogger(__name__)


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


#: The metric ``auto`` selects on, by the levels that the model learns and dev annotates.
AUTO_METRIC = {
    frozenset({"text", "word"}): "frame_accuracy",
    frozenset({"text"}): "text_accuracy",
    frozenset({"word"}): "span_f1",
}


def dev_levels(dev: Sequence[Example]) -> set[str]:
    """The levels a data set annotates."""
    levels = set()
    if any(ex.labels for ex in dev):
        levels.add("text")
    if any(ex.spans is not None for ex in dev):
        levels.add("word")
    return levels


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


def data_facts(train: Sequence[Example], dev: Sequence[Example] | None) -> dict[str, Any]:
    """Sizes and hashes of a run's data, for the model folder's manifest and model card.

    Example:
        >>> data_facts([Example("a")], None)["train"]["examples"]
        1
    """
    facts = {"train": {"examples": len(train), "sha256": data_sha256(train)}}
    if dev:
        facts["dev"] = {"examples": len(dev), "sha256": data_sha256(dev)}
    return facts


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


def choose_metric(chosen: str, learned: set[str], dev: Sequence[Example] | None) -> str | None:
    """The dev metric that picks the best epoch; ``None`` keeps the last epoch.

    Args:
        chosen: The ``selection_metric`` setting (``auto`` or a metric of :data:`METRIC_LEVELS`).
        learned: The levels the model learns (``text``, ``word``).
        dev: The dev examples, if any.

    Raises:
        MrekitError: ``E183`` for an explicit metric of a level that the model does not
            learn or the dev data does not annotate. ``auto`` falls back to what both have
            and says so (``W104``).
    """
    scored = learned & dev_levels(dev or [])
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
        kind = "relations" if chosen.startswith("relation") else "events"
        if chosen.startswith(("relation", "event")) and not any(getattr(ex, kind) for ex in dev):
            raise MrekitError(
                "E183",
                f"selection_metric {chosen} needs dev data with {kind}; this dev data has none",
                field="selection_metric",
                hint="use auto",
            )
        return chosen
    metric = AUTO_METRIC.get(frozenset(scored))
    if dev and scored != learned:
        missing = " and ".join(sorted(learned - scored))
        outcome = f"selecting epochs on {metric}" if metric else "the last epoch is kept"
        warn(logger, "W104", f"the dev data does not annotate the {missing} level this model learns: {outcome}")
    return metric


#: The order in which dev metrics break a tie of the selection metric (the selection metric itself is skipped).
TIE_ORDER = (
    "frame_accuracy",
    "text_accuracy",
    "span_f1",
    "pair_f1",
    "span_attr_f1",
    "label_attr_f1",
    "relation_f1",
    "event_argument_f1",
    "event_trigger_f1",
    "format_accuracy",
    "text_macro_f1",
    "text_micro_f1",
    "span_recall",
    "span_precision",
    "pair_recall",
    "pair_precision",
)


def selection_key(dev: Mapping[str, Any], metric: str) -> tuple[float, ...]:
    """What ranks an epoch's dev scores: higher is better, compared left to right.

    The selection metric first, then the other dev metrics in :data:`TIE_ORDER`
    (for ``frame_accuracy``: text accuracy, then span F1, ...), then a lower dev
    ``loss`` when the engine reports one. A metric dev lacks counts as -inf. When the
    keys of two epochs are equal, the loop keeps the later epoch.

    Example:
        >>> selection_key({"frame_accuracy": 0.0, "text_accuracy": 0.6, "span_f1": 0.2}, "frame_accuracy")
        (0.0, 0.6, 0.2)
        >>> selection_key({"span_f1": 0.5, "loss": 0.25}, "span_f1")
        (0.5, -0.25)
    """
    names = [metric, *(name for name in TIE_ORDER if name != metric and name in dev)]
    key = [_score(dev.get(name)) for name in names]
    if dev.get("loss") is not None:
        key.append(-float(dev["loss"]))
    return tuple(key)


def _score(value: Any) -> float:
    return float("-inf") if value is None else float(value)
