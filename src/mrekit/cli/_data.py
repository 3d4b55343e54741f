"""Reading data arguments for the model commands."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mrekit import datasets
from mrekit.cli._ui import err_console
from mrekit.schema import Example


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


def training_progress():
    """A rich progress display for epochs (to stderr; silent when not a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=not err_console.is_terminal,
    )
