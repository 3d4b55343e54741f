"""The study's outputs: ``report.json`` (results shape), ``report.md`` and PNG plots."""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mrekit.outputs import atomic_file
from mrekit.stats import compute
from mrekit.study.runs import CANDIDATES, StudyData
from mrekit.study.verdict import REPORTED, combine, content_controls, run_scores, verdicts

RUN_ORDER = (
    "text_only",
    "word_only",
    "isolated",
    "shared",
    "mre",
    "mre_enforce",
    "conditioned",
    "conditioned_shuffled",
    "conditioned_neutral",
    "cascade",
    "text_given_gold_words",
    "words_given_gold_text",
)
#: Joint runs with a verdict of their own against the isolated models.
ARMS = (*CANDIDATES, "conditioned_shuffled", "conditioned_neutral")
#: The configuration the study falls back to when no candidate has dev scores for every seed.
DEFAULT_CHOICE = "mre"
CHOICE_METRIC = "frame_accuracy"


def choose_configuration(dev_scores: dict[str, list[dict[str, float]]], available: Sequence[str]) -> dict[str, Any]:
    """The joint configuration with the best mean dev frame accuracy over seeds.

    Only candidates (:data:`~mrekit.study.runs.CANDIDATES`) with test predictions and a dev
    score for every seed compete; with none, :data:`DEFAULT_CHOICE` is compared.

    Example:
        >>> dev = {"mre": [{"frame_accuracy": 0.8}], "conditioned": [{"frame_accuracy": 0.9}]}
        >>> choose_configuration(dev, ["mre", "conditioned"])["run"]
        'conditioned'
        >>> choose_configuration({}, ["mre"])["run"]
        'mre'
    """
    means = {}
    for run in CANDIDATES:
        scores = dev_scores.get(run) or []
        if run in available and scores and all(CHOICE_METRIC in s for s in scores):
            means[run] = sum(s[CHOICE_METRIC] for s in scores) / len(scores)
    if not means:
        return {"run": DEFAULT_CHOICE, "by": f"default: no candidate has dev {CHOICE_METRIC} for every seed"}
    best = max(means, key=lambda r: (means[r], -CANDIDATES.index(r)))
    return {"run": best, "by": f"mean dev {CHOICE_METRIC} over seeds", "dev": means}


def build_report(
    data: list[StudyData],
    results: dict[str, dict[str, list]],
    *,
    command: str,
    n_resamples: int = 1000,
    dev_scores: dict[str, dict[str, list[dict[str, float]]]] | None = None,
) -> dict[str, Any]:
    """``{dataset: {run: {metric: {mean, sd, n}}, "verdict": ..., "_ci": ..., "_signal": ...,
    "_chosen": ..., "_verdict_<arm>": ..., "_controls": ..., "_reading": ...}, "_meta": ...}``: the
    results shape, where every key of a data set is a run except ``verdict`` and the
    ``_``-prefixed details.

    ``verdict`` tests the joint configuration chosen on dev (``_chosen``; its name is in each
    ``compares``) against the isolated models; ``_verdict_<arm>`` the same for every other
    arm; ``_controls`` compares ``conditioned`` with its shuffled and neutral controls.
    ``isolated`` is the frame of ``text_only`` and ``word_only`` put together.
    """
    report: dict[str, Any] = {}
    for dataset in data:
        done = results.get(dataset.name, {})
        runs = dict(done)
        if "text_only" in runs and "word_only" in runs and len(runs["text_only"]) == len(runs["word_only"]):
            runs["isolated"] = [combine(t, w) for t, w in zip(runs["text_only"], runs["word_only"], strict=True)]
        entry: dict[str, Any] = {}
        cis: dict[str, Any] = {}
        for name in RUN_ORDER:
            if name in runs:
                entry[name], cis[name] = run_scores(dataset.test, runs[name], bootstrap=n_resamples)
        chosen = choose_configuration((dev_scores or {}).get(dataset.name, {}), list(done))
        entry["verdict"] = verdicts(dataset.test, done, joint=chosen["run"], n_resamples=n_resamples)
        add_gold_effects(entry)
        entry["_chosen"] = chosen
        for arm in ARMS:
            if arm != chosen["run"] and arm in done:
                entry[f"_verdict_{arm}"] = verdicts(dataset.test, done, joint=arm, n_resamples=n_resamples)
        entry["_controls"] = content_controls(dataset.test, done, n_resamples=n_resamples)
        entry["_reading"] = reading(entry)
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


def reading(entry: dict[str, Any]) -> str:
    """One line: the chosen configuration's frame effect, and what the controls say about its source.

    Example:
        >>> entry = {"_chosen": {"run": "mre"}, "verdict": {"frame": {"effect": 0.01, "p": 0.2, "verdict": "absent"}}}
        >>> reading(entry)
        'mre (chosen on dev) vs isolated: frame accuracy +1.00 pts, absent (p = 0.2).'
    """
    chosen = entry.get("_chosen", {}).get("run", DEFAULT_CHOICE)
    frame = entry.get("verdict", {}).get("frame")
    line = f"{chosen} (chosen on dev) vs isolated: "
    if frame:
        line += f"frame accuracy {100 * frame['effect']:+.2f} pts, {frame['verdict']} (p = {frame['p']:.2g})."
    else:
        line += "no frame test."
    controls = entry.get("_controls", {})
    shuffled, neutral = (controls.get(k, {}).get("frame") for k in ("vs_shuffled", "vs_neutral"))
    if shuffled and neutral:
        if shuffled["verdict"] == "present" and neutral["verdict"] == "present":
            source = "its gain over both controls is content"
        elif neutral["verdict"] != "present" and shuffled["verdict"] != "present":
            source = "no gain over either control: what conditioning does, the format alone does too"
        else:
            source = "a gain over one control only: content and format not separated"
        line += (
            f" Conditioned vs shuffled {100 * shuffled['effect']:+.2f} (p = {shuffled['p']:.2g}),"
            f" vs neutral {100 * neutral['effect']:+.2f} (p = {neutral['p']:.2g}): {source}."
        )
    return line


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
        "| data set | MI (bits) | NMI | word → text | text → word | frame (chosen vs isolated) |",
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
        chosen = entry.get("_chosen", {}).get("run", DEFAULT_CHOICE)
        for arm in ARMS:
            for direction, v in entry.get(f"_verdict_{arm}", {}).items():
                lines.append(f"* {direction}, `{arm}` instead of `{chosen}`: {_verdict_text(v)}")
        for key, control in entry.get("_controls", {}).items():
            for level in ("text", "word", "frame"):
                if level in control:
                    lines.append(f"* control {key}, {level}: {_verdict_text(control[level])} ({control['compares']})")
        if "_reading" in entry:
            lines += ["", f"Reading: {entry['_reading']}"]
        lines.append("")
        cells[-1] = f"{chosen}: {cells[-1]}"
        summary.append(
            f"| {name} | {signal.get('mi', 0):.3f} | {signal.get('nmi', 0):.3f} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines + ["## Summary", "", *summary, ""])


def arm_verdicts(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every arm's verdicts in one dict: the chosen configuration's and the ``_verdict_<arm>`` ones.

    Example:
        >>> arm_verdicts({"_chosen": {"run": "mre"}, "verdict": {"frame": {}}, "_verdict_shared": {}})
        {'mre': {'frame': {}}, 'shared': {}}
    """
    out = {entry.get("_chosen", {}).get("run", DEFAULT_CHOICE): entry.get("verdict", {})}
    for arm in ARMS:
        if f"_verdict_{arm}" in entry:
            out[arm] = entry[f"_verdict_{arm}"]
    return out


def plot_effects(report: dict[str, Any], path: str | Path) -> None:
    """Per data set and direction, every arm's effect against the single-level model, with 95% CIs.

    A filled marker is significant (p < 0.05); the chosen configuration is named in its row label.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for name, entry in report.items():
        if name.startswith("_"):
            continue
        arms = arm_verdicts(entry)
        chosen = entry.get("_chosen", {}).get("run", DEFAULT_CHOICE)
        for direction in ("word_to_text", "text_to_word"):
            found = {arm: v[direction] for arm, v in arms.items() if direction in v}
            if found:
                rows.append((f"{name}\n{direction.replace('_', ' ')}\n(chosen: {chosen})", found))
    order = [a for a in RUN_ORDER if any(a in found for _, found in rows)]
    colours = dict(zip(order, plt.get_cmap("tab10").colors, strict=False))
    fig, ax = plt.subplots(figsize=(8, 0.9 * max(2, len(rows)) + 1.4))
    width = 0.7 / max(1, len(order))
    for i, (_, found) in enumerate(rows):
        for k, arm in enumerate(order):
            if arm not in found:
                continue
            v = found[arm]
            y = i - 0.35 + (k + 0.5) * width
            low, high = (100 * x for x in v["ci"])
            ax.plot([low, high], [y, y], color=colours[arm], lw=2)
            significant = v["verdict"] != "absent"
            ax.plot(100 * v["effect"], y, "o", color=colours[arm], mfc=colours[arm] if significant else "white", ms=5)
    for arm in order:
        ax.plot([], [], "o-", color=colours[arm], label=arm)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=7)
    ax.set_xlabel("joint arm minus single level (points), 95% paired-bootstrap CI; filled: p < 0.05")
    ax.set_title("Mutual Reinforcement Effect per direction and arm")
    ax.legend(fontsize=7, loc="best")
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
