"""Engines: what runs the model over the shards that :func:`mrekit.annotate.annotate` plans.

The runner reads the inputs, cuts them into shards and keeps the output folder's
manifest; an engine only turns shard tasks into shard files. An engine is a function

    ``engine(job, tasks, on_documents) -> Iterator[ShardDone]``

that takes :class:`ShardTask` s from the iterable ``tasks`` lazily (holding at most a
bounded number at once: that is what keeps memory bounded), writes each one to
``job.output / shard_name(task.index, job.fmt)`` with :func:`annotate_shard` (atomic:
whole or absent), yields a :class:`ShardDone` once its file is in place (in any order),
calls ``on_documents(n)`` in the caller's thread as documents are done, and on a
failure stops its workers and raises (the shards already yielded stay valid). Engines
are registered by name in :data:`ENGINES` (:func:`register_engine`); ``local`` is built
in; ``ray`` (:mod:`mrekit.annotate.ray_engine`) is registered the first time it is asked
for, when Ray is installed (``E220`` with the install hint otherwise), so that importing
mrekit never imports Ray.

Example:
    >>> "local" in ENGINES
    True
    >>> get_engine("spark")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mrekit.errors.MrekitError: [E220] field 'engine': unknown annotation engine 'spark' (known: local...)
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import multiprocessing
import os
import queue
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrekit.annotate.sinks import ShardFile, build_row, shard_name, write_shard
from mrekit.annotate.sources import Record
from mrekit.errors import MrekitError
from mrekit.predictor import Predictor, load, stream_predictions
from mrekit.schema import Example

#: How often (seconds) the parent checks that its worker processes are still alive.
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Job:
    """What every shard of one run shares: the model, the output folder and how rows are written.

    Args:
        model: The model folder (absolute), as :func:`mrekit.load` takes it.
        output: The output folder (absolute).
        fmt: ``jsonl`` or ``parquet``.
        include_text: Whether rows hold the document's text.
        batch_size: Texts per forward pass.
        workers: Processes (``local``: 1 runs in this process).
        threads: Torch threads per worker (``None``: cores / workers when ``workers > 1``,
            torch's own setting otherwise).
        row_model: The ``model`` and ``model_version`` of every row.
        load_options: Keyword arguments for :func:`mrekit.load` (``backend``, ...).
    """

    model: str
    output: str
    fmt: str = "jsonl"
    include_text: bool = True
    batch_size: int = 64
    workers: int = 1
    threads: int | None = None
    row_model: dict[str, Any] = field(default_factory=dict)
    load_options: dict[str, Any] = field(default_factory=dict)

    def threads_per_worker(self) -> int | None:
        """The torch threads each worker pins (``None``: leave torch's setting alone)."""
        if self.threads is not None or self.workers == 1:
            return self.threads
        return max(1, available_cores() // self.workers)


@dataclass(frozen=True)
class ShardTask:
    """One shard to write: its index and its documents, in order."""

    index: int
    records: tuple[Record, ...]


@dataclass(frozen=True)
class ShardDone:
    """A shard whose file is in place."""

    index: int
    file: ShardFile
    seconds: float


Engine = Callable[[Job, Iterable[ShardTask], Callable[[int], None]], Iterator[ShardDone]]

#: Registered engines by name.
ENGINES: dict[str, Engine] = {}
#: Engine names kept for engines that come with an extra, and the extra.
RESERVED = {"ray": "ray"}
#: Engines registered on first use: name -> (the package they need, their module, the engine's name in it).
LAZY = {"ray": ("ray", "mrekit.annotate.ray_engine", "run_ray")}


def register_engine(name: str, engine: Engine) -> Engine:
    """Register ``engine`` as ``name`` (re-registering replaces it); returns it."""
    ENGINES[name] = engine
    return engine


def get_engine(name: str) -> Engine:
    """The engine registered as ``name``.

    Raises:
        MrekitError: ``E220`` for a reserved engine that is not installed, or an unknown name.
    """
    if name in ENGINES:
        return ENGINES[name]
    if name in LAZY:
        package, module, attribute = LAZY[name]
        if importlib.util.find_spec(package) is not None:  # found, not imported: the engine imports it when run
            return register_engine(name, getattr(importlib.import_module(module), attribute))
    if name in RESERVED:
        extra = RESERVED[name]
        raise MrekitError(
            "E220",
            f"the {name} engine needs the {extra} extra, which is not installed",
            field="engine",
            hint=f"pip install 'mrekit[{extra}]', or use --engine local",
        )
    known = ", ".join(sorted(set(ENGINES) | set(LAZY)))
    raise MrekitError("E220", f"unknown annotation engine {name!r}", field="engine", hint=f"known: {known}")


def available_cores() -> int:
    """The CPU cores this process may run on."""
    with contextlib.suppress(AttributeError, OSError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def pin_threads(threads: int | None) -> None:
    """Give torch (and the BLAS and OpenMP it uses) ``threads`` threads; ``None`` changes nothing."""
    if threads is None:
        return
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)  # read when torch is first imported in a fresh worker
    import torch

    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # only possible before any parallel work
        torch.set_num_interop_threads(1)


def annotate_shard(
    nlp: Predictor, task: ShardTask, job: Job, on_documents: Callable[[int], None] | None = None
) -> ShardDone:
    """Predict a shard's documents (``nlp.pipe``, ``job.batch_size`` at a time) and write its file atomically."""
    start = time.monotonic()
    records = task.records
    # The streaming path of ``mrekit predict``: the same batches, so the same predictions.
    predictions = stream_predictions(nlp, (Example(r.text, id=r.id) for r in records), batch_size=job.batch_size)

    def rows() -> Iterator[dict[str, Any]]:
        pending = 0
        for record, prediction in zip(records, predictions, strict=True):
            yield build_row(record, prediction, model=job.row_model, include_text=job.include_text)
            pending += 1
            if on_documents is not None and pending == job.batch_size:
                on_documents(pending)
                pending = 0
        if on_documents is not None and pending:
            on_documents(pending)

    path = Path(job.output) / shard_name(task.index, job.fmt)
    done = write_shard(path, rows(), fmt=job.fmt, include_text=job.include_text)
    return ShardDone(task.index, done, time.monotonic() - start)


def run_local(job: Job, tasks: Iterable[ShardTask], on_documents: Callable[[int], None]) -> Iterator[ShardDone]:
    """The ``local`` engine: this process (``workers=1``) or ``workers`` spawned processes.

    Worker processes each load the model once, pin ``job.threads_per_worker()`` torch
    threads and get shards dealt round-robin, one at a time: a worker gets its next
    shard only when it has finished the last, so at most one shard per worker is held.
    Each shard is predicted exactly as in one process, so the files are the same.
    """
    if job.workers == 1:
        nlp = None
        for task in tasks:
            if nlp is None:  # loaded for the first shard to write: a resume with none to write loads nothing
                pin_threads(job.threads)
                nlp = load(job.model, **job.load_options)
            yield annotate_shard(nlp, task, job, on_documents)
        return
    pool = _Pool(job)
    try:
        for dealt, task in enumerate(tasks):
            slot = dealt % job.workers
            while pool.busy[slot]:
                yield pool.next_done(on_documents)
            pool.send(slot, task)
        while any(pool.busy):
            yield pool.next_done(on_documents)
    finally:
        pool.close()


register_engine("local", run_local)


class _Pool:
    """Worker processes (spawned, started on first use) and the queues to and from them."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.context = multiprocessing.get_context("spawn")
        self.results: Any = self.context.Queue()
        self.inboxes: list[Any] = [None] * job.workers
        self.processes: list[Any] = [None] * job.workers
        self.busy = [False] * job.workers

    def send(self, slot: int, task: ShardTask) -> None:
        if self.processes[slot] is None:
            self.inboxes[slot] = self.context.Queue()
            process = self.context.Process(
                target=_worker, args=(slot, self.job, self.inboxes[slot], self.results), daemon=True
            )
            process.start()
            self.processes[slot] = process
        self.inboxes[slot].put(task)
        self.busy[slot] = True

    def next_done(self, on_documents: Callable[[int], None]) -> ShardDone:
        """Wait for the next finished shard, passing progress on; raise a worker's failure."""
        while True:
            try:
                kind, slot, payload = self.results.get(timeout=POLL_SECONDS)
            except queue.Empty:
                self._check_alive()
                continue
            if kind == "documents":
                on_documents(payload)
            elif kind == "done":
                self.busy[slot] = False
                return payload
            else:
                raise _rebuild(slot, payload)

    def _check_alive(self) -> None:
        for slot, process in enumerate(self.processes):
            if process is not None and self.busy[slot] and not process.is_alive():
                raise RuntimeError(f"annotation worker {slot} died (exit code {process.exitcode})")

    def close(self) -> None:
        for slot, process in enumerate(self.processes):
            if process is not None and process.is_alive():
                with contextlib.suppress(Exception):
                    self.inboxes[slot].put(None)
        deadline = time.monotonic() + 10
        for process in self.processes:
            if process is not None:
                process.join(timeout=max(0.0, deadline - time.monotonic()) if not any(self.busy) else 0)
                if process.is_alive():
                    process.terminate()
                    process.join(timeout=5)


def _worker(slot: int, job: Job, inbox: Any, results: Any) -> None:
    """A worker process: load the model once, then write the shards it is sent until ``None``."""
    try:
        pin_threads(job.threads_per_worker())
        nlp = load(job.model, **job.load_options)
        while (task := inbox.get()) is not None:
            done = annotate_shard(nlp, task, job, lambda n: results.put(("documents", slot, n)))
            results.put(("done", slot, done))
    except BaseException as exc:  # noqa: B036 - the parent decides what a failure means
        results.put(("error", slot, _describe(exc)))


def _describe(exc: BaseException) -> dict[str, Any]:
    """A failure as plain data (a MrekitError does not survive pickling as itself)."""
    if isinstance(exc, MrekitError):
        return {
            "code": exc.code,
            "message": exc.message,
            "path": exc.path,
            "line": exc.line,
            "field": exc.field,
            "hint": exc.hint,
        }
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {"type": type(exc).__name__, "message": str(exc), "traceback": text}


def _rebuild(slot: int, failure: dict[str, Any]) -> Exception:
    if "code" in failure:
        return MrekitError(**failure)
    head = f"annotation worker {slot} failed: {failure['type']}: {failure['message']}"
    return RuntimeError(f"{head}\n{failure['traceback']}")
