"""The encoder engine's own checks: truncation counts, encoder position limits, the levels a model learns."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mrekit.encoder.backbone import DEFAULT_ENCODER, resolve_encoder
from mrekit.encoder.joint import JointModel
from mrekit.encoder.scripts import SPLITS
from mrekit.errors import MrekitError, warn
from mrekit.pretrained.catalog import CATALOG, encoder_folder

logger = logging.getLogger(__name__)


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


#: Alignment issues by what became of the span: tagged as wider tokens, or not tagged at all.
WIDENED = ("expanded", "trimmed")


def alignment_line(part: str, summary: Mapping[str, Any]) -> str:
    """The alignment report of one part as a line: spans exact / expanded / dropped (by reason).

    Example:
        >>> alignment_line("train", {"spans": 10, "issues": {"expanded": 1, "truncated": 2}})
        'span alignment (train): 7 of 10 exact, 1 expanded to token boundaries, 2 dropped (truncated 2)'
    """
    issues = summary.get("issues") or {}
    widened = sum(n for reason, n in issues.items() if reason in WIDENED)
    dropped = {reason: n for reason, n in issues.items() if reason not in WIDENED}
    exact = summary["spans"] - widened - sum(dropped.values())
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(dropped.items()))
    return (
        f"span alignment ({part}): {exact} of {summary['spans']} exact, {widened} expanded to token boundaries, "
        f"{sum(dropped.values())} dropped" + (f" ({reasons})" if reasons else "")
    )


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
    """The position limit of an encoder named as :class:`~mrekit.encoder.model.MREModel` takes it.

    ``None``/``"minilm"`` is the bundled MiniLM (its weights are checked on first use);
    ``None`` comes back for a folder whose ``config.json`` cannot be read or sets no limit
    (loading the encoder reports what is wrong with such a folder).

    Example:
        >>> min(256, encoder_position_limit("tiny-encoder") or 256)  # doctest: +SKIP
        128
    """
    if encoder is None or str(encoder) == DEFAULT_ENCODER:
        folder = resolve_encoder(encoder)
    elif isinstance(encoder, str) and encoder in CATALOG:
        folder = encoder_folder(encoder)  # not built yet: no limit here, loading says how to build it
    else:
        folder = Path(encoder)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return position_limit(config) if isinstance(config, dict) else None


# --- model selection -------------------------------------------------------------------------------------


# --- the run's fingerprint -----------------------------------------------------------------------------------


def model_levels(model: JointModel) -> set[str]:
    """The levels a model learns: text with text labels, word with span labels."""
    levels = set()
    if model.has_text:
        levels.add("text")
    if model.has_word and model.config.span_labels:
        levels.add("word")
    return levels


def check_model_settings(model: Any) -> None:
    """``E183`` for an ``MREModel`` setting of the wrong type or out of range (the plain ones)."""
    for name, value, ok, what in (
        (
            "max_length",
            model.max_length,
            _is_int(model.max_length) and model.max_length >= 3,
            "an integer of at least 3",
        ),
        ("use_crf", model.use_crf, isinstance(model.use_crf, bool), "true or false"),
        (
            "encoder_layers",
            model.encoder_layers,
            model.encoder_layers is None or (_is_int(model.encoder_layers) and model.encoder_layers >= 1),
            "an integer of at least 1 (or null)",
        ),
        ("encoder", model.encoder, model.encoder is None or isinstance(model.encoder, (str, Path)), "a folder path"),
        (
            "freeze_embeddings",
            model.freeze_embeddings,
            isinstance(model.freeze_embeddings, bool) or model.freeze_embeddings == "auto",
            'true, false or "auto"',
        ),
        (
            "split_cjk",
            model.split_cjk,
            isinstance(model.split_cjk, str) and model.split_cjk in ("auto", *SPLITS),
            "one of auto, runs, chars, none",
        ),
    ):
        if not ok:
            raise MrekitError("E183", f"{name} must be {what}, not {value!r}", field=name)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
