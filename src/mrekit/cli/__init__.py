"""The ``mrekit`` command line: one module per command, each a plain function plus a thin typer wrapper."""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from mrekit.cli import (
    annotate,
    convert,
    encoders,
    evaluate,
    export,
    fewshot,
    predict,
    quickstart,
    serve,
    stats,
    study,
    train,
    validate,
)
from mrekit.cli import calibrate as calibrate_command
from mrekit.cli import package as package_command
from mrekit.cli._ui import console, setup_logging
from mrekit.modelcard import set_command

#: ``-h`` as well as ``--help``, for the app and (inherited through click's context) every command.
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


def _as_switch(param: Any) -> Any:
    """Show an on/off option as a switch: no ``<bool>`` value column in the help."""
    if getattr(param, "is_flag", False):
        param.display_type_rich = lambda ctx: None
    return param


class _Group(TyperGroup):
    """The app's group: its commands' flags (and ``-h/--help``) are shown as switches, not ``<bool>`` values."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            for param in command.params:
                _as_switch(param)
            help_option = command.get_help_option(ctx)
            if help_option is not None:
                _as_switch(help_option)
        return command

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        for param in self.params:
            _as_switch(param)
        option = super().get_help_option(ctx)
        return _as_switch(option) if option is not None else None


app = typer.Typer(
    name="mrekit",
    help="Joint text-level and word-level information extraction (Mutual Reinforcement Effect).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings=CONTEXT_SETTINGS,
    cls=_Group,
)


def _show_version(value: bool) -> None:
    if value:
        console.print(f"mrekit {_version()}", highlight=False)
        raise typer.Exit()


def _version() -> str:
    try:
        return package_version("mrekit")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown"


@app.callback()
def _setup(
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Show mrekit's version and exit.")
    ] = False,
) -> None:
    """Joint text-level and word-level information extraction (Mutual Reinforcement Effect).

    Example:
        mrekit quickstart
    """
    setup_logging()


app.command("convert")(convert.command)
app.command("validate")(validate.command)
app.command("stats")(stats.command)
app.command("evaluate")(evaluate.command)
app.command("calibrate")(calibrate_command.command)
app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(train.command)
app.command("predict")(predict.command)
app.command("annotate")(annotate.command)
app.command("quickstart")(quickstart.command)
app.command("study")(study.command)
app.command("fewshot")(fewshot.command)
app.command("export")(export.command)
app.command("serve")(serve.command)
app.command("package")(package_command.command)
app.add_typer(encoders.app, name="encoders")


def main() -> None:
    """Entry point of the ``mrekit`` console script (the command line is recorded for model cards)."""
    set_command(["mrekit", *sys.argv[1:]])
    app()
