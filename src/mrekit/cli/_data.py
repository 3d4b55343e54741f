"""Reading data arguments for the model commands."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.text import Text

from mrekit import datasets
from mrekit.cli._ui import err_console
from mrekit.schema import Example
from mrekit.trainer.progress import PROGRESS_LOGGER


def read_examples(
    spec: str | Path | Mapping[str, Any] | datasets.DataSpec, fmt: str | None = None, *, field: str = "data"
) -> list[Example]:
    """Read a file, folder or bundled set (``snips:train``), or one part of a seeded split of one, into memory.

    The same as :func:`mrekit.datasets.read_data`: ``spec`` may be a config table such as
    ``{"path": "train.xml", "split": [0.9, 0.1], "part": 1, "seed": 0}``, checked before
    anything is read (``E183`` naming ``field``, e.g. ``dev.part``).

    Example:
        >>> len(read_examples("snips:test")), len(read_examples({"path": "snips:test", "split": [0.9, 0.1], "part": 1}))
        (700, 70)
    """
    return datasets.read_data(spec, fmt, field=field)


@contextmanager
def training_progress() -> Iterator[Any]:
    """A rich progress display of the epochs on a terminal; off a terminal, plain lines instead.

    On a terminal this yields a ``rich.progress.Progress`` (to stderr). Elsewhere (CI logs,
    ``nohup``, notebooks) it yields ``None`` and, while open, prints the lines of the
    ``mrekit.trainer.progress`` logger to stderr: the run's budget, a progress line every
    30 s and at each tenth of the run, and one line per epoch.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if err_console.is_terminal:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err_console) as bar:
            yield bar
        return
    progress_logger = logging.getLogger(PROGRESS_LOGGER)
    handler = _PlainLines()
    saved = progress_logger.level, progress_logger.propagate
    progress_logger.addHandler(handler)
    progress_logger.setLevel(logging.INFO)
    progress_logger.propagate = False  # mrekit's console handler would show them again, as warnings
    try:
        yield None
    finally:
        progress_logger.removeHandler(handler)
        progress_logger.setLevel(saved[0])
        progress_logger.propagate = saved[1]


class _PlainLines(logging.Handler):
    """Each record as a plain line on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        err_console.print(Text(record.getMessage()), highlight=False, soft_wrap=True)
