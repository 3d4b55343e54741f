"""Relations and events: CoNLL04, ADE (10 folds) and PHEE with the joint encoder model.

Each run trains one model on one data set (the recipe of bench/configs/<name>.toml), selects the
epoch on dev, and scores test as the papers do (:mod:`mrekit.metrics.structure`):

* CoNLL04 and ADE: ``entity_f1`` (strict spans), ``relation_f1`` (strict: both spans' offsets and
  types + the relation type, micro), ``relation_f1_macro`` (mean over relation types, as SpERT),
  ``relation_boundary_f1`` (entity types ignored). ADE is reported as the mean over folds
  (``--folds``; the published numbers average all ten), on the tokenised fold text as published.
* PHEE: ``trigger_f1`` (offsets + event type), ``argument_f1`` and ``main_argument_f1`` (PHEE's
  main arguments Subject / Treatment / Effect, exact offsets + role + event type), the event type
  at the text level (``text_accuracy``) and ``frame_accuracy``. The model trains on the *main*
  arguments: the sub-arguments (``Treatment.Drug``, ...) nest inside them, and BIO tags hold one
  span per token (documented difference from the paper, which extracts both).

    bench/results/structures_runs/<dataset>[-fold<k>]-<method>-<seed>.json   one file per run
    bench/results/structures.json   {dataset: {method: {metric: {mean, sd, n}}}, "_meta": ...}
    bench/results/structures.md     the same as a table, next to the published numbers

Usage (from the repository root, ../shared/data beside it):

    .venv/bin/python bench/structures.py --datasets conll04 phee --seeds 0 1 2
    .venv/bin/python bench/structures.py --datasets ade --folds 0 1 2 3 4 5 6 7 8 9
    .venv/bin/python bench/structures.py --aggregate-only
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from _common import cell_text, run_meta, write_results
from joint import bench_config, locate

from mrekit.datasets import read_data
from mrekit.encoder.model import MREModel
from mrekit.metrics import evaluate, summarize
from mrekit.outputs import atomic_file
from mrekit.runtime import device_name
from mrekit.schema import Event, Example
from mrekit.trainer import TrainingArguments, read_log

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
RUNS = RESULTS / "structures_runs"
DATASETS = ("conll04", "ade", "phee")
METHODS = ("minilm", "multilingual-e5-small")
#: Our metric name -> mrekit.metrics.evaluate's key.
METRICS = {
    "entity_f1": "span_f1",
    "relation_f1": "relation_f1",
    "relation_f1_macro": "relation_f1_macro",
    "relation_boundary_f1": "relation_boundary_f1",
    "trigger_f1": "event_trigger_f1",
    "argument_f1": "event_argument_f1",
    "main_argument_f1": "event_main_argument_f1",
    "text_accuracy": "text_accuracy",
    "frame_accuracy": "frame_accuracy",
}
#: Published numbers (test; base-size encoders). Check each protocol before comparing.
PUBLISHED = {
    "conll04": {
        "entity_f1": 88.94,
        "relation_f1": 71.47,
        "relation_f1_macro": 72.87,
        "_source": "SpERT (BERT-base; final run trained on train+dev), Eberts & Ulges 2020",
    },
    "ade": {
        "entity_f1": 89.28,
        "relation_f1_macro": 78.84,
        "_source": "SpERT (BERT-base), 10-fold macro; PFN 89.6 / 80.0",
    },
    "phee": {
        "trigger_f1": 70.09,
        "main_argument_f1": 68.60,
        "_source": "PHEE paper's best baselines (Sun et al. 2022)",
    },
}


def main_arguments_only(examples: list[Example]) -> list[Example]:
    """PHEE without sub-arguments (span labels with a ``.``) and the Combination events built on them."""
    out = []
    for ex in examples:
        keep = [i for i, s in enumerate(ex.spans or []) if "." not in s.label]
        index = {old: new for new, old in enumerate(keep)}
        events = [
            Event(index[e.trigger], e.type, tuple((r, index[i]) for r, i in e.args if "." not in r and i in index))
            for e in ex.events
            if e.trigger in index
        ]
        spans = None if ex.spans is None else [ex.spans[i] for i in keep]
        out.append(Example(ex.text, id=ex.id, labels=list(ex.labels), spans=spans, events=events, meta=dict(ex.meta)))
    return out


def splits(name: str, data: Path, fold: int | None) -> tuple[list[Example], list[Example], list[Example]]:
    overrides = {}
    if name == "ade" and fold is not None:
        for part, kind in (("train", "train"), ("dev", "train"), ("test", "test")):
            overrides[f"{part}.path"] = f"../shared/data/ade/folds/ade_split_{fold}_{kind}.json"
    config = bench_config(name, overrides)
    parts = [list(read_data(locate(config[p], data), field=p)) for p in ("train", "dev", "test")]
    if name == "phee":
        parts = [main_arguments_only(p) for p in parts]
    return parts[0], parts[1], parts[2]


def run_name(name: str, method: str, seed: int, fold: int | None) -> str:
    return f"{name}{f'-fold{fold}' if fold is not None else ''}-{method}-{seed}"


def run_one(name: str, method: str, seed: int, data: Path, fold: int | None, threads: int | None) -> dict[str, Any]:
    config = bench_config(name)
    train, dev, test = splits(name, data, fold)
    recipe = dict(config["training"]) | {"seed": seed, "threads": threads}
    settings = {
        "mode": config.get("mode", "mre"),
        "levels": list(config.get("levels", ["text", "word"])),
        "max_length": config.get("max_length", 128),
        "encoder": None if method == "minilm" else method,
    }
    out = ROOT / "runs" / f"structures-{run_name(name, method, seed, fold)}"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    model = MREModel(**settings).fit(train, dev, args=TrainingArguments(**recipe), output_dir=out, overwrite=True)
    minutes = (time.perf_counter() - started) / 60
    best = read_log(out)
    started = time.perf_counter()
    predictions = model.predict([ex.text for ex in test])
    seconds = time.perf_counter() - started
    scores = evaluate(test, predictions, bootstrap=1000, seed=seed)
    dev_scores = evaluate(dev, model.predict([ex.text for ex in dev]), bootstrap=0)
    return {
        "dataset": name,
        "fold": fold,
        "method": method,
        "seed": seed,
        "settings": settings | {"encoder": settings["encoder"] or "minilm"},
        "recipe": recipe,
        "best_epoch": best.get("epoch"),
        "dev": {ours: dev_scores.get(key) for ours, key in METRICS.items()},
        "test": {ours: scores.get(key) for ours, key in METRICS.items()},
        "test_ci": {ours: scores.get("ci", {}).get(key) for ours, key in METRICS.items()},
        "train_minutes": minutes,
        "test_sentences_per_second": len(test) / seconds,
        "device": device_name("auto"),
        "sizes": {"train": len(train), "dev": len(dev), "test": len(test)},
    }


def aggregate(command: str) -> dict[str, Any]:
    """Mean over seeds (and ADE folds: one value per fold and seed) per data set and method."""
    out: dict[str, Any] = {}
    cis: dict[str, Any] = {}
    folds: dict[str, Any] = {}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for path in sorted(RUNS.glob("*.json")):
        record = json.loads(path.read_text())
        groups.setdefault((record["dataset"], record["method"]), []).append(record)
    for (name, method), runs in sorted(groups.items()):
        cell: dict[str, Any] = {}
        for metric in METRICS:
            values = [r["test"][metric] for r in runs if r["test"].get(metric) is not None]
            if values:
                cell[metric] = summarize(values)
                cell[f"dev_{metric}"] = summarize([r["dev"][metric] for r in runs if r["dev"].get(metric) is not None])
        cell["train_minutes"] = summarize([r["train_minutes"] for r in runs])
        cell["test_sentences_per_second"] = summarize([r["test_sentences_per_second"] for r in runs])
        folds.setdefault(name, {})[method] = sorted({r["fold"] for r in runs if r["fold"] is not None})
        cis.setdefault(name, {})[method] = next(
            (r["test_ci"] for r in runs if r["seed"] == 0 and r["fold"] in (None, 0)), None
        )
        out.setdefault(name, {})[method] = cell
    out["_meta"] = run_meta(
        command,
        runs=sum(len(r) for r in groups.values()),
        published=PUBLISHED,
        ci_seed0=cis,
        folds=folds,
        note="test reported, epochs chosen on dev; PHEE trained on main arguments only",
    )
    return out


def markdown(results: dict[str, Any]) -> str:
    cols = [m for m in METRICS if m != "text_accuracy"] + ["text_accuracy"]
    lines = [
        "# Relations and events",
        "",
        "Test, mean ± sd (n runs); published numbers in brackets.",
        "",
        "| data | method | " + " | ".join(cols) + " | train min |",
        "|---|---|" + "---|" * (len(cols) + 1),
    ]
    for name, methods in results.items():
        if name.startswith("_"):
            continue
        published = PUBLISHED.get(name, {})
        for method, cell in methods.items():
            row = [cell_text(cell.get(c)) + (f" [{published[c]}]" if c in published else "") for c in cols]
            used = results["_meta"].get("folds", {}).get(name, {}).get(method)
            folds = f" (folds {','.join(map(str, used))})" if used else ""
            lines.append(
                f"| {name}{folds} | {method} | " + " | ".join(row) + f" | {cell['train_minutes']['mean']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def write(command: str) -> None:
    results = aggregate(command)
    write_results("structures", results, markdown(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent.parent / "shared" / "data")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--methods", nargs="+", default=["minilm"], choices=METHODS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--folds", type=int, nargs="+", default=[0], help="ADE folds")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--aggregate-only", action="store_true")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("mrekit.trainer.progress").setLevel(logging.INFO)
    command = "python bench/structures.py --aggregate-only"
    RUNS.mkdir(parents=True, exist_ok=True)
    if not options.aggregate_only:
        for name in options.datasets:
            for fold in options.folds if name == "ade" else [None]:
                for method in options.methods:
                    for seed in options.seeds:
                        target = RUNS / f"{run_name(name, method, seed, fold)}.json"
                        if target.exists():
                            continue
                        record = run_one(name, method, seed, options.data, fold, options.threads)
                        with atomic_file(target) as fh:
                            fh.write(json.dumps(record, indent=2) + "\n")
                        write(command)
    write(command)


if __name__ == "__main__":
    main()
