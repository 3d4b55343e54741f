"""Scores per run, paired tests between joint and single-level runs, and the MRE verdicts.

Direction ``word_to_text``: does the word level help the text level? Compare the
text level of ``mre`` with ``text_only`` (paired bootstrap on text micro-F1,
which is accuracy for single-label data). Direction ``text_to_word``: compare
the span F1 of ``mre`` with ``word_only`` (paired bootstrap on span F1). Frame
accuracy of ``mre`` against the two isolated runs combined is tested with
McNemar's exact test. Items are paired within a seed and pooled over seeds.

A direction's verdict is ``present`` when the effect is positive with p < alpha,
``negative`` when it is negative with p < alpha, and ``absent`` otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from mrekit.metrics import evaluate, mcnemar, paired_bootstrap, summarize
from mrekit.schema import Example

#: Metrics reported per run (fractions in [0, 1]).
REPORTED = (
    "text_accuracy",
    "text_micro_f1",
    "text_macro_f1",
    "span_f1",
    "pair_f1",
    "span_attr_f1",
    "label_attr_f1",
    "relation_f1",
    "event_argument_f1",
    "frame_accuracy",
)
DIRECTIONS = {
    "word_to_text": ("text_only", "text_micro_f1", "text accuracy / micro-F1 of {joint} vs text_only"),
    "text_to_word": ("word_only", "span_f1", "span F1 of {joint} vs word_only"),
    # With attributes (ABSA polarity): does the other level help the polarity of this one?
    "word_to_label_attrs": ("text_only", "label_attr_f1", "label+attribute F1 of {joint} vs text_only"),
    "text_to_span_attrs": ("word_only", "span_attr_f1", "span+attribute F1 of {joint} vs word_only"),
    # With relations / events (ADE, PHEE): does the text label help the structures?
    "text_to_relations": ("word_only", "relation_f1", "relation F1 of {joint} vs word_only"),
    "text_to_events": ("word_only", "event_argument_f1", "event argument F1 of {joint} vs word_only"),
}


def combine(text_preds: Sequence[Example], word_preds: Sequence[Example]) -> list[Example]:
    """Frames of the two isolated runs: text labels from one, spans from the other."""
    return [
        Example(
            t.text,
            id=t.id,
            labels=t.labels,
            label_scores=t.label_scores,
            label_attrs=t.label_attrs,
            label_attr_scores=t.label_attr_scores,
            spans=w.spans,
        )
        for t, w in zip(text_preds, word_preds, strict=True)
    ]


def pool(per_seed: Sequence[Sequence[Example]]) -> list[Example]:
    """Concatenate the seeds' lists without ids, so the pooled copies pair by position.

    Example:
        >>> [e.id for e in pool([[Example("a", id="1")], [Example("a", id="1")]])]
        [None, None]
    """
    return [replace(ex, id=None) for examples in per_seed for ex in examples]


def run_scores(
    gold: Sequence[Example], per_seed: Sequence[Sequence[Example]], *, bootstrap: int = 1000
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Mean ± sd over seeds of each reported metric, and the bootstrap CI of each over the pooled seeds."""
    reports = [evaluate(list(gold), list(preds), bootstrap=0) for preds in per_seed]
    predicted = _predicted_metrics(per_seed)
    out: dict[str, Any] = {}
    for metric in predicted:
        summary = summarize([r.get(metric) for r in reports])
        if summary is not None:
            out[metric] = summary
    pooled = evaluate(pool([gold] * len(per_seed)), pool(per_seed), bootstrap=bootstrap)
    return out, {k: v for k, v in (pooled.get("ci") or {}).items() if k in predicted}


def _predicted_metrics(per_seed: Sequence[Sequence[Example]]) -> list[str]:
    # A single-level run says nothing about the other level: report only what it predicts.
    has_text = any(p.labels for preds in per_seed for p in preds)
    has_word = any(p.spans is not None for preds in per_seed for p in preds)
    keep = {"text_accuracy", "text_micro_f1", "text_macro_f1"} if has_text else set()
    keep |= {"span_f1", "pair_f1", "span_attr_f1", "relation_f1", "event_argument_f1"} if has_word else set()
    keep |= {"label_attr_f1"} if has_text else set()
    keep |= {"frame_accuracy"} if has_text and has_word else set()
    return [m for m in REPORTED if m in keep]


def verdict_of(effect: float, p_value: float, alpha: float) -> str:
    """``present`` / ``negative`` / ``absent`` from a signed effect and its p-value.

    Example:
        >>> verdict_of(0.01, 0.003, 0.05), verdict_of(-0.02, 0.01, 0.05), verdict_of(0.01, 0.2, 0.05)
        ('present', 'negative', 'absent')
    """
    if p_value < alpha and effect > 0:
        return "present"
    if p_value < alpha and effect < 0:
        return "negative"
    return "absent"


def verdicts(
    gold: Sequence[Example],
    results: dict[str, list[list[Example]]],
    *,
    joint: str = "mre",
    alpha: float = 0.05,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The verdict per direction (and the frame-level McNemar test) for one data set.

    Args:
        gold: Test examples.
        results: ``{run: [predictions per seed]}``; needs ``joint`` and the single-level runs.
        joint: The joint run to test.
        alpha: Significance level.
        n_resamples: Paired bootstrap resamples.
        seed: Bootstrap seed.

    Returns:
        ``{"word_to_text": {"effect", "p", "verdict", ...}, "text_to_word": {...}, "frame": {...}}``;
        a direction whose runs are missing, or whose level the data lacks, is left out.
    """
    out: dict[str, Any] = {}
    if joint not in results:
        return out
    seeds = len(results[joint])
    pooled_gold = pool([gold] * seeds)
    joint_preds = pool(results[joint])
    for direction, (alone, metric, what) in DIRECTIONS.items():
        if alone not in results or len(results[alone]) != seeds:
            continue
        alone_preds = pool(results[alone])
        try:
            test = paired_bootstrap(
                pooled_gold, alone_preds, joint_preds, metric=metric, n_resamples=n_resamples, seed=seed
            )
        except ValueError:  # the data does not annotate this level
            continue
        out[direction] = {
            "effect": test.delta,
            "p": test.p_value,
            "ci": test.ci,
            "verdict": verdict_of(test.delta, test.p_value, alpha),
            "metric": metric,
            "compares": what.format(joint=joint),
        }
    if all(r in results and len(results[r]) == seeds for r in ("text_only", "word_only")):
        isolated = pool([combine(t, w) for t, w in zip(results["text_only"], results["word_only"], strict=True)])
        test = mcnemar(pooled_gold, isolated, joint_preds, level="frame")
        a = evaluate(pooled_gold, isolated, bootstrap=0)["frame_accuracy"]
        b = evaluate(pooled_gold, joint_preds, bootstrap=0)["frame_accuracy"]
        if a is not None and b is not None:
            out["frame"] = {"effect": b - a, "p": test.p_value, "verdict": verdict_of(b - a, test.p_value, alpha)}
            out["frame"].update(b=test.b, c=test.c, compares=f"frame accuracy of {joint} vs text_only + word_only")
    return out


#: The content controls: conditioned training against the same format with other content.
CONTROLS = {"vs_shuffled": "conditioned_shuffled", "vs_neutral": "conditioned_neutral"}
#: The level metrics a control compares (frame accuracy is tested with McNemar).
CONTROL_METRICS = {"text": "text_micro_f1", "word": "span_f1"}


def compare_runs(
    gold: Sequence[Example],
    a: Sequence[Sequence[Example]],
    b: Sequence[Sequence[Example]],
    *,
    alpha: float = 0.05,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """``b`` minus ``a`` on each level (paired bootstrap) and on frame accuracy (McNemar), pooled over seeds.

    Returns:
        ``{"text": {...}, "word": {...}, "frame": {...}}``, each with ``effect``, ``p`` and
        ``verdict``; a level the data lacks is left out.
    """
    pooled_gold, pa, pb = pool([gold] * len(a)), pool(a), pool(b)
    out: dict[str, Any] = {}
    for level, metric in CONTROL_METRICS.items():
        try:
            test = paired_bootstrap(pooled_gold, pa, pb, metric=metric, n_resamples=n_resamples, seed=seed)
        except ValueError:  # the data does not annotate this level
            continue
        out[level] = {
            "metric": metric,
            "effect": test.delta,
            "p": test.p_value,
            "ci": test.ci,
            "verdict": verdict_of(test.delta, test.p_value, alpha),
        }
    fa = evaluate(pooled_gold, pa, bootstrap=0)["frame_accuracy"]
    fb = evaluate(pooled_gold, pb, bootstrap=0)["frame_accuracy"]
    if fa is not None and fb is not None:
        test = mcnemar(pooled_gold, pa, pb, level="frame")
        out["frame"] = {"effect": fb - fa, "p": test.p_value, "verdict": verdict_of(fb - fa, test.p_value, alpha)}
    return out


def content_controls(
    gold: Sequence[Example], results: dict[str, list[list[Example]]], *, n_resamples: int = 1000
) -> dict[str, Any]:
    """``conditioned`` against each control run: is its effect content (a gain over the controls) or format?

    Example:
        >>> content_controls([], {})
        {}
    """
    out: dict[str, Any] = {}
    base = results.get("conditioned")
    for key, control in CONTROLS.items():
        if base and control in results and len(results[control]) == len(base):
            out[key] = compare_runs(gold, results[control], base, n_resamples=n_resamples)
            out[key]["compares"] = f"conditioned minus {control}"
    return out
