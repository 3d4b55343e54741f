"""Corpus annotation throughput: ``mrekit annotate`` with 1 local process, 2 local workers, 2 Ray actors.

The corpus is SNIPS texts (bundled, CC0) plus long documents made by joining 20 of them (windowed
at prediction), repeated up to ``--docs`` documents, written once as JSONL. Each method annotates
it into a fresh folder; the record holds documents/s, the wall time, the peak resident memory of
the largest worker process (sampled every 0.2 s over the process tree) and the scaling efficiency
(documents/s divided by the workers times the one-process rate).

    bench/results/annotate.json   {"corpus": {method: {metric: {mean, sd, n}}}, "_meta": ...}

Usage (from the repository root; any saved model folder):

    .venv/bin/python bench/annotate.py --model bench/runs/budget-1000-auto/model-best --docs 100000
"""

from __future__ import annotations

import argparse
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from _common import run_meta

import mrekit
from mrekit.datasets import load_builtin
from mrekit.metrics import summarize
from mrekit.outputs import atomic_file

ROOT = Path(__file__).resolve().parent
METHODS = {"local_1": {"workers": 1}, "local_2": {"workers": 2, "threads": 1}, "ray_2": {"workers": 2, "engine": "ray"}}


def write_corpus(path: Path, docs: int) -> int:
    """SNIPS texts and long documents (20 texts joined), cycled up to ``docs`` lines."""
    texts = [ex.text for ex in load_builtin("snips", "train")]
    with path.open("w", encoding="utf-8") as fh:
        for i in range(docs):
            if i % 50 == 49:  # one long document in 50
                start = (i * 7) % (len(texts) - 20)
                text = ". ".join(texts[start : start + 20])
            else:
                text = texts[i % len(texts)]
            fh.write(json.dumps({"id": f"d{i}", "text": text}) + "\n")
    return docs


class PeakMemory:
    """The largest resident set of any single process in this process's tree, sampled in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                procs = [me, *me.children(recursive=True)]
                self.peak = max([self.peak] + [p.memory_info().rss for p in procs if p.is_running()])
            except psutil.Error:
                pass
            time.sleep(0.2)


def run(method: str, model: Path, corpus: Path, out: Path, shard_size: int) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    with PeakMemory() as memory:
        summary = mrekit.annotate(model, [str(corpus)], out, shard_size=shard_size, **METHODS[method])
    seconds = time.perf_counter() - started
    return {
        "docs_per_second": summary["documents"] / seconds,
        "seconds": seconds,
        "peak_rss_mb_per_worker": memory.peak / 2**20,
        "documents": summary["documents"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "runs" / "budget-1000-auto" / "model-best")
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--shard-size", type=int, default=5_000)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    options = parser.parse_args()
    work = ROOT / "runs" / "annotate"
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus.jsonl"
    write_corpus(corpus, options.docs)
    results: dict[str, Any] = {}
    for method in options.methods:
        record = run(method, options.model, corpus, work / method, options.shard_size)
        results[method] = {k: summarize([v]) for k, v in record.items()}
    base = results.get("local_1", {}).get("docs_per_second", {}).get("mean")
    for method, cell in results.items():
        workers = METHODS[method]["workers"]
        if base:
            cell["scaling_efficiency"] = summarize([cell["docs_per_second"]["mean"] / (workers * base)])
    out = {
        "corpus": results,
        "_meta": run_meta(
            f"python bench/annotate.py --docs {options.docs} --shard-size {options.shard_size}",
            model=str(options.model),
            docs=options.docs,
            note="one long document (20 SNIPS texts) in 50",
        ),
    }
    with atomic_file(ROOT / "results" / "annotate.json", overwrite=True) as fh:
        fh.write(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
