"""Japanese benchmark: MiniLM against multilingual-e5-small on Stockmark NER and chABSA.

Each run trains one encoder on one data set (the recipe of bench/configs/<name>.toml:
Stockmark span level only, chABSA industry + opinion targets in the ``mre`` mode), selects
the epoch on dev, scores test, and writes one record per run; the records are folded into

    bench/results/japanese_runs/<dataset>[_<size>]-<method>-<seed>.json   one file per finished run
    bench/results/japanese.json   {dataset: {method: {metric: {mean, sd, n}}}, "_meta": {...}}
    bench/results/japanese.md     the same as tables

Methods: ``minilm`` (the bundled English MiniLM), ``multilingual-e5-small`` (the defaults:
``split_cjk="auto"``, ``freeze_embeddings="auto"``), and variants for the choices:
``+nosplit``, ``+runs``, ``+chars`` (``split_cjk`` none, runs, chars) and ``+frozen`` /
``+trained`` (word embeddings frozen or trained). The choice runs were made before the
defaults were chosen; their method names spell every setting out. Choices are made on dev; ``--train-size``
takes a fixed slice of train (its first N texts) for the choice runs.

Usage (from the repository root, with ../shared/data beside it, after
``mrekit encoders build multilingual-e5-small``):

    .venv/bin/python bench/japanese.py --datasets stockmark_ja --methods multilingual-e5-small \\
        multilingual-e5-small+nosplit --train-size 1000 --epochs 4
    .venv/bin/python bench/japanese.py --datasets stockmark_ja chabsa --seeds 0 1 2
    .venv/bin/python bench/japanese.py --aggregate-only
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
from joint import bench_config, load_dataset, word_only

from mrekit.encoder.model import MREModel
from mrekit.metrics import evaluate, summarize
from mrekit.outputs import atomic_file
from mrekit.runtime import device_name
from mrekit.trainer import TrainingArguments, read_log

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
RUNS = RESULTS / "japanese_runs"
DATASETS = ("stockmark_ja", "chabsa")
METHODS = (
    "minilm",
    "multilingual-e5-small",
    "multilingual-e5-small+nosplit",
    "multilingual-e5-small+runs",
    "multilingual-e5-small+chars",
    "multilingual-e5-small+frozen",
    "multilingual-e5-small+chars+frozen",
    "multilingual-e5-small+runs+frozen",
    "multilingual-e5-small+runs+trained",
    "multilingual-e5-small+nosplit+trained",
    "multilingual-e5-small+chars+trained",
)
METRICS = ("span_f1", "text_accuracy", "frame_accuracy")
SPLIT_OF = {"nosplit": "none", "runs": "runs", "chars": "chars"}


def model_settings(method: str, config: dict[str, Any]) -> dict[str, Any]:
    """MREModel settings of a method on a data set's config."""
    encoder, *variants = method.split("+")
    return {
        "mode": "isolated" if word_only(config) else "mre",
        "levels": list(config.get("levels", ["text", "word"])),
        "encoder": None if encoder == "minilm" else encoder,
        "split_cjk": next((SPLIT_OF[v] for v in variants if v in SPLIT_OF), "auto"),
        "freeze_embeddings": True if "frozen" in variants else False if "trained" in variants else "auto",
    }


def run_name(name: str, method: str, seed: int, size: int | None) -> str:
    return f"{name}{f'_{size}' if size else ''}-{method}-{seed}"


def run_one(
    name: str, method: str, seed: int, data: Path, size: int | None, epochs: int | None, threads: int | None
) -> dict[str, Any]:
    """Train one (data set, method, seed) and return its record (dev of the chosen epoch, test, minutes)."""
    config = bench_config(name)
    train, dev, test = load_dataset(name, data)
    train = list(train)[:size] if size else list(train)
    recipe = dict(config["training"])
    recipe.update(seed=seed, threads=threads)
    if epochs:
        recipe["epochs"] = epochs
    out = ROOT / "runs" / f"japanese-{run_name(name, method, seed, size)}"
    shutil.rmtree(out, ignore_errors=True)
    settings = model_settings(method, config)
    started = time.perf_counter()
    model = MREModel(**settings).fit(train, dev, args=TrainingArguments(**recipe), output_dir=out, overwrite=True)
    minutes = (time.perf_counter() - started) / 60
    best = read_log(out)
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    started = time.perf_counter()
    predictions = model.predict([ex.text for ex in test])
    seconds = time.perf_counter() - started
    scores = evaluate(test, predictions, bootstrap=0)
    return {
        "dataset": name,
        "train_size": len(train),
        "method": method,
        "seed": seed,
        "settings": settings | {"encoder": settings["encoder"] or "minilm"},
        "recipe": recipe,
        "epochs_run": len(log),
        "best_epoch": best.get("epoch"),
        "steps": log[-1].get("steps"),
        "dev": {m: best.get("dev", {}).get(m) for m in METRICS},
        "test": {m: scores.get(m) for m in METRICS},
        "train_minutes": minutes,
        "test_sentences_per_second": len(test) / seconds,
        "device": device_name("auto"),
    }


def aggregate(command: str) -> dict[str, Any]:
    """Fold the run records into the results shape (dataset key ``<name>_<size>`` for a train slice)."""
    out: dict[str, Any] = {}
    records = [json.loads(p.read_text()) for p in sorted(RUNS.glob("*.json"))]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        full = record["train_size"] == record.get("full_train_size", record["train_size"])
        key = record["dataset"] if full else f"{record['dataset']}_{record['train_size']}"
        groups.setdefault((key, record["method"]), []).append(record)
    for (key, method), runs in sorted(groups.items()):
        cell: dict[str, Any] = {}
        for metric in METRICS:
            cell[metric] = summarize([r["test"][metric] for r in runs if r["test"][metric] is not None])
            cell[f"dev_{metric}"] = summarize([r["dev"][metric] for r in runs if r["dev"][metric] is not None])
        cell["train_minutes"] = summarize([r["train_minutes"] for r in runs])
        cell["test_sentences_per_second"] = summarize([r["test_sentences_per_second"] for r in runs])
        out.setdefault(key, {})[method] = {k: v for k, v in cell.items() if v is not None}  # absent levels: no cell
    out["_meta"] = run_meta(
        command,
        runs=len(records),
        note="test is reported only; every choice (split, frozen embeddings) is made on dev",
        splits={name: bench_config(name)["train"] for name in DATASETS},
    )
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Japanese: MiniLM vs multilingual-e5-small",
        "",
        "Mean (sd, n seeds); choices on dev, test reported. `_<N>` = the first N training texts.",
        "",
        "| data | method | dev span F1 | dev frame acc | test span F1 | test text acc | test frame acc | train min |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, methods in results.items():
        if key.startswith("_"):
            continue
        cols = ("dev_span_f1", "dev_frame_accuracy", "span_f1", "text_accuracy", "frame_accuracy")
        for method, cell in methods.items():
            lines.append(
                f"| {key} | {method} | "
                + " | ".join(cell_text(cell.get(k), "(n={n})") for k in cols)
                + f" | {cell['train_minutes']['mean']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def write(command: str) -> None:
    results = aggregate(command)
    write_results("japanese", results, markdown(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent.parent / "shared" / "data")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--methods", nargs="+", default=["minilm", "multilingual-e5-small"], choices=METHODS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--train-size", type=int, default=None, help="the first N training texts (choice runs)")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--aggregate-only", action="store_true")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("mrekit.trainer.progress").setLevel(logging.INFO)
    logging.getLogger("mrekit.encoder.training").setLevel(logging.INFO)  # the alignment report
    command = "python bench/japanese.py --aggregate-only"
    RUNS.mkdir(parents=True, exist_ok=True)
    if not options.aggregate_only:
        for name in options.datasets:
            full_size = len(load_dataset(name, options.data)[0])
            for method in options.methods:
                for seed in options.seeds:
                    target = RUNS / f"{run_name(name, method, seed, options.train_size)}.json"
                    if target.exists():
                        continue
                    record = run_one(
                        name, method, seed, options.data, options.train_size, options.epochs, options.threads
                    )
                    record["full_train_size"] = full_size
                    with atomic_file(target) as fh:
                        fh.write(json.dumps(record, indent=2) + "\n")
                    write(command)
    write(command)


if __name__ == "__main__":
    main()
