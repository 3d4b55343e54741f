"""``mrekit convert``: from any supported format to any writable one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mrekit import datasets, formats
from mrekit.cli._ui import cli_errors, console, err_console, progress
from mrekit.outputs import check_output_dir, check_output_file


def convert(
    input_path: str | Path,
    output_path: str | Path,
    *,
    from_format: str | None = None,
    to_format: str = "jsonl",
    label_sep: str | None = None,
    overwrite: bool = False,
) -> int:
    """Convert a data set between formats; the output appears only when complete.

    Args:
        input_path: A file or folder, or a bundled set such as ``snips:test``.
        output_path: Where to write.
        from_format: Input format (inferred from the path when ``None``).
        to_format: Output format.
        label_sep: For ``bio`` input, split intents such as ``a#b`` into several labels.
        overwrite: Replace an existing output (never the input, never a folder mrekit did not write).

    Returns:
        The number of examples written.

    Example:
        >>> convert("snips:test", "/tmp/snips_test.jsonl")  # doctest: +SKIP
        700
    """
    path, builtin_format = datasets.resolve(input_path)
    name = from_format or builtin_format or formats.infer_format(path)
    module = formats.format_module(to_format)  # fail on an unknown output format before reading anything
    # Refuse a bad output path before reading anything, too (the writer checks again when it opens).
    check = check_output_dir if to_format == "bio" else check_output_file
    if str(output_path) != "-":
        check(output_path, overwrite=overwrite, inputs=[path])
    options = {"label_sep": label_sep} if name == "bio" and label_sep else {}
    examples = formats.read(path, name, **options)
    if not hasattr(module, "write"):
        return formats.write(examples, output_path, to_format)  # E130: read-only format
    return formats.write(
        progress(examples, f"converting {path.name}"), output_path, to_format, overwrite=overwrite, inputs=[path]
    )


def command(
    input_path: Annotated[str, typer.Argument(help="Input file or folder, or a bundled set such as snips:test.")],
    output_path: Annotated[Path, typer.Argument(help="Output file (or folder for --to bio); - for stdout.")],
    from_format: Annotated[
        str | None, typer.Option("--from", help=f"Input format: {', '.join(formats.FORMATS)}. Inferred if omitted.")
    ] = None,
    to_format: Annotated[str, typer.Option("--to", help="Output format.")] = "jsonl",
    label_sep: Annotated[
        str | None, typer.Option(help="With --from bio: split intents on this string (ATIS uses '#').")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output that mrekit wrote.")] = False,
) -> None:
    """Convert a data set between formats (nothing is written if the input has an error).

    An existing output is refused unless --overwrite; the input is never overwritten.

    Examples:
        mrekit convert snips:test snips_test.jsonl
        mrekit convert data.conll data.jsonl --overwrite
        mrekit convert data.jsonl bio_folder --to bio
        mrekit convert data.jsonl - | head
    """
    n = cli_errors(convert)(
        input_path, output_path, from_format=from_format, to_format=to_format, label_sep=label_sep, overwrite=overwrite
    )
    if str(output_path) == "-":  # the data went to stdout: the summary goes to stderr
        err_console.print(f"[green]✔[/] wrote {n} examples to stdout ({to_format})")
    else:
        console.print(f"[green]✔[/] wrote {n} examples to {output_path} ({to_format})")
