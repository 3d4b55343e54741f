"""The ``mrekit`` command line: one module per command, each a plain function plus a thin typer wrapper."""

from __future__ import annotations

import typer

from mrekit.cli import convert, evaluate, export, fewshot, predict, quickstart, serve, stats, study, train, validate
from mrekit.cli._ui import setup_logging

app = typer.Typer(
    name="mrekit",
    help="Joint text-level and word-level information extraction (Mutual Reinforcement Effect).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _setup() -> None:
    """Joint text-level and word-level information extraction (Mutual Reinforcement Effect)."""
    setup_logging()


app.command("convert")(convert.command)
app.command("validate")(validate.command)
app.command("stats")(stats.command)
app.command("evaluate")(evaluate.command)
app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(train.command)
app.command("predict")(predict.command)
app.command("quickstart")(quickstart.command)
app.command("study")(study.command)
app.command("fewshot")(fewshot.command)
app.command("export")(export.command)
app.command("serve")(serve.command)


def main() -> None:
    """Entry point of the ``mrekit`` console script."""
    app()
