"""``mrekit validate``: list every problem of a data file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mrekit import datasets, formats
from mrekit.cli._ui import cli_errors, console
from mrekit.errors import MrekitError
from mrekit.files import iter_lines
from mrekit.formats import jsonl
from mrekit.schema import validate as validate_example


def validate(
    data: str | Path,
    *,
    from_format: str | None = None,
    allow_overlap: bool = True,
    max_problems: int = 100,
) -> tuple[int, list[MrekitError]]:
    """Check a data file and return ``(examples checked, problems)``.

    Canonical JSONL is checked line by line and every problem is listed; other
    formats stop at their first error, which is reported with its location.

    Example:
        >>> n, problems = validate("snips:test")
        >>> n, problems
        (700, [])
    """
    path, builtin_format = datasets.resolve(data)
    name = from_format or builtin_format or formats.infer_format(path)
    if name == "jsonl":
        return _validate_jsonl(path, allow_overlap, max_problems)
    problems: list[MrekitError] = []
    count = 0
    seen: dict[str, int] = {}
    try:
        for count, example in enumerate(formats.read(path, name), start=1):
            for problem in validate_example(example, allow_overlap=allow_overlap):
                problems.append(MrekitError(problem.code, f"example {count}: {problem.message}", path=path))
            duplicate = _duplicate_id(example.id, count, seen)
            if duplicate:
                problems.append(MrekitError("E107", f"example {count}: {duplicate}", path=path, field="id"))
    except MrekitError as err:
        problems.append(err)
    return count, problems[:max_problems]


def _validate_jsonl(path: Path, allow_overlap: bool, max_problems: int) -> tuple[int, list[MrekitError]]:
    problems: list[MrekitError] = []
    count = 0
    seen: dict[str, int] = {}
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        count += 1
        try:
            example = jsonl.parse_line(line, check=False)
        except MrekitError as err:
            problems.append(err.at(path, number))
            continue
        problems.extend(p.at(path, number) for p in validate_example(example, allow_overlap=allow_overlap))
        duplicate = _duplicate_id(example.id, number, seen)
        if duplicate:
            problems.append(MrekitError("E107", duplicate, path=path, line=number, field="id"))
        if len(problems) >= max_problems:
            break
    if count == 0:
        problems.append(MrekitError("E101", "no examples in file", path=path))
    return count, problems[:max_problems]


def _duplicate_id(example_id: str | None, where: int, seen: dict[str, int]) -> str | None:
    """A message when ``example_id`` was seen before (ids pair gold with predictions)."""
    if example_id is None:
        return None
    if example_id in seen:
        return f"id {example_id!r} was already used at {seen[example_id]}"
    seen[example_id] = where
    return None


def command(
    data: Annotated[str, typer.Argument(help="Data file or folder, or a bundled set such as snips:train.")],
    from_format: Annotated[str | None, typer.Option("--from", help="Input format; inferred if omitted.")] = None,
    allow_overlap: Annotated[bool, typer.Option(help="Accept overlapping spans.")] = True,
    max_problems: Annotated[int, typer.Option(help="Stop listing after this many problems.")] = 100,
) -> None:
    """Check offsets, indices, surfaces and syntax; exit 1 if anything is wrong.

    Examples:
        mrekit validate data.jsonl
        mrekit validate snips:train
        mrekit validate data.conll --no-allow-overlap --max-problems 20
    """
    count, problems = cli_errors(validate)(
        data, from_format=from_format, allow_overlap=allow_overlap, max_problems=max_problems
    )
    if not problems:
        console.print(f"[green]✔[/] {count} examples, no problems")
        return
    table = Table("code", "where", "problem", title=f"{len(problems)} problem(s)")
    for p in problems:
        table.add_row(p.code, p.location, p.message + (f" ({p.hint})" if p.hint else ""))
    console.print(table)
    raise typer.Exit(code=1)
