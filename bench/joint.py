"""Joint-model benchmark: SNIPS, ATIS, SemEval-2014 restaurants (and Stockmark Japanese, span only).

Trains each data set in each mode (isolated, shared, mre) with several seeds,
selects on dev, scores test, and writes

    bench/results/joint_runs/<dataset>-<mode>-<seed>.json   one file per finished run (resume = skip these)
    bench/results/joint.json                                 {dataset: {mode: {metric: {mean, sd, n}}}, "_meta": ...}
    bench/results/joint.md                                   the same as a markdown table

Usage (from the repository root, with ../shared/data beside it):

    .venv/bin/python bench/joint.py                                  # everything: 3 seeds
    .venv/bin/python bench/joint.py --datasets snips --modes mre --seeds 0
    .venv/bin/python bench/joint.py --aggregate-only                 # rebuild joint.json/md from runs
    .venv/bin/python bench/joint.py --datasets atis --modes mre@multilingual-e5-small --seeds 0

The recipes (data, model settings, epochs, learning rate, batch size) are the config
files bench/configs/<dataset>.toml, which `mrekit train` runs as they are; the mode,
seed, threads, device and --epochs of a run are dotted overrides on top of them.

Never tunes on test: model selection and multi-label thresholds use dev
(SemEval has no dev split: a fixed 10% of train, seed 0; Stockmark has no split:
a fixed 80/10/10 split, seed 0).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from _common import run_meta

from mrekit.config import apply_overrides, read_config
from mrekit.datasets import read_data
from mrekit.encoder.model import MREModel
from mrekit.metrics import evaluate, summarize
from mrekit.runtime import device_name
from mrekit.trainer import TrainingArguments

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
RUNS = RESULTS / "joint_runs"
METRICS = ("text_accuracy", "text_macro_f1", "span_f1", "frame_accuracy", "train_minutes", "model_mb", "parameters")

#: One recipe per data set: bench/configs/<name>.toml (epochs, learning rate, batch size chosen on dev).
CONFIGS = ROOT / "configs"
DATASETS = ("snips", "atis", "semeval14_restaurants", "stockmark_ja", "chabsa")
#: The configs' data paths start with this (relative to the repository root); --data replaces it.
DATA_PREFIX = "../shared/data/"
#: The model settings of a config (those of ``mrekit train``).
MODEL_KEYS = ("mode", "encoder", "use_crf", "max_length", "levels", "encoder_layers")


def bench_config(name: str, overrides: Mapping[str, Any] | None = None) -> dict:
    """The config file of data set ``name``, with dotted ``overrides`` applied on top."""
    path = CONFIGS / f"{name}.toml"
    if not path.is_file():
        raise SystemExit(f"unknown data set {name} (no bench/configs/{name}.toml)")
    return apply_overrides(read_config(path), overrides or {})


def recipe(name: str) -> dict:
    """The ``[training]`` table of a data set's config (epochs, learning rate, batch size)."""
    return bench_config(name)["training"]


def word_only(config: Mapping[str, Any]) -> bool:
    """Whether a data set is learnt at the word level only (its mode stays the config's: isolated)."""
    return list(config.get("levels", ["text", "word"])) == ["word"]


def locate(spec: str | Mapping[str, Any], data: Path) -> str | dict:
    """A data spec of a config: ``../shared/data/`` paths under ``data``, other relative paths from the repo root."""
    table = dict(spec) if isinstance(spec, Mapping) else {"path": spec}
    path = str(table["path"])
    if path.startswith(DATA_PREFIX):
        table["path"] = str(data / path[len(DATA_PREFIX) :])
    elif not Path(path).is_absolute() and (ROOT.parent / path).exists():
        table["path"] = str(ROOT.parent / path)
    return table if isinstance(spec, Mapping) else table["path"]


def load_dataset(name: str, data: Path) -> tuple[list, list, list]:
    """(train, dev, test) examples of a benchmark data set, as its config names them."""
    config = bench_config(name)
    return tuple(read_data(locate(config[part], data), field=part) for part in ("train", "dev", "test"))


def run_one(
    name: str,
    mode: str,
    seed: int,
    data: Path,
    max_train: int | None,
    epochs: int | None,
    *,
    encoder: str | None = None,
    device: str = "auto",
) -> dict:
    """Train and test one (data set, mode, seed); returns the run record."""
    train, dev, test = load_dataset(name, data)
    train = train[:max_train]
    # Variants after "+": "crf" (a CRF word head, to choose the decoder by measurement)
    # and "L<n>" (only the encoder's first n layers: the fast student of bench/speed.py);
    # after "@" a built-in encoder's name ("mre@multilingual-e5-small": the English rows of issue 15).
    variant, _, named_encoder = mode.partition("@")
    encoder = named_encoder or encoder
    base_mode, *variants = variant.split("+")
    layers = next((int(v[1:]) for v in variants if v.startswith("L")), None)
    config = bench_config(name)
    overrides: dict[str, Any] = {"training.seed": seed, "training.threads": None, "training.device": device}
    if epochs:
        overrides["training.epochs"] = epochs
    if not word_only(config):  # a word-level-only data set keeps its config's mode (isolated)
        overrides["mode"] = base_mode
    overrides.update(encoder=encoder, use_crf="crf" in variants, encoder_layers=layers)
    config = apply_overrides(config, overrides)
    recipe = config["training"]
    out = ROOT / "runs" / f"{name}-{mode}-{seed}"
    started = time.perf_counter()
    model = MREModel(**{k: config[k] for k in MODEL_KEYS if k in config}).fit(
        train, dev, args=TrainingArguments(**recipe), output_dir=out, overwrite=True
    )
    minutes = (time.perf_counter() - started) / 60
    scores = evaluate(test, model.predict([ex.text for ex in test]), bootstrap=0)
    weights = out / "model-best" / "model.safetensors"
    return {
        "dataset": name,
        "mode": mode,
        "seed": seed,
        "recipe": recipe,
        "n_train": len(train),
        "n_test": len(test),
        "test": {k: v for k, v in scores.items() if isinstance(v, float)},
        "train_minutes": minutes,
        "device": device_name(device),
        "model_mb": weights.stat().st_size / 2**20,
        "parameters": sum(p.numel() for p in model.model_.parameters()),
        "best_epoch": json.loads((out / "model-best" / "mrekit.json").read_text())["training"]["epoch"],
    }


def from_study(folder: Path, data: Path) -> list[Path]:
    """Joint-benchmark records for the runs of ``bench/study.py`` that have none here yet.

    The study trains with the same recipes and splits: its ``shared`` and ``mre`` runs
    are this benchmark's, and ``isolated`` is its ``text_only`` + ``word_only`` pair.
    Records made here by this script itself are kept (they carry this machine's times).
    """
    from mrekit.formats import jsonl
    from mrekit.study.runs import run_folder
    from mrekit.study.verdict import combine

    parts = {"isolated": ("text_only", "word_only"), "shared": ("shared",), "mre": ("mre",)}
    written = []
    for name in DATASETS:
        if not (folder / "runs" / name).is_dir():
            continue
        test = load_dataset(name, data)[2]
        seeds = sorted({int(p.name.rsplit("-seed", 1)[1]) for p in (folder / "runs" / name).iterdir()})
        for seed in seeds:
            for mode, runs in parts.items():
                target = RUNS / f"{name}-{mode}-{seed}.json"
                folders = [run_folder(folder, name, run, seed) for run in runs]
                if target.exists() or not all((f / "predictions.jsonl").exists() for f in folders):
                    continue
                preds = [list(jsonl.read(f / "predictions.jsonl")) for f in folders]
                infos = [json.loads((f / "run.json").read_text()) for f in folders]
                scores = evaluate(test, combine(*preds) if len(preds) == 2 else preds[0], bootstrap=0)
                record = {
                    "dataset": name,
                    "mode": mode,
                    "seed": seed,
                    "recipe": bench_config(name, {"training.seed": seed})["training"],
                    "n_test": len(test),
                    "test": {k: v for k, v in scores.items() if isinstance(v, float)},
                    "train_minutes": sum(i["train_minutes"] for i in infos),
                    "device": infos[0].get("device", "cpu"),
                    "model_mb": sum(i["model_mb"] for i in infos),
                    "parameters": sum(i["parameters"] for i in infos),
                    "source": "bench/study.py",
                }
                target.write_text(json.dumps(record, indent=2))
                written.append(target)
    return written


def on_this_machine(record: dict) -> bool:
    """Whether a run trained on this machine's CPU (its time is comparable)."""
    return record.get("device", "cpu") == "cpu"


def aggregate(command: str) -> dict:
    """Fold the per-run files into the results shape."""
    grouped: dict[str, dict[str, list[dict]]] = {}
    for path in sorted(RUNS.glob("*.json")):
        record = json.loads(path.read_text())
        grouped.setdefault(record["dataset"], {}).setdefault(record["mode"], []).append(record)
    results: dict = {}
    on_gpu: dict[str, list[int]] = {}
    for name, modes in grouped.items():
        for mode, records in modes.items():
            row = {}
            for metric in METRICS:
                # Training time only counts where it was measured on this CPU.
                timed = [r for r in records if on_this_machine(r)] if metric == "train_minutes" else records
                cell = summarize([r["test"].get(metric) if metric in r["test"] else r.get(metric) for r in timed])
                if cell:
                    row[metric] = cell
            results.setdefault(name, {})[mode] = row
            gpu = sorted(r["seed"] for r in records if not on_this_machine(r))
            if gpu:
                on_gpu[f"{name}/{mode}"] = gpu
    results["_meta"] = run_meta(
        command,
        encoder="all-MiniLM-L6-v2 (bundled, 22.7M parameters)",
        recipes={name: recipe(name) for name in DATASETS},
        threads="torch default (all cores)",
        seeds_on_gpu=on_gpu,
        devices="seeds listed in seeds_on_gpu trained on a lent NVIDIA GPU (same recipe and splits, fp32); "
        "train_minutes counts only runs on this CPU",
    )
    return results


def markdown(results: dict) -> str:
    """A table of mean ± sd (percent) per data set and mode."""
    lines = [
        "| data set | mode | seeds (on GPU) | text acc | text macro-F1 | span F1 | frame acc "
        "| train min (CPU) | size MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    on_gpu = results.get("_meta", {}).get("seeds_on_gpu", {})
    for name, modes in results.items():
        if name.startswith("_"):
            continue
        for mode, row in modes.items():
            gpu = len(on_gpu.get(f"{name}/{mode}", []))
            n = max((v["n"] for v in row.values()), default=0)
            seeds = f"{n} ({gpu})" if gpu else str(n)
            cells = [_cell(row, m) for m in ("text_accuracy", "text_macro_f1", "span_f1", "frame_accuracy")]
            cells += [_cell(row, m, 1, 1) for m in ("train_minutes", "model_mb")]
            lines.append(f"| {name} | {mode} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(row: dict, metric: str, scale: float = 100.0, digits: int = 2) -> str:
    if metric not in row:
        return "–"
    mean, sd = row[metric]["mean"] * scale, row[metric]["sd"] * scale
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--modes", nargs="+", default=["isolated", "shared", "mre"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--data", type=Path, default=ROOT.parent.parent / "shared" / "data")
    parser.add_argument("--max-train", type=int, default=None, help="smoke runs only: cap the training set")
    parser.add_argument("--epochs", type=int, default=None, help="smoke runs only: override the recipe")
    parser.add_argument("--aggregate-only", action="store_true")
    parser.add_argument("--encoder", default=None, help="local encoder folder (default: the bundled MiniLM)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--from-study", type=Path, default=None, help="add records for bench/study.py's runs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    RUNS.mkdir(parents=True, exist_ok=True)
    if not args.aggregate_only:
        for name in args.datasets:
            modes = ["word_only"] if word_only(bench_config(name)) else args.modes
            for mode in modes:
                for seed in args.seeds:
                    target = RUNS / f"{name}-{mode}-{seed}.json"
                    if target.exists():
                        logging.info("cached: %s", target.name)
                        continue
                    record = run_one(
                        name,
                        mode,
                        seed,
                        args.data,
                        args.max_train,
                        args.epochs,
                        encoder=args.encoder,
                        device=args.device,
                    )
                    target.write_text(json.dumps(record, indent=2))
                    logging.info("done %s: %s", target.name, record["test"])
    if args.from_study:
        for path in from_study(args.from_study, args.data):
            logging.info("from the study: %s", path.name)
    results = aggregate(
        "python bench/joint.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v and k != "data")
    )
    (RESULTS / "joint.json").write_text(json.dumps(results, indent=2))
    (RESULTS / "joint.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
