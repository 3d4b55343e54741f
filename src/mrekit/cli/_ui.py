"""Console, progress and error handling shared by the CLI commands."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import ParamSpec, TypeVar

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
            # The message is plain text: hints such as "pip install mrekit[server]" are not rich markup.
            err_console.print(Text("✘ ", style="bold red") + Text(str(err)), highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from None

    return wrapper


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
