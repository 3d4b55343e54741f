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

Never tunes on test: model selection and multi-label thresholds use dev
(SemEval has no dev split: a fixed 10% of train, seed 0; Stockmark has no split:
a fixed 80/10/10 split, seed 0).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from pathlib import Path

from _common import run_meta

from mrekit.formats import bio, semeval, stockmark
from mrekit.metrics import evaluate, summarize
from mrekit.pipeline import MREModel
from mrekit.training import TrainingArguments, device_name

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
RUNS = RESULTS / "joint_runs"
METRICS = ("text_accuracy", "text_macro_f1", "span_f1", "frame_accuracy", "train_minutes", "model_mb", "parameters")

#: Per data set: epochs, encoder learning rate, batch size (chosen on dev, see README).
RECIPES = {
    "snips": {"epochs": 6, "learning_rate": 2e-4, "batch_size": 32},
    "atis": {"epochs": 10, "learning_rate": 2e-4, "batch_size": 32},
    "semeval14_restaurants": {"epochs": 10, "learning_rate": 1e-4, "batch_size": 16},
    "stockmark_ja": {"epochs": 8, "learning_rate": 2e-4, "batch_size": 32},
}


def split(examples: list, fractions: tuple[float, ...], seed: int = 0) -> list[list]:
    """A fixed, seeded split into consecutive shares."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    out, start = [], 0
    for i, share in enumerate(fractions):
        end = len(order) if i == len(fractions) - 1 else start + round(share * len(order))
        out.append([examples[j] for j in order[start:end]])
        start = end
    return out


def load_dataset(name: str, data: Path) -> tuple[list, list, list]:
    """(train, dev, test) examples of a benchmark data set."""
    if name in ("snips", "atis"):
        return tuple(list(bio.read(data / name / part)) for part in ("train", "dev", "test"))
    if name == "semeval14_restaurants":
        train, dev = split(list(semeval.read(data / "semeval14" / "Restaurants_Train_v2.xml")), (0.9, 0.1))
        return train, dev, list(semeval.read(data / "semeval14" / "Restaurants_Test_Gold.xml"))
    if name == "stockmark_ja":
        return tuple(split(list(stockmark.read(data / "stockmark_ner_ja" / "ner.json")), (0.8, 0.1, 0.1)))
    raise SystemExit(f"unknown data set {name}")


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
    recipe = dict(RECIPES[name], seed=seed, threads=None, device=device)
    if epochs:
        recipe["epochs"] = epochs
    levels = ["word"] if name == "stockmark_ja" else ["text", "word"]
    # Variants after "+": "crf" (a CRF word head, to choose the decoder by measurement)
    # and "L<n>" (only the encoder's first n layers: the fast student of bench/speed.py).
    base_mode, *variants = mode.split("+")
    layers = next((int(v[1:]) for v in variants if v.startswith("L")), None)
    model_mode = "isolated" if name == "stockmark_ja" else base_mode
    out = ROOT / "runs" / f"{name}-{mode}-{seed}"
    started = time.perf_counter()
    model = MREModel(
        mode=model_mode, encoder=encoder, levels=levels, use_crf="crf" in variants, encoder_layers=layers
    ).fit(train, dev, args=TrainingArguments(**recipe), output_dir=out)
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
    for name in RECIPES:
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
                    "recipe": dict(RECIPES[name], seed=seed),
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
        recipes=RECIPES,
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
    parser.add_argument("--datasets", nargs="+", default=["snips", "atis", "semeval14_restaurants", "stockmark_ja"])
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
            modes = ["word_only"] if name == "stockmark_ja" else args.modes
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
