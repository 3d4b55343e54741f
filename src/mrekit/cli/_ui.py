"""Console, progress and error handling shared by the CLI commands."""

from __future__ import annotations

import errno
import functools
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from mrekit.errors import MrekitError

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def cli_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a :class:`MrekitError` into a one-line message on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except MrekitError as err:
            _fail(str(err))
        except OSError as err:
            # A last line of defence: the writers turn these into E171 themselves, but a full
            # disk or a denied read elsewhere still deserves one line, not a traceback.
            code = "E171" if err.errno in (errno.ENOSPC, errno.EDQUOT) else None
            where = f"{err.filename}: " if err.filename else ""
            _fail(f"[{code}] {where}{err.strerror or err}" if code else f"{where}{err.strerror or err}")

    return wrapper


def _fail(message: str) -> NoReturn:
    # The message is plain text: hints such as "pip install mrekit[server]" are not rich markup.
    err_console.print(Text("✘ ", style="bold red") + Text(message), highlight=False, soft_wrap=True)
    raise typer.Exit(code=1)


class _ConsoleHandler(logging.Handler):
    """mrekit's warnings on stderr, one line each (coded ones keep their ``[Wxxx]``)."""

    def emit(self, record: logging.LogRecord) -> None:
        style = "yellow" if record.levelno < logging.ERROR else "bold red"
        err_console.print(Text("⚠ ", style=style) + Text(record.getMessage()), highlight=False, soft_wrap=True)


def setup_logging(level: int = logging.WARNING) -> None:
    """Show mrekit's log records at ``level`` and above on stderr (once per process)."""
    root = logging.getLogger("mrekit")
    if not any(isinstance(h, _ConsoleHandler) for h in root.handlers):
        root.addHandler(_ConsoleHandler())
    root.setLevel(level)


def progress(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a rich progress bar on a terminal (silent otherwise)."""
    columns = [
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)
