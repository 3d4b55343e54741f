"""Default training budget: the old 5 epochs against ``epochs="auto"`` on small subsets.

For each data set (SNIPS, ATIS, SemEval-2014 restaurants, Stockmark Japanese; data and
splits as in bench/configs/<name>.toml) trains a model in the config's mode (``mre``;
Stockmark is word level only, ``isolated``) with the bundled MiniLM, seed 0, 2 threads and
every training setting at its default, on 100 and 1,000 training texts (a seeded sample of
train), selecting on the first 200 dev texts and scoring the full test split, once with
``epochs=5`` (the old default, no early stopping) and once with ``epochs="auto"`` (its
early stopping included). The full data sets are not retrained: their committed numbers are in
bench/results/joint.json (their configs set epochs explicitly); this script lists the
budget ``auto`` would choose for them next to the old default's.

    bench/results/budget.json   {dataset: {method: {metric: {mean, sd, n}}}, "_meta": {..., runs, full_sets}}
    bench/results/budget.md     the same as markdown tables

Usage (from the repository root, with ../shared/data beside it):

    .venv/bin/python bench/budget.py                  # everything (about an hour on 2 cores)
    .venv/bin/python bench/budget.py --datasets atis --sizes 100

The rule's constants (mrekit.trainer.budget) are judged on dev; test is reported only.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import shutil
import time
from pathlib import Path
from typing import Any

from _common import run_meta
from joint import DATASETS, bench_config, load_dataset, word_only

from mrekit.encoder.model import MREModel
from mrekit.metrics import evaluate, summarize
from mrekit.outputs import atomic_file
from mrekit.trainer import TrainingArguments, read_log
from mrekit.trainer.budget import MAX_EPOCHS, MIN_EPOCHS, MIN_STEPS, resolve_budget

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
RUNS = ROOT / "runs"
METRICS = ("span_f1", "text_accuracy", "frame_accuracy")
#: Full training sets and the batch size of their committed recipes (bench/configs), for the budget table.
FULL_SETS = {"snips": 32, "atis": 32, "semeval14_restaurants": 16, "stockmark_ja": 32}


def load(name: str, data: Path) -> tuple[list, list, list]:
    """A data set's train, the first 200 dev texts, and test (as bench/configs/<name>.toml reads them)."""
    train, dev, test = load_dataset(name, data)
    return list(train), list(dev)[:200], list(test)


def model_settings(name: str) -> dict[str, Any]:
    """The config's mode and levels (the encoder stays the bundled default)."""
    config = bench_config(name)
    return {"mode": "isolated" if word_only(config) else "mre", "levels": list(config.get("levels", ["text", "word"]))}


def run_one(name: str, train: list, dev: list, test: list, epochs: int | str, size: int) -> dict[str, Any]:
    """Train one budget on ``train``; the run's record (dev of the best epoch, test, steps, minutes)."""
    args = TrainingArguments(epochs=epochs, seed=0, threads=2)
    started = time.perf_counter()
    out = RUNS / f"budget-{name}-{size}-{epochs}"  # kept: an unfinished run's metrics.jsonl can be read
    shutil.rmtree(out, ignore_errors=True)
    model = MREModel(**model_settings(name)).fit(train, dev, args=args, output_dir=out, overwrite=True)
    minutes = (time.perf_counter() - started) / 60
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    best = read_log(out)
    scores = evaluate(test, model.predict([ex.text for ex in test]), bootstrap=0)
    return {
        "dataset": name,
        "train_examples": size,
        "epochs_setting": epochs,
        "epochs_run": len(log),
        "best_epoch": best.get("epoch"),
        "steps": log[-1]["steps"],
        "finished": log[-1].get("finished"),
        "train_minutes": round(minutes, 2),
        "dev": {m: best.get("dev", {}).get(m) for m in METRICS},
        "test": {m: scores.get(m) for m in METRICS},
    }


def full_sets(joint: dict[str, Any]) -> list[dict[str, Any]]:
    """The committed full-set numbers (mre, or the set's only mode) and the budget ``auto`` would choose."""
    rows = []
    sizes = joint.get("_meta", {}).get("train_sizes", {})
    recipes = joint.get("_meta", {}).get("recipes", {})
    for name, batch in FULL_SETS.items():
        cells = joint.get(name, {})
        cell = cells.get("mre") or cells.get("isolated") or {}
        size = sizes.get(name) or _train_size(name)
        epochs = recipes.get(name, {}).get("epochs")
        auto = resolve_budget(epochs="auto", patience="auto", batch_size=batch, max_steps=None, examples=size)
        per_epoch = math.ceil(size / batch)
        rows.append(
            {
                "set": name,
                "train_examples": size,
                "recipe_epochs": epochs,
                "recipe_steps": per_epoch * epochs if epochs else None,
                "old_default_steps": per_epoch * 5,
                "auto_epochs": auto.epochs,
                "auto_steps": auto.total_steps,
                "test": {m: (cell.get(m) or {}).get("mean") for m in METRICS},
                "train_minutes": (cell.get("train_minutes") or {}).get("mean"),
            }
        )
    return rows


#: Training texts of the full sets as bench/joint.py trains them (SemEval: 90% of train; Stockmark: 80% of all).
KNOWN_SIZES = {"snips": 13084, "atis": 4478, "semeval14_restaurants": 2737, "stockmark_ja": 4274}


def _train_size(name: str) -> int:
    return KNOWN_SIZES[name]


def markdown(result: dict[str, Any]) -> str:
    """budget.md: the runs, then the full sets."""
    lines = [
        '# Default training budget: 5 epochs vs `epochs="auto"`',
        "",
        f"Rule: enough epochs for {MIN_STEPS} optimisation steps, {MIN_EPOCHS} to {MAX_EPOCHS} epochs, "
        "early stop after max(3, a fifth of the epochs) epochs without dev improvement. Mode mre "
        "(Stockmark: word level only), bundled MiniLM, seed 0, 2 threads, the default lr 1e-4 and batch 32; "
        "dev = first 200 dev texts (selection), test = full test split. Minutes are wall-clock on a "
        "2-core machine, some of them shared with other work.",
        "",
        *([f"Status: {result['status']}", ""] if result.get("status") else []),
        "| set | train texts | epochs | epochs run (best) | steps | minutes | dev frame acc (span F1) "
        "| test span F1 | test text acc | test frame acc |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        test, dev = run["test"], run["dev"]
        selected = dev["frame_accuracy"] if dev.get("frame_accuracy") is not None else dev.get("span_f1")
        lines.append(
            f"| {run.get('dataset', 'snips')} | {run['train_examples']} | {run['epochs_setting']} "
            f"| {run['epochs_run']} ({run['best_epoch']}) "
            f"| {run['steps']} | {run['train_minutes']:.1f} | {_pct(selected)} "
            f"| {_pct(test['span_f1'])} | {_pct(test['text_accuracy'])} | {_pct(test['frame_accuracy'])} |"
        )
    lines += [
        "",
        "Full sets (not retrained: committed bench/results/joint.json, recipes with explicit epochs):",
        "",
        "| set | train texts | recipe epochs (steps) | old default steps | auto epochs (steps) | test span F1 "
        "| test text acc | test frame acc |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["full_sets"]:
        test = row["test"]
        lines.append(
            f"| {row['set']} | {row['train_examples']} | {row['recipe_epochs']} ({row['recipe_steps']}) "
            f"| {row['old_default_steps']} | {row['auto_epochs']} ({row['auto_steps']}) | {_pct(test['span_f1'])} "
            f"| {_pct(test['text_accuracy'])} | {_pct(test['frame_accuracy'])} |"
        )
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def cells(result: dict[str, Any]) -> dict[str, Any]:
    """The results file: ``{dataset: {method: {metric: {mean, sd, n}}}, "_meta": {...}}``.

    The datasets are the subsets (``snips_100``, ``atis_1000``); the methods the budgets (``epochs=5``,
    ``epochs=auto``); the run records themselves and the full sets go under ``_meta``.
    """
    out: dict[str, Any] = {}
    for run in result["runs"]:
        cell = {f"test_{k}": summarize([v]) for k, v in run["test"].items()}
        cell |= {f"dev_{k}": summarize([v]) for k, v in run["dev"].items()}
        cell |= {k: summarize([run[k]]) for k in ("steps", "epochs_run", "best_epoch", "train_minutes")}
        out.setdefault(f"{run.get('dataset', 'snips')}_{run['train_examples']}", {})[
            f"epochs={run['epochs_setting']}"
        ] = cell
    out["_meta"] = {**result["_meta"], "runs": result["runs"], "full_sets": result["full_sets"]}
    return out


def write(result: dict[str, Any]) -> None:
    """Write budget.json (see :func:`cells`) and budget.md."""
    with atomic_file(RESULTS / "budget.json", overwrite=True) as fh:
        fh.write(json.dumps(cells(result), indent=2) + "\n")
    with atomic_file(RESULTS / "budget.md", overwrite=True) as fh:
        fh.write(markdown(result))


def main() -> None:
    """Run the budgets and write the results after each run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent.parent / "shared" / "data")
    parser.add_argument("--datasets", nargs="+", default=list(FULL_SETS), choices=list(FULL_SETS))
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--rerun", action="store_true", help="rerun the runs already in budget.json")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("mrekit.trainer.progress").setLevel(logging.INFO)
    joint = json.loads((RESULTS / "joint.json").read_text())
    rule = [MIN_STEPS, MIN_EPOCHS, MAX_EPOCHS]
    command = (
        f"python bench/budget.py --datasets {' '.join(options.datasets)} --sizes {' '.join(map(str, options.sizes))}"  # noqa: E501
    )
    done = {} if options.rerun else _earlier_runs(rule)
    result: dict[str, Any] = {
        "runs": [],
        "full_sets": full_sets(joint),
        "_meta": run_meta(command, rule=rule),
    }
    for name in options.datasets:
        train, dev, test = load(name, options.data)
        for size in options.sizes:
            subset = random.Random(0).sample(train, size)
            for epochs in (5, "auto"):
                run = done.pop((name, size, epochs), None)
                result["runs"].append(run or run_one(name, subset, dev, test, epochs, size))
                # Runs of data sets and sizes not asked for this time stay in the file.
                write({**result, "runs": _ordered(result["runs"] + list(done.values()))})


def _ordered(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        runs,
        key=lambda r: (DATASETS.index(r.get("dataset", "snips")), r["train_examples"], r["epochs_setting"] == "auto"),
    )


def _earlier_runs(rule: list[int]) -> dict[tuple[str, int, Any], dict[str, Any]]:
    """The committed runs by (data set, size, epochs); ``auto`` runs only if made under the same rule."""
    path = RESULTS / "budget.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    meta = data.get("_meta", {})
    runs = meta.get("runs", data.get("runs", []))
    same_rule = meta.get("rule") == rule
    return {
        (run.get("dataset", "snips"), run["train_examples"], run["epochs_setting"]): run
        for run in runs
        if run["epochs_setting"] != "auto" or same_rule
    }


if __name__ == "__main__":
    main()
