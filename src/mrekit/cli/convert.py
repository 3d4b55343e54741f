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
    to_format: str | None = None,
    label_sep: str | None = None,
    overwrite: bool = False,
) -> int:
    """Convert a data set between formats; the output appears only when complete.

    Args:
        input_path: A file or folder, or a bundled set such as ``snips:test``.
        output_path: Where to write; ``-`` for standard output.
        from_format: Input format (inferred from the path when ``None``).
        to_format: Output format; when ``None``, the output suffix's (``.spacy``,
            ``.conll``...; ``jsonl`` for ``-``, ``.jsonl`` and unknown suffixes; a ``.json``
            output needs ``--to labelstudio``). One contradicting the suffix is ``E135``.
        label_sep: For ``bio`` input, split intents such as ``a#b`` into several labels.
        overwrite: Replace an existing output (never the input, never a folder mrekit did not write).

    Returns:
        The number of examples written.

    Raises:
        MrekitError: ``E130`` unknown format, ``E131`` a format that cannot be inferred,
            ``E135`` ``--to`` contradicting the output name, ``E17x`` a refused output,
            and the reader's codes for a bad input (nothing is written then).

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "snips_test.conll"
        >>> convert("snips:test", out)  # --to conll, from the suffix
        700
    """
    path, builtin_format = datasets.resolve(input_path)
    name = from_format or builtin_format or formats.infer_format(path)
    # Fail on an unknown or contradictory output format before reading anything.
    to_format = formats.infer_output_format(output_path, to_format)
    module = formats.format_module(to_format)
    # Refuse a bad output path before reading anything, too (the writer checks again when it opens).
    check = check_output_dir if to_format in formats.FOLDER_FORMATS else check_output_file
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
    to_format: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Output format; inferred from the output suffix (.spacy, .conll, .jsonl; jsonl for -). "
            "A .json output needs --to labelstudio.",
        ),
    ] = None,
    label_sep: Annotated[
        str | None, typer.Option(help="With --from bio: split intents on this string (ATIS uses '#').")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output that mrekit wrote.")] = False,
) -> None:
    """Convert a data set between formats (nothing is written if the input has an error).

    The output format follows the output name (train.spacy is spaCy, x.conll CoNLL);
    --to contradicting it is refused. An existing output is refused unless --overwrite;
    the input is never overwritten.

    Examples:
        mrekit convert snips:test snips_test.jsonl
        mrekit convert data.jsonl train.spacy
        mrekit convert data.conll data.jsonl --overwrite
        mrekit convert data.jsonl bio_folder --to bio
        mrekit convert data.jsonl tasks.json --to labelstudio
        mrekit convert export.jsonl data.jsonl --from doccano
        mrekit convert data.jsonl - | head
    """
    n = cli_errors(convert)(
        input_path, output_path, from_format=from_format, to_format=to_format, label_sep=label_sep, overwrite=overwrite
    )
    written = formats.infer_output_format(output_path, to_format)  # cannot fail: convert checked it
    if str(output_path) == "-":  # the data went to stdout: the summary goes to stderr
        err_console.print(f"[green]✔[/] wrote {n} examples to stdout ({written})")
    else:
        console.print(f"[green]✔[/] wrote {n} examples to {output_path} ({written})")
