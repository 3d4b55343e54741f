"""Word-level sentiment: aspect terms / opinion targets with polarity, and categories with polarity.

Each run trains one joint model (the recipe of bench/configs/<name>.toml) on SemEval-14
restaurants or chABSA, selects the epoch on dev, and scores test the ways the ABSA
literature does:

* ``term_f1``: aspect-term (chABSA: opinion-target, typed by category) extraction F1;
* ``term_polarity_f1``: end to end, a term counts only with its polarity right;
* ``term_polarity_accuracy`` / ``term_polarity_macro_f1``: polarity of the *gold* terms
  (``MREModel.predict_attributes``: the spans are given, only polarity is predicted);
* ``category_f1`` (text micro F1 over aspect categories), ``category_polarity_accuracy``
  (polarity of the gold categories, 4-way with ``conflict``) and ``category_polarity_f1``
  (end to end); ``text_accuracy`` and ``frame_accuracy`` (text labels + spans) as everywhere.

Protocol: SemEval-14 terms are scored 3-way: terms labelled ``conflict`` are removed from
train, dev and test (as in the BERT-E2E-ABSA and RoBERTa-ABSA setups the README compares
with); categories keep all four classes (as BERT-pair-QA-B). Dev is the fixed 10% of the
training file (seed 0); test is the official test file.

    bench/results/polarity_runs/<dataset>-<method>-<seed>.json   one file per finished run
    bench/results/polarity.json    {dataset: {method: {metric: {mean, sd, n}}}, "_meta": ...}
    bench/results/polarity.md      the same as a table, next to the published anchors

Methods: ``minilm`` (the ``mre`` mode), ``minilm+shared`` (one encoder, no interaction
between the levels), ``minilm+text_only`` / ``minilm+word_only`` (one level each) and
``multilingual-e5-small``. ``--study`` runs the verdicts of ``mrekit study``
(:func:`mrekit.study.verdicts`, paired bootstrap over the test sentences) on the saved
models of those runs: does the text level's category help the word polarity, and back?
It writes ``bench/results/polarity_study.json`` and ``.md``.

Usage (from the repository root, ../shared/data beside it):

    .venv/bin/python bench/polarity.py --datasets semeval14_restaurants --methods minilm --seeds 0 1 2
    .venv/bin/python bench/polarity.py --aggregate-only
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
from joint import bench_config, load_dataset

from mrekit.encoder.model import MREModel
from mrekit.metrics import evaluate, summarize
from mrekit.outputs import atomic_file
from mrekit.runtime import device_name
from mrekit.schema import Example, Span
from mrekit.study import verdicts
from mrekit.trainer import TrainingArguments, read_log

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
RUNS = RESULTS / "polarity_runs"
DATASETS = ("semeval14_restaurants", "chabsa")
METHODS = ("minilm", "minilm+shared", "minilm+text_only", "minilm+word_only", "multilingual-e5-small")
#: Study run name of each method (mrekit.study's names).
STUDY_RUNS = {
    "minilm": "mre",
    "minilm+shared": "shared",
    "minilm+text_only": "text_only",
    "minilm+word_only": "word_only",
}
#: Our metric name -> mrekit.metrics.evaluate's key, on end-to-end predictions.
PREDICTED = {
    "term_f1": "span_f1",
    "term_polarity_f1": "span_attr_f1",
    "category_f1": "text_micro_f1",
    "category_polarity_f1": "label_attr_f1",
    "text_accuracy": "text_accuracy",
    "frame_accuracy": "frame_accuracy",
}
#: The same on gold terms and categories (only the attributes predicted).
ON_GOLD = {
    "term_polarity_accuracy": "span_attr_accuracy",
    "term_polarity_macro_f1": "span_attr_macro_f1",
    "category_polarity_accuracy": "label_attr_accuracy",
}
METRICS = (*PREDICTED, *ON_GOLD)
#: Published anchors (test, SemEval-14 restaurants); check each protocol before comparing.
ANCHORS = {
    "term_polarity_f1": ("73.98", "BERT-TFM, BERT-base (Li et al. 2019, E2E-ABSA)"),
    "term_polarity_accuracy": ("87.4", "RoBERTa on gold terms (Dai et al. 2021)"),
    "category_f1": ("92.18", "BERT-pair-QA-B category detection (Sun et al. 2019)"),
    "category_polarity_accuracy": ("85.9", "BERT-pair-QA-B, 4-way (Sun et al. 2019)"),
}


def without_conflict(examples: list[Example]) -> list[Example]:
    """SemEval-14 terms labelled ``conflict`` removed (3-way term protocol); categories untouched."""
    out = []
    for ex in examples:
        spans = None if ex.spans is None else [s for s in ex.spans if s.attrs.get("polarity") != "conflict"]
        out.append(
            Example(
                ex.text,
                id=ex.id,
                labels=list(ex.labels),
                label_attrs=dict(ex.label_attrs),
                spans=spans,
                meta=dict(ex.meta),
            )
        )
    return out


def bare(examples: list[Example]) -> list[Example]:
    """Gold spans and labels without attributes: what ``predict_attributes`` fills in."""
    return [
        Example(
            ex.text,
            id=ex.id,
            labels=list(ex.labels),
            spans=None if ex.spans is None else [Span(s.start, s.end, s.label) for s in ex.spans],
        )
        for ex in examples
    ]


def splits(name: str, data: Path) -> tuple[list[Example], list[Example], list[Example]]:
    train, dev, test = load_dataset(name, data)
    if name == "semeval14_restaurants":
        return without_conflict(train), without_conflict(dev), without_conflict(test)
    return list(train), list(dev), list(test)


def method_settings(method: str) -> dict[str, Any]:
    """MREModel settings of a method."""
    encoder, *variants = method.split("+")
    levels = {"text_only": ["text"], "word_only": ["word"]}
    single = next((levels[v] for v in variants if v in levels), None)
    mode = "isolated" if single else "shared" if "shared" in variants else "mre"
    return {"mode": mode, "levels": single or ["text", "word"], "encoder": None if encoder == "minilm" else encoder}


def run_folder(name: str, method: str, seed: int) -> Path:
    return ROOT / "runs" / f"polarity-{name}-{method}-{seed}"


def run_one(name: str, method: str, seed: int, data: Path, threads: int | None) -> dict[str, Any]:
    """Train one (data set, method, seed) and return its record."""
    config = bench_config(name)
    train, dev, test = splits(name, data)
    recipe = dict(config["training"]) | {"seed": seed, "threads": threads}
    settings = method_settings(method)
    out = run_folder(name, method, seed)
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    model = MREModel(**settings).fit(train, dev, args=TrainingArguments(**recipe), output_dir=out, overwrite=True)
    minutes = (time.perf_counter() - started) / 60
    best = read_log(out)
    test_scores, ci = score_test(model, test, seed)
    dev_scores = evaluate(dev, model.predict([ex.text for ex in dev]), bootstrap=0)
    return {
        "dataset": name,
        "method": method,
        "seed": seed,
        "settings": settings | {"encoder": settings["encoder"] or "minilm"},
        "recipe": recipe,
        "best_epoch": best.get("epoch"),
        "dev": {ours: dev_scores.get(key) for ours, key in PREDICTED.items()},
        "test": test_scores,
        "test_ci": ci,
        "train_minutes": minutes,
        "device": device_name("auto"),
        "sizes": {"train": len(train), "dev": len(dev), "test": len(test)},
    }


def score_test(model: MREModel, test: list[Example], seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Test metrics (end to end, and attributes on gold terms / categories) with 95% bootstrap CIs."""
    predicted = evaluate(test, model.predict([ex.text for ex in test]), bootstrap=1000, seed=seed)
    on_gold = evaluate(test, model.predict_attributes(bare(test)), bootstrap=1000, seed=seed)
    scores = {ours: predicted.get(key) for ours, key in PREDICTED.items()}
    scores |= {ours: on_gold.get(key) for ours, key in ON_GOLD.items()}
    ci = {ours: predicted.get("ci", {}).get(key) for ours, key in PREDICTED.items()}
    ci |= {ours: on_gold.get("ci", {}).get(key) for ours, key in ON_GOLD.items()}
    return scores, ci


def rescore(data: Path) -> None:
    """Score every finished run's saved model again with the current metrics (test only).

    Frame accuracy came to include span and label attributes after the first runs; this
    keeps every record on one definition (the epoch each run chose stays as it was).
    """
    tests: dict[str, list[Example]] = {}
    for path in sorted(RUNS.glob("*.json")):
        record = json.loads(path.read_text())
        folder = run_folder(record["dataset"], record["method"], record["seed"]) / "model-best"
        if not folder.exists():
            continue
        if record["dataset"] not in tests:
            tests[record["dataset"]] = splits(record["dataset"], data)[2]
        model = MREModel.load(folder, backend="torch")
        record["test"], record["test_ci"] = score_test(model, tests[record["dataset"]], record["seed"])
        record["rescored"] = "frame accuracy with attributes (mrekit.metrics.joint)"
        with atomic_file(path, overwrite=True) as fh:
            fh.write(json.dumps(record, indent=2) + "\n")


def aggregate(command: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cis: dict[str, Any] = {}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for path in sorted(RUNS.glob("*.json")):
        record = json.loads(path.read_text())
        groups.setdefault((record["dataset"], record["method"]), []).append(record)
    for (name, method), runs in sorted(groups.items()):
        cell: dict[str, Any] = {}
        for metric in METRICS:
            cell[metric] = summarize([r["test"][metric] for r in runs if r["test"].get(metric) is not None])
        for metric in PREDICTED:
            cell[f"dev_{metric}"] = summarize([r["dev"][metric] for r in runs if r["dev"].get(metric) is not None])
        cell["train_minutes"] = summarize([r["train_minutes"] for r in runs])
        cis.setdefault(name, {})[method] = next((r["test_ci"] for r in runs if r["seed"] == 0), None)
        out.setdefault(name, {})[method] = {k: v for k, v in cell.items() if v is not None}  # absent levels: no cell
    out["_meta"] = run_meta(
        command,
        runs=sum(len(r) for r in groups.values()),
        protocol="SemEval-14 terms 3-way (conflict terms removed), categories 4-way; chABSA as read",
        anchors={k: {"value": v, "source": s} for k, (v, s) in ANCHORS.items()},
        note="mean, sd over seeds on test; ci_seed0 = 95% bootstrap interval of seed 0; choices on dev",
        ci_seed0=cis,
    )
    return out


def study(data: Path, seeds: list[int]) -> dict[str, Any]:
    """``mrekit study``'s verdicts on the saved models of the SemEval-14 runs (predicted again on test)."""
    out: dict[str, Any] = {}
    for name in DATASETS:
        _, _, test = splits(name, data)
        results: dict[str, list[list[Example]]] = {}
        for method, run in STUDY_RUNS.items():
            folders = [run_folder(name, method, seed) / "model-best" for seed in seeds]
            if all(folder.exists() for folder in folders):
                results[run] = [MREModel.load(f, backend="torch").predict([ex.text for ex in test]) for f in folders]
        if "mre" not in results:
            continue
        entry: dict[str, Any] = {"runs": sorted(results), "seeds": seeds}
        entry["verdict"] = verdicts(test, results, joint="mre")
        entry["verdict_shared"] = verdicts(test, results, joint="shared") if "shared" in results else {}
        out[name] = entry
    out["_meta"] = run_meta(
        f"python bench/polarity.py --study --seeds {' '.join(map(str, seeds))}",
        note="paired bootstrap over test sentences, pooled over seeds; alpha 0.05",
    )
    return out


def study_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Does the other level help polarity? (mrekit study's verdicts)",
        "",
        "| data | joint | direction | metric | effect (points) | 95% CI | p | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in report.items():
        if name.startswith("_"):
            continue
        for joint, block in (("mre", entry["verdict"]), ("shared", entry["verdict_shared"])):
            for direction, v in block.items():
                ci = v.get("ci")
                interval = f"{100 * ci[0]:+.1f} … {100 * ci[1]:+.1f}" if ci else ""
                lines.append(
                    f"| {name} | {joint} | {direction} | {v.get('metric', 'frame_accuracy')} "
                    f"| {100 * v['effect']:+.1f} | {interval} | {v['p']:.3f} | {v['verdict']} |"
                )
    return "\n".join(lines) + "\n"


def markdown(results: dict[str, Any]) -> str:
    cols = list(METRICS) + ["train_minutes"]
    lines = [
        "# Word-level sentiment: polarity of terms and categories",
        "",
        "Test, mean ± sd over seeds (n); SemEval-14 terms 3-way, categories 4-way. "
        "Published anchors (SemEval-14 restaurants): " + "; ".join(f"{k} {v} ({s})" for k, (v, s) in ANCHORS.items()),
        "",
        "| data | method | " + " | ".join(cols) + " |",
        "|---|---|" + "---|" * len(cols),
    ]
    for name, methods in results.items():
        if name.startswith("_"):
            continue
        for method, cell in methods.items():
            row = [cell_text(cell.get(c)) if c != "train_minutes" else f"{cell[c]['mean']:.1f}" for c in cols]
            lines.append(f"| {name} | {method} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def write(command: str) -> None:
    results = aggregate(command)
    write_results("polarity", results, markdown(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent.parent / "shared" / "data")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--methods", nargs="+", default=["minilm"], choices=METHODS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--aggregate-only", action="store_true")
    parser.add_argument("--study", action="store_true", help="verdicts on the saved models of --seeds")
    parser.add_argument("--rescore", action="store_true", help="score every saved run again with today's metrics")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("mrekit.trainer.progress").setLevel(logging.INFO)
    command = "python bench/polarity.py --aggregate-only"
    RUNS.mkdir(parents=True, exist_ok=True)
    if options.rescore:
        rescore(options.data)
        write(command)
        return
    if options.study:
        report = study(options.data, options.seeds)
        with atomic_file(RESULTS / "polarity_study.json", overwrite=True) as fh:
            fh.write(json.dumps(report, indent=2) + "\n")
        with atomic_file(RESULTS / "polarity_study.md", overwrite=True) as fh:
            fh.write(study_markdown(report))
        return
    if not options.aggregate_only:
        for name in options.datasets:
            for method in options.methods:
                for seed in options.seeds:
                    target = RUNS / f"{name}-{method}-{seed}.json"
                    if target.exists():
                        continue
                    record = run_one(name, method, seed, options.data, options.threads)
                    with atomic_file(target) as fh:
                        fh.write(json.dumps(record, indent=2) + "\n")
                    write(command)
    write(command)


if __name__ == "__main__":
    main()
