"""CPU inference speed on SNIPS test, side by side in one process:
mrekit (PyTorch fp32, ONNX fp32, ONNX int8) and a spaCy pipeline (CNN ``textcat`` + ``ner``)
trained by this script on the same SNIPS train data; and, with ``--japanese``, the encoders
side by side on Stockmark test (MiniLM against multilingual-e5-small, the models of
bench/japanese.py), into the ``stockmark_ja`` entry of speed.json (the other entries are kept).

    .venv/bin/python bench/speed.py --model bench/runs/snips-mre-0/model-best
    .venv/bin/python bench/speed.py --japanese minilm=bench/runs/japanese-stockmark_ja-minilm-0/model-best \
        multilingual-e5-small=bench/runs/japanese-stockmark_ja-multilingual-e5-small-0/model-best

Reports sentences/second at batch 64 (best of 3 passes over the 700 test texts),
single-text latency p50 (200 texts, one at a time) and frame accuracy, into
bench/results/speed.json. The spaCy pipeline is cached in bench/runs/spacy-snips.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import torch
from _common import run_meta

import mrekit
from mrekit.datasets import load_builtin
from mrekit.metrics import evaluate
from mrekit.outputs import atomic_file
from mrekit.schema import Example, Span

ROOT = Path(__file__).resolve().parent


def cell(value: float) -> dict:
    return {"mean": value, "sd": 0.0, "n": 1}


def measure(predict_batch, predict_one, texts: list[str]) -> tuple[float, float, list[Example]]:
    """(sentences/s at batch 64, p50 latency in ms, predictions)."""
    predictions = predict_batch(texts)  # warm-up and the predictions scored
    passes = []
    for _ in range(3):
        started = time.perf_counter()
        predict_batch(texts)
        passes.append(len(texts) / (time.perf_counter() - started))
    latencies = []
    for text in texts[:200]:
        started = time.perf_counter()
        predict_one(text)
        latencies.append((time.perf_counter() - started) * 1000)
    return max(passes), statistics.median(latencies), predictions


def train_spacy(train: list[Example], dev: list[Example], folder: Path, epochs: int):
    """A blank English pipeline with CNN textcat (exclusive) and ner, best dev epoch kept."""
    import spacy
    from spacy.training import Example as SpacyExample
    from spacy.util import minibatch

    if (folder / "meta.json").exists():
        return spacy.load(folder)
    nlp = spacy.blank("en")
    textcat = nlp.add_pipe("textcat")
    ner = nlp.add_pipe("ner")
    labels = sorted({label for ex in train for label in ex.labels})
    for label in labels:
        textcat.add_label(label)
    for label in sorted({s.label for ex in train for s in ex.spans or []}):
        ner.add_label(label)

    def to_spacy(ex: Example):
        doc = nlp.make_doc(ex.text)
        ents = [(s.start, s.end, s.label) for s in ex.spans or []]
        cats = {label: float(label in ex.labels) for label in labels}
        return SpacyExample.from_dict(doc, {"entities": ents, "cats": cats})

    examples = [to_spacy(ex) for ex in train]
    optimizer = nlp.initialize(lambda: examples)
    best, best_bytes = -1.0, None
    rng = random.Random(0)
    for _ in range(epochs):
        rng.shuffle(examples)
        for batch in minibatch(examples, size=32):
            nlp.update(batch, sgd=optimizer, drop=0.2)
        score = evaluate(dev, spacy_predict(nlp, [ex.text for ex in dev]), bootstrap=0)["frame_accuracy"]
        if score > best:
            best, best_bytes = score, nlp.to_bytes()
    nlp.from_bytes(best_bytes)
    nlp.to_disk(folder)
    return nlp


def spacy_predict(nlp, texts: list[str], batch_size: int = 64) -> list[Example]:
    out = []
    for doc in nlp.pipe(texts, batch_size=batch_size):
        label = max(doc.cats, key=doc.cats.get)
        spans = [Span(e.start_char, e.end_char, e.label_) for e in doc.ents]
        out.append(Example(doc.text, labels=[label], spans=spans))
    return out


def measure_mrekit(path: Path, test: list[Example], prefix: str, backends: tuple[str, ...], reference=None) -> dict:
    """Export ``path`` (fp32 + int8) and measure it on each backend; parity against ``reference`` outputs."""
    texts = [ex.text for ex in test]
    mrekit.load(path, backend="torch").export(quantize=True)
    names = {"torch": "torch_fp32", "onnx": "onnx_fp32", "onnx-int8": "onnx_int8"}
    results, outputs = {}, dict(reference or {})
    for backend in backends:
        key = prefix + names[backend]
        model = mrekit.load(path, backend=backend)
        speed, p50, preds = measure(lambda t, m=model: m.predict(t, batch_size=64), model, texts)
        scores = evaluate(test, preds, bootstrap=0)
        outputs[key] = [(p.labels, [(s.start, s.end, s.label) for s in p.spans]) for p in preds]
        results[key] = {
            "sentences_per_second": cell(speed),
            "latency_p50_ms": cell(p50),
            "frame_accuracy": cell(scores["frame_accuracy"]),
            "span_f1": cell(scores["span_f1"]),
        }
        torch_key = prefix + "torch_fp32"
        if key != torch_key and torch_key in outputs:
            same = sum(a == b for a, b in zip(outputs[torch_key], outputs[key], strict=True)) / len(texts)
            results[key]["same_output_as_torch"] = cell(same)
        print(key, results[key], flush=True)
    return results


def markdown(results: dict) -> str:
    """The speed table of the README."""
    lines = [
        "| method | sentences/s (batch 64) | p50 latency, 1 text (ms) | frame accuracy (%) | same as PyTorch (%) |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, row in results.items():
        same = row.get("same_output_as_torch")
        same_cell = "" if same is None else f"{100 * same['mean']:.2f}"
        lines.append(
            f"| {key} | {row['sentences_per_second']['mean']:.0f} | {row['latency_p50_ms']['mean']:.1f} | "
            f"{_pct(row['frame_accuracy']['mean'])} | {same_cell} |"
        )
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def plot(results: dict, path: Path) -> None:
    """Throughput against frame accuracy, one point per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (key, row) in enumerate(results.items()):
        x, y = row["sentences_per_second"]["mean"], 100 * row["frame_accuracy"]["mean"]
        ax.scatter(x, y, color="tab:orange" if key == "spacy" else "tab:blue")
        # Alternate labels above and below: neighbouring methods sit close together.
        ax.annotate(key, (x, y), textcoords="offset points", xytext=(4, 6 if i % 2 else -12), fontsize=8)
    ax.set_xlabel("sentences / second (batch 64, 2 CPU cores)")
    ax.set_ylabel("SNIPS test frame accuracy (%)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "runs" / "snips-mre-0" / "model-best")
    parser.add_argument(
        "--student",
        type=Path,
        default=None,
        help="also measure a smaller model (e.g. bench/runs/snips-mre+L3-0/model-best from "
        "`bench/joint.py --modes mre+L3`) as student_*",
    )
    parser.add_argument("--spacy-epochs", type=int, default=15)
    parser.add_argument("--plot-only", action="store_true", help="redraw speed.png from speed.json")
    parser.add_argument(
        "--japanese",
        nargs="+",
        metavar="NAME=MODEL",
        help="measure these Stockmark models (encoder name = model folder) instead, on Stockmark test",
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent.parent / "shared" / "data")
    args = parser.parse_args()
    if args.japanese:
        japanese(args.japanese, args.data)
        return
    if args.plot_only:
        plot(json.loads((ROOT / "results" / "speed.json").read_text())["snips"], ROOT / "results" / "speed.png")
        return
    test = load_builtin("snips", "test")
    texts = [ex.text for ex in test]
    results = measure_mrekit(args.model, test, "", ("torch", "onnx", "onnx-int8"))
    if args.student:
        results |= measure_mrekit(args.student, test, "student_", ("torch", "onnx", "onnx-int8"))
    nlp = train_spacy(
        load_builtin("snips", "train"), load_builtin("snips", "dev"), ROOT / "runs" / "spacy-snips", args.spacy_epochs
    )
    speed, p50, preds = measure(lambda t: spacy_predict(nlp, t), lambda t: spacy_predict(nlp, [t], 1), texts)
    frame = evaluate(test, preds, bootstrap=0)["frame_accuracy"]
    results["spacy"] = {"sentences_per_second": cell(speed), "latency_p50_ms": cell(p50), "frame_accuracy": cell(frame)}
    print("spacy", results["spacy"], flush=True)
    command = f"python bench/speed.py --model {args.model} --spacy-epochs {args.spacy_epochs}"
    if args.student:
        command += f" --student {args.student}"
    out = {
        "snips": results,
        "_meta": run_meta(
            command,
            threads=f"one process, torch threads {torch.get_num_threads()}",
            protocol="700 SNIPS test texts; throughput = best of 3 passes at batch 64 (length-sorted batches); "
            "latency = median of 200 single-text calls",
        ),
    }
    write_text(ROOT / "results" / "speed.json", json.dumps(out, indent=2))
    write_text(ROOT / "results" / "speed.md", markdown(results))
    plot(results, ROOT / "results" / "speed.png")


def japanese(models: list[str], data: Path) -> None:
    """Speed of Stockmark models on Stockmark test (535 texts), into speed.json's ``stockmark_ja``."""
    from joint import load_dataset

    test = list(load_dataset("stockmark_ja", data)[2])
    results: dict = {}
    for item in models:
        name, path = item.split("=", 1)
        results |= measure_mrekit(Path(path), test, f"{name}/", ("torch", "onnx", "onnx-int8"))
    target = ROOT / "results" / "speed.json"
    out = json.loads(target.read_text()) if target.exists() else {}
    out["stockmark_ja"] = results
    out.setdefault("_meta", {})["stockmark_ja"] = run_meta(
        "python bench/speed.py --japanese " + " ".join(models),
        threads=f"one process, torch threads {torch.get_num_threads()}",
        protocol="535 Stockmark test texts (the fixed 80/10/10 split); throughput = best of 3 passes at batch 64; "
        "latency = median of 200 single-text calls",
    )
    write_text(target, json.dumps(out, indent=2))
    md = ROOT / "results" / "speed.md"
    before = md.read_text(encoding="utf-8").split(JAPANESE_HEADING)[0].rstrip("\n") + "\n" if md.exists() else ""
    write_text(md, before + JAPANESE_HEADING + markdown(results))


#: Where the Japanese table starts in speed.md (a rerun replaces it instead of appending a copy).
JAPANESE_HEADING = "\nStockmark test (Japanese), MiniLM against multilingual-e5-small:\n\n"


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` atomically: a crash mid-write never leaves a half-written results file."""
    with atomic_file(path, overwrite=True) as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
