"""``mrekit annotate``: run a model over a corpus into sharded, resumable outputs.

``mrekit.annotate(model, inputs, output, ...)`` (this package is callable: it is
:func:`~mrekit.annotate.runner.annotate`) reads JSONL, TXT, CSV/TSV or Parquet files
(or globs) as one stream, annotates them ``batch_size`` texts at a time in one process
or ``workers`` processes, and writes ``OUT/part-NNNNN.jsonl`` (or ``.parquet``) shards
atomically, bad input rows to ``OUT/errors.jsonl``, and what is finished to
``OUT/manifest.json``, from which ``resume=True`` writes only the missing shards.

Parts: :mod:`~mrekit.annotate.sources` (readers), :mod:`~mrekit.annotate.sinks` (rows
and shard writers), :mod:`~mrekit.annotate.state` (the output folder and its manifest),
:mod:`~mrekit.annotate.engines` (what runs the shards: ``local``; a registry for more),
:mod:`~mrekit.annotate.runner` (the run).

Example:
    >>> import mrekit
    >>> mrekit.annotate("runs/snips", ["texts/*.txt", "more.jsonl"], "annotated", workers=2)  # doctest: +SKIP
    {'documents': 20000, 'documents_skipped': 0, 'errors': 3, 'shards': 2, 'shards_written': 2, ...}
    >>> mrekit.annotate("runs/snips", ["texts/*.txt", "more.jsonl"], "annotated", resume=True)  # doctest: +SKIP
    {'documents': 0, 'documents_skipped': 20000, 'errors': 3, 'shards': 2, 'shards_written': 0, ...}
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any

from mrekit.annotate.engines import ENGINES, Job, ShardDone, ShardTask, annotate_shard, get_engine, register_engine
from mrekit.annotate.runner import AnnotateProgress, annotate
from mrekit.annotate.sources import BadRow, ReadOptions, Record, expand_inputs, iter_documents

__all__ = [
    "ENGINES",
    "AnnotateProgress",
    "BadRow",
    "Job",
    "ReadOptions",
    "Record",
    "ShardDone",
    "ShardTask",
    "annotate",
    "annotate_shard",
    "expand_inputs",
    "get_engine",
    "iter_documents",
    "register_engine",
]


class _CallablePackage(types.ModuleType):
    """This package, callable as :func:`annotate`: ``mrekit.annotate`` names the package once it is imported."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return annotate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
__signature__ = inspect.signature(annotate)
