"""Reading data arguments for the model commands."""

from __future__ import annotations

from pathlib import Path

from mrekit import datasets, formats
from mrekit.schema import Example


def read_examples(spec: str | Path, fmt: str | None = None) -> list[Example]:
    """Read a file, folder or bundled set (``snips:train``) into memory."""
    path, builtin_format = datasets.resolve(spec)
    return list(formats.read(path, fmt or builtin_format or formats.infer_format(path)))


def training_progress():
    """A rich progress display for epochs (to stderr; silent when not a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from mrekit.cli._ui import err_console

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=not err_console.is_terminal,
    )
