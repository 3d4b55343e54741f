"""The study's outputs: ``report.json`` (results shape), ``report.md`` and PNG plots."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mrekit.outputs import atomic_file
from mrekit.stats import compute
from mrekit.study.runs import StudyData
from mrekit.study.verdict import REPORTED, combine, run_scores, verdicts

RUN_ORDER = ("text_only", "word_only", "isolated", "shared", "mre", "text_given_gold_words", "words_given_gold_text")


def build_report(
    data: list[StudyData], results: dict[str, dict[str, list]], *, command: str, n_resamples: int = 1000
) -> dict[str, Any]:
    """``{dataset: {run: {metric: {mean, sd, n}}, "verdict": ..., "_ci": ..., "_signal": ..., "_verdict_shared": ...},
    "_meta": ...}``: the results shape, where every key of a data set is a run except ``verdict``
    and the ``_``-prefixed details (bootstrap CIs per run and metric, level co-occurrence, the
    verdicts of ``shared``).

    ``isolated`` is the frame of ``text_only`` and ``word_only`` put together.
    """
    report: dict[str, Any] = {}
    for dataset in data:
        runs = dict(results.get(dataset.name, {}))
        if "text_only" in runs and "word_only" in runs and len(runs["text_only"]) == len(runs["word_only"]):
            runs["isolated"] = [combine(t, w) for t, w in zip(runs["text_only"], runs["word_only"], strict=True)]
        entry: dict[str, Any] = {}
        cis: dict[str, Any] = {}
        for name in RUN_ORDER:
            if name in runs:
                entry[name], cis[name] = run_scores(dataset.test, runs[name], bootstrap=n_resamples)
        entry["verdict"] = verdicts(dataset.test, results.get(dataset.name, {}), n_resamples=n_resamples)
        add_gold_effects(entry)
        # The same tests for plain encoder sharing: the question spaCy and Flair users ask.
        entry["_verdict_shared"] = verdicts(
            dataset.test, results.get(dataset.name, {}), joint="shared", n_resamples=n_resamples
        )
        entry["_ci"] = cis
        entry["_signal"] = compute(dataset.train).mutual_information()
        report[dataset.name] = entry
    report["_meta"] = {
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.machine(),
        "alpha": 0.05,
        "pairing": "test items paired within a seed, pooled over seeds",
    }
    return report


#: Per direction: the gold-conditioned run and the single-level run it is compared with.
GOLD_RUNS = {
    "word_to_text": ("text_given_gold_words", "text_only"),
    "text_to_word": ("words_given_gold_text", "word_only"),
}


def add_gold_effects(entry: dict[str, Any]) -> None:
    """Put each direction's upper bound (gold-conditioned minus alone, mean over seeds) beside its verdict.

    Example:
        >>> entry = {"text_only": {"text_micro_f1": {"mean": 0.90}},
        ...          "text_given_gold_words": {"text_micro_f1": {"mean": 0.95}},
        ...          "verdict": {"word_to_text": {"metric": "text_micro_f1", "effect": 0.01}}}
        >>> add_gold_effects(entry); round(entry["verdict"]["word_to_text"]["gold_effect"], 2)
        0.05
    """
    for direction, (gold, alone) in GOLD_RUNS.items():
        verdict = entry.get("verdict", {}).get(direction)
        if verdict is None:
            continue
        metric = verdict["metric"]
        if metric in entry.get(gold, {}) and metric in entry.get(alone, {}):
            verdict["gold_effect"] = entry[gold][metric]["mean"] - entry[alone][metric]["mean"]


def _verdict_text(v: dict[str, Any]) -> str:
    return f"**{v['verdict']}** ({100 * v['effect']:+.2f} pts, p = {v['p']:.3g})"


def _fmt(cell: dict[str, float] | None) -> str:
    if not cell:
        return "–"
    return f"{100 * cell['mean']:.2f} ± {100 * cell['sd']:.2f}"


def markdown(report: dict[str, Any]) -> str:
    """Tables per data set, the verdicts, and a summary across data sets."""
    lines = ["# MRE study", ""]
    summary = [
        "| data set | MI (bits) | NMI | word → text | text → word | frame (mre vs isolated) |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in report.items():
        if name.startswith("_"):
            continue
        lines += [f"## {name}", "", "| run | " + " | ".join(REPORTED) + " |", "|---|" + "---|" * len(REPORTED)]
        for run in RUN_ORDER:
            if run in entry:
                lines.append(f"| {run} | " + " | ".join(_fmt(entry[run].get(m)) for m in REPORTED) + " |")
        signal = entry.get("_signal", {})
        lines += [
            "",
            f"Level co-occurrence in train: MI {signal.get('mi', 0):.3f} bits, NMI {signal.get('nmi', 0):.3f}.",
            "",
        ]
        cells = []
        for direction in ("word_to_text", "text_to_word", "frame"):
            v = entry["verdict"].get(direction)
            if v is None:
                cells.append("–")
                continue
            text = _verdict_text(v)
            cells.append(text)
            bound = f"; gold-conditioned upper bound {100 * v['gold_effect']:+.2f} pts" if "gold_effect" in v else ""
            lines.append(f"* {direction}: {text}: {v['compares']}{bound}")
        for direction, v in entry.get("_verdict_shared", {}).items():
            lines.append(f"* {direction}, `shared` instead of `mre`: {_verdict_text(v)}")
        lines.append("")
        summary.append(
            f"| {name} | {signal.get('mi', 0):.3f} | {signal.get('nmi', 0):.3f} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines + ["## Summary", "", *summary, ""])


def plot_effects(report: dict[str, Any], path: str | Path) -> None:
    """Effect of the joint model per direction and data set, with bootstrap 95% CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for name, entry in report.items():
        if name.startswith("_"):
            continue
        for direction in ("word_to_text", "text_to_word"):
            v = entry.get("verdict", {}).get(direction)
            if v:
                rows.append((f"{name}\n{direction.replace('_', ' ')}", v))
    colours = {"present": "tab:green", "absent": "tab:gray", "negative": "tab:red"}
    fig, ax = plt.subplots(figsize=(7, 0.6 * max(2, len(rows)) + 1.2))
    for i, (_, v) in enumerate(rows):
        low, high = (100 * x for x in v["ci"])
        ax.plot([low, high], [i, i], color=colours[v["verdict"]], lw=3)
        ax.plot(100 * v["effect"], i, "o", color=colours[v["verdict"]])
        ax.annotate(
            f"{v['verdict']} (p={v['p']:.2g})",
            (100 * v["effect"], i),
            textcoords="offset points",
            xytext=(0, 8),
            ha="center",
            fontsize=7,
        )
    ax.axvline(0, color="black", lw=0.8)
    ax.set_ylim(-0.7, len(rows) - 0.2)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=8)
    ax.set_xlabel("mre minus single level (points), 95% paired-bootstrap CI")
    ax.set_title("Mutual Reinforcement Effect per direction")
    fig.tight_layout()
    _save_png(fig, path)


def plot_levels(report: dict[str, Any], path: str | Path) -> None:
    """Per data set: text accuracy and span F1 of every run (mean ± sd over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in report if not n.startswith("_")]
    fig, axes = plt.subplots(len(names), 2, figsize=(10, 2.8 * max(1, len(names))), squeeze=False)
    for row, name in enumerate(names):
        entry = report[name]
        for col, metric in enumerate(("text_accuracy", "span_f1")):
            runs = [r for r in RUN_ORDER if r in entry and metric in entry[r]]
            means = [100 * entry[r][metric]["mean"] for r in runs]
            sds = [100 * entry[r][metric]["sd"] for r in runs]
            ax = axes[row][col]
            ax.barh(range(len(runs)), means, xerr=sds, color="tab:blue", alpha=0.7)
            ax.set_yticks(range(len(runs)), runs, fontsize=8)
            if means:
                ax.set_xlim(max(0, min(means) - 5), min(100, max(means) + 2))
            ax.set_title(f"{name}: {metric}", fontsize=9)
    fig.tight_layout()
    _save_png(fig, path)


def _save_png(fig: Any, path: str | Path) -> None:
    import matplotlib.pyplot as plt

    try:
        with atomic_file(path, overwrite=True, binary=True) as fh:
            fig.savefig(fh, dpi=120, format="png")
    finally:
        plt.close(fig)


def write_report(report: dict[str, Any], output: str | Path) -> list[Path]:
    """Write ``report.json``, ``report.md``, ``effects.png`` and ``levels.png``; returns their paths."""
    out = Path(output)
    # The report is rebuilt from the cached runs on every call: replacing it is the point.
    with atomic_file(out / "report.json", overwrite=True) as fh:
        fh.write(json.dumps(report, indent=2))
    with atomic_file(out / "report.md", overwrite=True) as fh:
        fh.write(markdown(report))
    plot_effects(report, out / "effects.png")
    plot_levels(report, out / "levels.png")
    return [out / n for n in ("report.json", "report.md", "effects.png", "levels.png")]
