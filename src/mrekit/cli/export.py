"""``mrekit export``: write an ONNX (optionally int8) export beside a model's PyTorch weights.

The model is loaded (and so checked) first; the export's files are then recorded with
their SHA-256 in the folder's manifest, which is rewritten atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mrekit.cli._ui import cli_errors, console
from mrekit.errors import MrekitError
from mrekit.predictor import engine_of, load


def export(model_dir: str | Path, *, fmt: str = "onnx", quantize: str | None = None) -> list[Path]:
    """Export a model folder; ``quantize="int8"`` adds a dynamically quantised copy.

    Raises:
        MrekitError: ``E130``/``E183`` for bad options, ``E132`` without onnx, ``E181`` for
            a generative model (ONNX export covers the encoder engine), and whatever loading
            the folder raises (``E181``/``E182``/``E185``-``E188``).

    Example:
        >>> export("runs/snips/model-best", quantize="int8")  # doctest: +SKIP
    """
    if fmt != "onnx":
        raise MrekitError("E130", f"unknown export format {fmt!r}", hint="use --format onnx")
    if quantize not in (None, "int8"):
        raise MrekitError("E183", f"--quantize must be int8, not {quantize!r}", field="quantize")
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise MrekitError("E132", "ONNX export needs onnx and onnxruntime", hint="pip install mrekit[onnx]") from None
    if engine_of(model_dir) != "encoder":
        raise MrekitError(
            "E181",
            f"ONNX export covers the encoder engine only; this is a {engine_of(model_dir)} model",
            path=model_dir,
            hint="run the generative model with PyTorch (mrekit predict)",
        )
    return load(model_dir, backend="torch").export(quantize=quantize == "int8")


def command(
    model_dir: Annotated[Path, typer.Argument(help="Model folder (or a training output folder).")],
    fmt: Annotated[str, typer.Option("--format", help="Export format.")] = "onnx",
    quantize: Annotated[str | None, typer.Option(help="Also write a dynamically quantised int8 model.")] = None,
) -> None:
    """Export encoder + heads + MRE interaction to ONNX; mrekit.load then runs it with onnxruntime.

    Examples:
        mrekit export runs/snips/model-best
        mrekit export runs/snips/model-best --quantize int8
    """
    written = cli_errors(export)(model_dir, fmt=fmt, quantize=quantize)
    for path in written:
        console.print(f"[green]✔[/] wrote {path} ({path.stat().st_size / 2**20:.1f} MB)")
