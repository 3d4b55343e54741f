"""The ``ray`` engine: the runner's shards annotated by a pool of Ray actors, through Ray Data.

Needs the ``ray`` extra (``pip install 'mrekit[ray]'``); importing this module does not
import Ray (``get_engine("ray")`` imports it on demand, and says ``E220`` without Ray).

The runner still reads the inputs and plans the shards (their boundaries and ids, which
``--resume`` and the manifest rely on); this engine only runs them. It takes the planned
:class:`~mrekit.annotate.engines.ShardTask` s a window at a time (``window`` shards, by
default :data:`SHARDS_PER_ACTOR` per actor: that bounds the driver's memory and the
object store), makes a Ray Data dataset of them (one block per shard) and
``map_batches`` it with :class:`ShardWriter`, a callable class run by
``ActorPoolStrategy(size=job.workers)`` actors of ``cpus_per_worker`` CPUs each. An actor
pins its torch threads to its CPUs, loads the model once with :func:`mrekit.load`, and
writes each shard it is given with :func:`~mrekit.annotate.engines.annotate_shard`
(atomically) straight into the output folder; it returns only the shard's record
(name, count, size, hash, first and last id), which ``iter_rows`` streams back as shards
finish, so the runner's manifest follows the run. Progress is counted a shard at a time.

The output folder (and the model folder) must be on a filesystem that every node of the
cluster sees at the same path (NFS, a cluster filesystem, a FUSE mount of a bucket): the
actors write the shards, the driver writes the manifest. An actor that does not find the
run's manifest in the output folder refuses to write (``E100``) rather than write shards
to a disk of its own. Every node needs mrekit (and what the model needs) installed.

Faults: an actor that dies (killed, out of memory, a lost node) is restarted by Ray, up to
``max_restarts`` times, and its shard is retried, up to ``max_task_retries`` times; its
model is loaded again. A shard that was written but not reported is written again, whole
and the same, over the same file (shard writes are atomic and name the shard by its index),
and a shard reported twice is yielded once (and the runner records a shard once), so every
document ends up in exactly one shard file. An error raised while annotating (a
:class:`~mrekit.errors.MrekitError` such as ``E108``) is not retried: it stops the run as it
does with the ``local`` engine.

Cluster: ``address`` (or ``$RAY_ADDRESS``) joins a running cluster (``ray://HEAD:10001``,
``HEAD:6379``, ``auto``); without one, a local Ray is started with
``workers x cpus_per_worker`` CPUs and shut down at the end. A Ray that this process has
already started (``ray.init``) is used as it is and left running.

Example:
    >>> engine = RayEngine(address="ray://head:10001", cpus_per_worker=4)
    >>> engine.cpus(Job(model="m", output="o", threads=None))
    4
    >>> import mrekit
    >>> mrekit.annotate("runs/snips", ["data/*.jsonl"], "/shared/out", engine=engine, workers=16)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import pickle
import socket
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrekit.annotate.engines import Job, ShardDone, ShardTask, _describe, annotate_shard, pin_threads
from mrekit.annotate.state import MANIFEST
from mrekit.errors import MrekitError
from mrekit.predictor import check_batch_size, load

#: Shards per actor in one dataset, by default (``RayEngine.window``).
SHARDS_PER_ACTOR = 8
#: How often Ray restarts a dead actor, and retries the shard it held, by default.
MAX_RESTARTS = 3
MAX_TASK_RETRIES = 3

#: A test hook, called in the actor with the shard task and ``"start"`` or ``"written"``.
ShardHook = Callable[[ShardTask, str], None]


def require_ray() -> Any:
    """``ray`` (with Ray Data), imported; ``E220`` when the extra is not installed."""
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data comes with ray[data] only
    except ImportError as err:
        raise MrekitError(
            "E220",
            f"the ray engine needs the ray extra, which is not installed ({err})",
            field="engine",
            hint="pip install 'mrekit[ray]', or use --engine local",
        ) from None
    return ray


@dataclass(frozen=True)
class RayEngine:
    """The ``ray`` engine with its settings; call it as any engine (``engine(job, tasks, on_documents)``).

    Args:
        address: The cluster to join (default ``$RAY_ADDRESS``; neither: start a local Ray).
        cpus_per_worker: CPUs each actor reserves, and its torch threads (default: ``job.threads``, else 1).
        window: Shards per dataset (default ``job.workers *`` :data:`SHARDS_PER_ACTOR`): what the
            driver and the object store hold at once; each window's actors load the model once.
        max_restarts: Restarts of a dead actor (Ray's ``max_restarts``).
        max_task_retries: Retries of the shard a dead actor held (Ray's ``max_task_retries``).
        init_options: More keyword arguments for ``ray.init`` (``runtime_env``, ...).
        on_shard: A test hook run in the actor before a shard (``"start"``) and after its file
            is in place (``"written"``), e.g. to kill the actor there.
    """

    address: str | None = None
    cpus_per_worker: int | None = None
    window: int | None = None
    max_restarts: int = MAX_RESTARTS
    max_task_retries: int = MAX_TASK_RETRIES
    init_options: dict[str, Any] = field(default_factory=dict)
    on_shard: ShardHook | None = None

    def __post_init__(self) -> None:
        check_batch_size(self.cpus_per_worker, name="cpus_per_worker", optional=True)
        check_batch_size(self.window, name="window", optional=True)

    def cpus(self, job: Job) -> int:
        """The CPUs each actor reserves (and its torch threads, unless ``job.threads`` says otherwise)."""
        return self.cpus_per_worker or job.threads or 1

    def __call__(
        self, job: Job, tasks: Iterable[ShardTask], on_documents: Callable[[int], None]
    ) -> Iterator[ShardDone]:
        ray = require_ray()
        pending = iter(tasks)
        first = next(pending, None)
        if first is None:  # a resume with nothing to write starts no cluster
            return
        window = self.window or job.workers * SHARDS_PER_ACTOR
        yielded: set[int] = set()
        with self._cluster(ray, job):
            for chunk in _windows(itertools.chain([first], pending), window):
                for done in self._run(ray, job, chunk):
                    if done.index in yielded:  # reported twice (a retried shard): its one file is yielded once
                        continue
                    yielded.add(done.index)
                    on_documents(done.file.documents)
                    yield done

    @contextlib.contextmanager
    def _cluster(self, ray: Any, job: Job) -> Iterator[None]:
        """Join ``address``, or start a local Ray; shut down only a Ray started (or joined) here."""
        if ray.is_initialized():
            yield
            return
        options: dict[str, Any] = {"logging_level": logging.WARNING, **self.init_options}
        address = self.address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, **options)
        else:
            options.setdefault("include_dashboard", False)
            ray.init(address="local", num_cpus=job.workers * self.cpus(job), **options)
        try:
            yield
        finally:
            ray.shutdown()

    def _run(self, ray: Any, job: Job, chunk: list[ShardTask]) -> Iterator[ShardDone]:
        """One dataset: ``chunk``'s shards, written by ``job.workers`` actors (at most one a shard), streamed back."""
        context = ray.data.DataContext.get_current()
        bars, context.enable_progress_bars = context.enable_progress_bars, False  # the runner reports progress
        items = [{"index": task.index, "task": pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)} for task in chunk]
        dataset = ray.data.from_items(items, **_one_block_each(ray, len(items)))
        del items
        cpus = self.cpus(job)
        with warnings.catch_warnings():  # Ray 2.60 deprecates remote args such as max_restarts, and has no other way
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated", category=DeprecationWarning)
            dataset = dataset.map_batches(
                ShardWriter,
                batch_size=1,  # a batch is a shard (its job.batch_size texts at a time go to the model)
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=min(job.workers, len(chunk))),
                num_cpus=cpus,
                fn_constructor_kwargs={"job": job, "threads": job.threads or cpus, "on_shard": self.on_shard},
                max_restarts=self.max_restarts,
                max_task_retries=self.max_task_retries,
            )
        rows = iter(dataset.iter_rows())
        try:
            for row in rows:
                kind, payload = pickle.loads(row["result"])
                if kind == "error":
                    raise _failure(int(row["index"]), payload)
                yield payload
        finally:
            close = getattr(rows, "close", None)
            if close is not None:  # stops the dataset's actors now, not when it is collected
                close()
            context.enable_progress_bars = bars


class ShardWriter:
    """The ``map_batches`` class: one per actor; loads the model once and writes the shards it is given."""

    def __init__(self, job: Job, threads: int | None, on_shard: ShardHook | None = None) -> None:
        self.job, self.on_shard = job, on_shard
        self.failure: dict[str, Any] | None = None
        try:
            if not (Path(job.output) / MANIFEST).is_file():
                raise MrekitError(
                    "E100",
                    f"the output folder is not visible on this node ({socket.gethostname()}): no {MANIFEST} in it",
                    path=job.output,
                    hint="put it on a filesystem that every node of the Ray cluster sees, at the same path",
                )
            pin_threads(threads)
            self.nlp = load(job.model, **job.load_options)
        except Exception as exc:  # reported with the first shard, as the local engine reports it
            self.failure = _describe(exc)

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa  # comes with ray[data]

        indices, results = [], []
        for blob in batch.column("task").to_pylist():
            task: ShardTask = pickle.loads(blob)
            indices.append(task.index)
            results.append(pickle.dumps(self._write(task), protocol=pickle.HIGHEST_PROTOCOL))
        return pa.table({"index": pa.array(indices, pa.int64()), "result": pa.array(results, pa.binary())})

    def _write(self, task: ShardTask) -> tuple[str, Any]:
        if self.failure is not None:
            return "error", self.failure
        try:
            if self.on_shard is not None:
                self.on_shard(task, "start")
            done = annotate_shard(self.nlp, task, self.job)
            if self.on_shard is not None:
                self.on_shard(task, "written")
        except Exception as exc:
            return "error", _describe(exc)
        return "done", done


def _failure(index: int, failure: dict[str, Any]) -> Exception:
    """A failure an actor reported, raised again in the driver (a MrekitError as itself)."""
    if "code" in failure:
        return MrekitError(**failure)
    head = f"shard {index} failed on a Ray actor: {failure['type']}: {failure['message']}"
    return RuntimeError(f"{head}\n{failure['traceback']}")


def _windows(tasks: Iterable[ShardTask], size: int) -> Iterator[list[ShardTask]]:
    """``tasks`` in lists of ``size`` (the last may be shorter), taken lazily."""
    iterator = iter(tasks)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _one_block_each(ray: Any, count: int) -> dict[str, int]:
    """``from_items``'s keyword for one block per item (``override_num_blocks``; ``parallelism`` before Ray 2.10)."""
    import inspect

    parameters = inspect.signature(ray.data.from_items).parameters
    return {"override_num_blocks" if "override_num_blocks" in parameters else "parallelism": count}


run_ray = RayEngine()
"""The ``ray`` engine with its defaults (``$RAY_ADDRESS`` or a local Ray, one CPU per actor)."""
