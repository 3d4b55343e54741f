"""The MRE study on the benchmark data sets: SNIPS, ATIS and SemEval-2014 restaurants.

Runs the runs of ``mrekit study`` (text_only, word_only, shared, mre, conditioned with its
shuffled and neutral controls, cascade, and the two gold-conditioned runs) with 3 seeds
on each data set, with the data set's recipe ``bench/configs/<dataset>.toml`` of
``bench/joint.py`` (so ``shared``/``mre`` here are the joint benchmark's runs) and the
same train/dev/test parts, then writes the study report:

    bench/results/study/report.json, report.md, effects.png, levels.png
    bench/results/study/runs/<dataset>/<run>-seed<k>/{predictions.jsonl,run.json}   (the cache)

Usage (from the repository root, with ../shared/data beside it):

    .venv/bin/python bench/study.py                          # everything, one run at a time
    .venv/bin/python bench/study.py --jobs 12 --device cuda  # many runs side by side on one GPU
    .venv/bin/python bench/study.py --report-only            # rebuild the report from the cache
    .venv/bin/python bench/study.py --report-only --seeds 0 --report-dir bench/results/study/seed0

The cache is committed as ``bench/results/study/runs.tar.xz`` (predictions and run
records, not the models) and extracted on first use.

``mrekit study DATA`` does the same for one folder with one budget; this script
exists for the per-data-set recipes, the joint benchmark's splits and ``--jobs``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tarfile
import time
import traceback
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from joint import bench_config, load_dataset, recipe

from mrekit.study import RUNS
from mrekit.study.report import build_report, write_report
from mrekit.study.runs import StudyData, read_dev_scores, run_folder, run_one

ROOT = Path(__file__).resolve().parent
OUTPUT = ROOT / "results" / "study"
#: The cache, committed compressed (the extracted ``runs/`` folder is git-ignored).
ARCHIVE = "runs.tar.xz"
DATASETS = ("snips", "atis", "semeval14_restaurants", "ade", "phee", "chabsa")


def study_data(name: str, data: Path, max_train: int | None = None) -> StudyData:
    """The joint benchmark's train/dev/test parts of a data set."""
    train, dev, test = load_dataset(name, data)
    return StudyData(name, train[:max_train], dev, test)


def training(name: str, settings: dict) -> dict:
    """The data set's recipe: the same budget for every run."""
    overrides = {"training.device": settings["device"], "training.threads": settings["threads"]}
    if settings.get("epochs"):
        overrides["training.epochs"] = settings["epochs"]
    return bench_config(name, overrides)["training"]


def work(job: tuple, settings: dict) -> tuple[tuple, str, float]:
    """Train one (data set, run, seed) in a worker; skipped once the deadline has passed."""
    name, run, seed = job
    if time.time() > settings["deadline"]:
        return job, "skipped (deadline)", 0.0
    started = time.perf_counter()
    try:
        data = study_data(name, settings["data"], settings.get("max_train"))
        run_one(
            data,
            RUNS[run],
            seed,
            settings["output"],
            encoder=settings["encoder"],
            training=training(name, settings),
        )
    except Exception:  # one failed run must not stop the others: it is reported and left uncached
        return job, "FAILED\n" + traceback.format_exc(), time.perf_counter() - started
    return job, "done", time.perf_counter() - started


def plan(datasets: list[str], runs: list[str], seeds: list[int], output: Path) -> list[tuple]:
    """The runs not yet cached, seed by seed: a study cut short still has whole seeds."""
    jobs = [(d, r, s) for s in seeds for d in datasets for r in runs]
    return [j for j in jobs if not (run_folder(output, *j[:2], j[2]) / "predictions.jsonl").exists()]


def run_all(jobs: list[tuple], settings: dict, n_jobs: int) -> None:
    """Run the jobs, ``n_jobs`` at a time in separate processes (or in this one)."""
    if n_jobs <= 1:
        for job in jobs:
            _, status, seconds = work(job, settings)
            logging.info("%s: %s in %.0f s", job, status, seconds)
        return
    with ProcessPoolExecutor(n_jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(work, job, settings) for job in jobs]
        for done, future in enumerate(as_completed(futures), start=1):
            job, status, seconds = future.result()
            logging.info("[%d/%d] %s: %s in %.0f s", done, len(jobs), job, status, seconds)


def unpack_cache(output: Path) -> None:
    """Extract the committed ``runs.tar.xz`` when the cache folder is absent (a fresh clone)."""
    archive = output / ARCHIVE
    if not (output / "runs").exists() and archive.exists():
        with tarfile.open(archive) as tar:
            tar.extractall(output, filter="data")
        logging.info("cache extracted from %s", archive)


def pack_cache(output: Path) -> None:
    """Write the cache's predictions and run records (not the trained models) to ``runs.tar.xz``.

    Left alone when no cached file is newer than it, so that rebuilding the report changes no archive.
    """
    archive = output / ARCHIVE
    files = sorted(p for p in (output / "runs").glob("*/*/*") if p.name in ("predictions.jsonl", "run.json"))
    if archive.exists() and all(p.stat().st_mtime <= archive.stat().st_mtime for p in files):
        return
    with tarfile.open(archive, "w:xz") as tar:
        for path in files:
            tar.add(path, arcname=str(path.relative_to(output)))


def report(datasets: list[str], runs: list[str], seeds: list[int], args: argparse.Namespace) -> None:
    """Build the report from the cached runs (runs missing for some seed are left out)."""
    from mrekit.formats import jsonl

    sets, results = [], {}
    for name in datasets:
        sets.append(study_data(name, args.data))
        for run in runs:
            files = [run_folder(args.output, name, run, s) / "predictions.jsonl" for s in seeds]
            if all(f.exists() for f in files):
                results.setdefault(name, {})[run] = [list(jsonl.read(f)) for f in files]
            else:
                logging.warning("%s %s: not all seeds finished, left out of the report", name, run)
    command = "python bench/study.py --datasets " + " ".join(datasets) + " --seeds " + " ".join(map(str, seeds))
    dev = {name: read_dev_scores(args.output, name, runs, seeds) for name in datasets}
    built = build_report(sets, results, command=command, n_resamples=args.bootstrap, dev_scores=dev)
    devices = Counter(
        json.loads(path.read_text()).get("device", "cpu") for path in args.output.glob("runs/*/*/run.json")
    )
    built["_meta"].update(
        recipes={n: recipe(n) for n in datasets}, seeds=seeds, splits="as bench/joint.py", trained_on=dict(devices)
    )
    target = args.report_dir or args.output
    write_report(built, target)
    logging.info("report written to %s", target / "report.md")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--data", type=Path, default=ROOT.parent.parent / "shared" / "data")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--encoder", default=None, help="local encoder folder (default: the bundled MiniLM)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side, one process and CPU thread each")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of a run with --jobs 1")
    parser.add_argument("--deadline-minutes", type=float, default=None, help="start no run after this long")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument(
        "--report-dir", type=Path, default=None, help="write the report here (default: --output), e.g. a seed-0 report"
    )
    parser.add_argument("--no-report", action="store_true", help="only train (e.g. on a lent GPU machine)")
    parser.add_argument("--max-train", type=int, default=None, help="smoke runs only: cap the training set")
    parser.add_argument("--epochs", type=int, default=None, help="smoke runs only: override the recipe")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    unpack_cache(args.output)
    if not args.report_only:
        jobs = plan(args.datasets, args.runs, args.seeds, args.output)
        deadline = time.time() + 60 * args.deadline_minutes if args.deadline_minutes else float("inf")
        settings = {
            "data": args.data,
            "output": args.output,
            "encoder": args.encoder,
            "device": args.device,
            # side by side, each process gets one CPU thread: more would only contend
            "threads": 1 if args.jobs > 1 else args.threads,
            "deadline": deadline,
            "max_train": args.max_train,
            "epochs": args.epochs,
        }
        if args.jobs > 1:
            os.environ.setdefault("OMP_NUM_THREADS", "1")
        logging.info("%d runs to do, %d at a time", len(jobs), args.jobs)
        run_all(jobs, settings, args.jobs)
    if not args.no_report:
        report(args.datasets, args.runs, args.seeds, args)
        pack_cache(args.output)


if __name__ == "__main__":
    main()
