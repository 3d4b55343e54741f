"""Few-shot benchmark: label-name vs word-level-information (WLI) verbalizer vs fine-tuning the text head.

For SNIPS, ATIS and SemEval-2014 restaurants (aspect categories), at K = 1, 2, 4,
8, 16 shots per label and 5 samplings each: ``names@K`` and ``wli@K`` (embedding
scorer on the bundled MiniLM initialised from the verbalizer, then fine-tuned
on the shots) and ``finetune@K`` (the joint model's text head on the shots);
``names-untrained@K`` and ``wli-untrained@K`` score with the verbalizers alone
(no training on the shots).
The WLI verbalizer is mined from the shots' spans plus the spans (not labels)
of the rest of train. Scores are on the test split; nothing is tuned on it.

    .venv/bin/python bench/fewshot.py                       # everything
    .venv/bin/python bench/fewshot.py --datasets snips --shots 1 8

Writes bench/results/fewshot_runs/*.json (one per data set, method and K: resume
skips these), bench/results/fewshot.json, fewshot.md and fewshot.png.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import run_meta  # noqa: E402
from joint import load_dataset  # noqa: E402

from mrekit.fewshot import FewShotConfig, run_fewshot  # noqa: E402
from mrekit.metrics import summarize  # noqa: E402
from mrekit.schema import Example  # noqa: E402

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
RUNS = RESULTS / "fewshot_runs"

#: Column order of the tables and the plot legend.
METHOD_ORDER = ["names-untrained", "wli-untrained", "names", "wli", "finetune"]


def plot(results: dict, path: Path) -> None:
    """Accuracy against K, one panel per data set, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in results if not n.startswith("_")]
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        methods = sorted({key.split("@")[0] for key in results[name]}, key=METHOD_ORDER.index)
        for method in methods:
            ks = sorted(int(key.split("@")[1]) for key in results[name] if key.startswith(method + "@"))
            cells = [results[name][f"{method}@{k}"]["text_accuracy"] for k in ks]
            means = [100 * c["mean"] for c in cells]
            sds = [100 * c["sd"] for c in cells]
            style = "--" if method.endswith("-untrained") else "-"
            ax.errorbar(ks, means, yerr=sds, marker="o", capsize=3, label=method, linestyle=style)
        ax.set_xscale("log", base=2)
        ax.set_xticks([1, 2, 4, 8, 16], ["1", "2", "4", "8", "16"])
        ax.set_xlabel("shots per label (K)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(results: dict) -> str:
    """Test accuracy (mean ± sd, %) per data set and K, one column per method."""
    lines = []
    for name in (n for n in results if not n.startswith("_")):
        methods = sorted({key.split("@")[0] for key in results[name]}, key=METHOD_ORDER.index)
        ks = sorted({int(key.split("@")[1]) for key in results[name]})
        lines += [f"| {name}: K | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
        for k in ks:
            cells = [results[name].get(f"{m}@{k}", {}).get("text_accuracy") for m in methods]
            shown = [f"{100 * c['mean']:.1f} ± {100 * c['sd']:.1f}" if c else "–" for c in cells]
            lines.append(f"| {k} | " + " | ".join(shown) + " |")
        lines.append("")
    return "\n".join(lines)


def untrained_cells(train: list, test: list, pool: list, shots: list[int], seeds: int) -> dict:
    """``names-untrained@K`` and ``wli-untrained@K``: the verbalizers alone, no fine-tuning on the shots.

    The encoder does not change here, so the test texts are embedded once and only the label
    vectors differ between samplings.
    """
    import torch

    from mrekit.fewshot import names_verbalizer, sample_shots, wli_verbalizer
    from mrekit.fewshot.scorers import EmbeddingScorer
    from mrekit.metrics import evaluate

    labels = sorted({label for ex in train for label in ex.labels})
    gold = [Example(ex.text, id=ex.id, labels=ex.labels) for ex in test]
    scorer = EmbeddingScorer()
    embedded = scorer.embed([ex.text for ex in test])
    cells: dict = {}
    for k in shots:
        for seed in range(seeds):
            sample = sample_shots(train, k, seed)
            for method in ("names", "wli"):
                verbalizer = (
                    names_verbalizer(labels) if method == "names" else wli_verbalizer(sample, labels, pool=pool)
                )
                scorer.set_verbalizer(verbalizer)
                best = torch.argmax(embedded @ scorer.prototypes.T, dim=1).tolist()
                predicted = [Example(ex.text, labels=[scorer.labels[i]]) for ex, i in zip(test, best, strict=True)]
                report = evaluate(gold, predicted, bootstrap=0)
                cell = cells.setdefault(f"{method}-untrained@{k}", {"text_accuracy": [], "text_macro_f1": []})
                for metric in cell:
                    cell[metric].append(report[metric])
    return {key: {m: summarize(v) for m, v in cell.items()} for key, cell in cells.items()}


#: Candidate fine-tuning epochs of the embedding scorer, chosen per data set and method on dev.
CANDIDATE_EPOCHS = (0, 10)


def select_on_dev(name: str, train: list, dev: list, pool: list, methods: list[str]) -> dict:
    """Pick, per verbalizer method, whether to fine-tune on the shots: best dev accuracy at K=4, 2 samplings.

    The choice is cached in bench/results/fewshot_runs/<name>-selection.json.
    """
    path = RUNS / f"{name}-selection.json"
    if path.exists():
        return json.loads(path.read_text())
    chosen = {}
    for method in methods:
        if method == "finetune":
            continue
        dev_scores = {}
        for epochs in CANDIDATE_EPOCHS:
            config = FewShotConfig(shots=(4,), seeds=2, finetune_epochs=epochs)
            cell = run_fewshot(train, dev, [method], config, pool=pool)[f"{method}@4"]
            dev_scores[epochs] = cell["text_accuracy"]["mean"]
        best = max(dev_scores, key=lambda e: (dev_scores[e], -e))
        chosen[method] = {"finetune_epochs": best, "dev_accuracy": {str(e): v for e, v in dev_scores.items()}}
        logging.info("%s %s: dev accuracy by fine-tuning epochs %s -> %d", name, method, dev_scores, best)
    path.write_text(json.dumps(chosen, indent=2))
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["snips", "atis", "semeval14_restaurants"])
    parser.add_argument("--methods", nargs="+", default=["names", "wli", "finetune"])
    parser.add_argument("--shots", nargs="+", type=int, default=[1, 2, 4, 8, 16])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--no-untrained", dest="untrained", action="store_false", help="skip the verbalizer-only (0 epochs) cells"
    )
    parser.add_argument("--untrained-only", action="store_true", help="only the verbalizer-only cells")
    parser.add_argument("--data", type=Path, default=ROOT.parent.parent / "shared" / "data")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    RUNS.mkdir(parents=True, exist_ok=True)
    selections = {}
    methods = [] if args.untrained_only else args.methods
    for name in args.datasets:
        train, dev, test = load_dataset(name, args.data)
        pool = [Example(ex.text, spans=ex.spans) for ex in train]
        # Without trained methods there is nothing to select (and an empty choice must not be cached).
        selections[name] = select_on_dev(name, train, dev, pool, methods) if methods else {}
        missing = [k for k in args.shots if not (RUNS / f"{name}-wli-untrained@{k}.json").exists()]
        if missing and args.untrained:
            for key, cell in untrained_cells(train, test, pool, missing, args.seeds).items():
                (RUNS / f"{name}-{key}.json").write_text(json.dumps(cell, indent=2))
                logging.info("%s %s: %s", name, key, cell["text_accuracy"])
        for k in args.shots:
            for method in methods:
                target = RUNS / f"{name}-{method}@{k}.json"
                if target.exists():
                    continue
                epochs = selections[name].get(method, {}).get("finetune_epochs", 10)
                config = FewShotConfig(shots=(k,), seeds=args.seeds, finetune_epochs=epochs)
                cell = run_fewshot(train, test, [method], config, pool=pool)
                target.write_text(json.dumps(cell[f"{method}@{k}"], indent=2))
                logging.info("%s %s@%d: %s", name, method, k, cell[f"{method}@{k}"]["text_accuracy"])
    results: dict = {}
    for path in sorted(RUNS.glob("*@*.json")):
        name, key = path.stem.split("-", 1)
        results.setdefault(name, {})[key] = json.loads(path.read_text())
    results["_meta"] = run_meta(
        "python bench/fewshot.py " + " ".join(sys.argv[1:]),
        encoder="all-MiniLM-L6-v2 (bundled)",
        protocol="K shots per label sampled from train with seeds 0..n-1; WLI mined from the shots' spans plus "
        "the spans of all train texts (labels hidden); whether the embedding scorer is fine-tuned on the shots "
        "(0 or 10 epochs) chosen per data set and method on dev (K=4, 2 samplings); test split scored",
        selection={path.stem.split("-")[0]: json.loads(path.read_text()) for path in RUNS.glob("*-selection.json")},
    )
    (RESULTS / "fewshot.json").write_text(json.dumps(results, indent=2))
    (RESULTS / "fewshot.md").write_text(markdown(results))
    plot(results, RESULTS / "fewshot.png")


if __name__ == "__main__":
    main()
