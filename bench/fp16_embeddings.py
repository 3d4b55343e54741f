"""Does storing a frozen word-embedding matrix in fp16 change predictions? (issue 15)

A model trained with frozen embeddings (``freeze_embeddings``: the default for
multilingual-e5-small's 250,002-row matrix) saves that matrix in fp16 and reads it back as
fp32. This script trains one such model on Stockmark NER (the ``bench/japanese.py`` split,
the first ``--train-size`` training sentences), then predicts the test sentences twice: with
the saved fp16-rounded matrix, and with the exact fp32 pretrained matrix put back in place.
It reports how many test texts get identical spans, span F1 both ways and the folder size.

    MREKIT_CACHE=... .venv/bin/python bench/fp16_embeddings.py --train-size 1000 --epochs 2

Writes ``bench/results/fp16_embeddings.json`` (the results shape) and ``.md``.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import torch
from _common import run_meta, write_results
from joint import load_dataset
from safetensors.torch import load_file

from mrekit.encoder.model import MREModel
from mrekit.metrics import evaluate
from mrekit.pretrained.catalog import encoder_folder
from mrekit.trainer import TrainingArguments

ROOT = Path(__file__).resolve().parent
ENCODER = "multilingual-e5-small"


def spans_of(predictions: list) -> list[list[tuple[int, int, str]]]:
    return [[(s.start, s.end, s.label) for s in p.spans or []] for p in predictions]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent.parent / "shared" / "data")
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train, dev, test = load_dataset("stockmark_ja", args.data)
    training = TrainingArguments(epochs=args.epochs, learning_rate=2e-4, batch_size=32, seed=0, threads=args.threads)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        model = MREModel(encoder=ENCODER, levels=["word"], mode="isolated")
        model.fit(train[: args.train_size], dev, args=training, output_dir=Path(tmp) / "run")
        folder_mb = sum(p.stat().st_size for p in (Path(tmp) / "run" / "model-best").rglob("*") if p.is_file())
        folder_mb /= 2**20
        texts = [ex.text for ex in test]
        half = model.predict(texts)
        embedding = model.model_.encoder.get_input_embeddings().weight
        rows = embedding.shape[0] * embedding.shape[1]
        pretrained = load_file(str(encoder_folder(ENCODER) / "model.safetensors"))
        key = next(k for k in pretrained if k.endswith("word_embeddings.weight"))
        with torch.no_grad():
            embedding.copy_(pretrained[key])
        full = model.predict(texts)
    same = sum(a == b for a, b in zip(spans_of(half), spans_of(full), strict=True))
    f1_half = evaluate(test, half, bootstrap=0)["span_f1"]
    f1_full = evaluate(test, full, bootstrap=0)["span_f1"]
    cell = lambda v: {"mean": v, "sd": 0.0, "n": 1}  # noqa: E731
    results = {
        "stockmark_ja": {
            "fp16_embeddings": {
                "span_f1": cell(f1_half),
                "identical_texts": cell(same / len(texts)),
                "model_mb": cell(folder_mb),
            },
            "fp32_embeddings": {
                "span_f1": cell(f1_full),
                "model_mb": cell(folder_mb + rows * 2 / 2**20),
            },
        }
    }
    command = f"python bench/fp16_embeddings.py --train-size {args.train_size} --epochs {args.epochs}"
    meta = run_meta(command)
    meta.update(
        test_texts=len(texts),
        identical=f"{same} of {len(texts)} test texts get the same spans",
        minutes=(time.perf_counter() - started) / 60,
    )
    results["_meta"] = meta
    lines = [
        "# fp16 storage of a frozen word-embedding matrix (multilingual-e5-small, Stockmark NER)",
        "",
        f"`{command}`: one word-level model, trained on {args.train_size} sentences, {args.epochs} epochs.",
        "",
        "| embeddings in the folder | test span F1 | model folder (MB) |",
        "|---|---|---|",
        f"| fp16 (saved, read back as fp32) | {100 * f1_half:.2f} | {folder_mb:.0f} |",
        f"| fp32 (the pretrained matrix put back) | {100 * f1_full:.2f} | {folder_mb + rows * 2 / 2**20:.0f} |",
        "",
        f"{same} of {len(texts)} test texts get identical spans.",
        "",
    ]
    write_results("fp16_embeddings", results, "\n".join(lines))


if __name__ == "__main__":
    main()
