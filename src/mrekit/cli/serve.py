"""``mrekit serve``: an HTTP API and demo page for a model folder (``pip install mrekit[server]``)."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from mrekit.cli._ui import cli_errors, console
from mrekit.errors import MrekitError

logger = logging.getLogger(__name__)


def require_server_deps() -> None:
    """Check that the server's optional dependencies are installed.

    Raises:
        MrekitError: ``E132`` naming the missing package(s).

    Example:
        >>> require_server_deps()  # doctest: +SKIP
    """
    missing = [name for name in ("fastapi", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise MrekitError(
            "E132",
            f"the server needs {' and '.join(missing)}, which are not installed",
            hint="pip install mrekit[server]",
        )


def build_app(model_dir: str | Path, *, backend: str = "auto", **limits: Any) -> Any:
    """Load a model folder and wrap it in the API (see :func:`mrekit.server.app.create_app`).

    Example:
        >>> app = build_app("runs/snips/model-best", max_batch=32)  # doctest: +SKIP
    """
    require_server_deps()
    from mrekit.pipeline import load
    from mrekit.server.app import create_app

    return create_app(load(model_dir, backend=backend), **limits)


def serve(
    model_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    backend: str = "auto",
    log_level: str = "info",
    **limits: Any,
) -> None:
    """Serve a model until interrupted; Ctrl+C finishes requests in flight, then exits.

    Args:
        model_dir: Model folder (or a training output folder holding ``model-best``).
        host: Interface to listen on; the default accepts local connections only.
        port: TCP port.
        backend: ``torch``, ``onnx``, ``onnx-int8`` or ``auto`` (see :func:`mrekit.load`).
        log_level: uvicorn's log level.
        **limits: ``max_text_chars``, ``max_batch``, ``max_body_bytes``, ``timeout_s``,
            ``batch_wait_ms`` for :func:`mrekit.server.app.create_app`.

    Raises:
        MrekitError: ``E132`` without FastAPI/uvicorn; the loader's errors for a bad folder.

    Example:
        >>> serve("runs/snips/model-best", port=8080, max_batch=32)  # doctest: +SKIP
    """
    app = build_app(model_dir, backend=backend, **limits)
    run_app(app, host, port, log_level=log_level, timeout_s=float(limits.get("timeout_s", 10.0)))


def run_app(app: Any, host: str, port: int, *, log_level: str = "info", timeout_s: float = 10.0) -> None:
    """Run an app with uvicorn in this process until interrupted.

    Example:
        >>> run_app(build_app("runs/snips/model-best"), "127.0.0.1", 8000)  # doctest: +SKIP
    """
    import uvicorn

    # One process: the model lives in memory once and the micro-batcher sees every request.
    # Graceful shutdown waits about as long as a request may take; none waits longer anyway.
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=int(timeout_s) + 1)


def command(
    model_dir: Annotated[Path, typer.Argument(help="Model folder (or a training output folder).")],
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    max_batch: Annotated[int, typer.Option(help="Most texts per request and per model call.")] = 64,
    max_text_chars: Annotated[int, typer.Option(help="Longest text accepted, in characters.")] = 5000,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body, in bytes.")] = 1_000_000,
    timeout: Annotated[float, typer.Option(help="Seconds a request may wait for its results (then 504).")] = 10.0,
    batch_wait_ms: Annotated[float, typer.Option(help="How long a text waits for others to share a batch.")] = 5.0,
    backend: Annotated[str, typer.Option(help="torch, onnx, onnx-int8 or auto.")] = "auto",
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve a model over HTTP: POST /v1/extract, a demo page at /, OpenAPI docs at /docs."""
    limits = {
        "max_batch": max_batch,
        "max_text_chars": max_text_chars,
        "max_body_bytes": max_body_bytes,
        "timeout_s": timeout,
        "batch_wait_ms": batch_wait_ms,
    }
    app = cli_errors(build_app)(model_dir, backend=backend, **limits)
    console.print(f"serving {model_dir} on http://{host}:{port} (demo page at /, API docs at /docs)")
    run_app(app, host, port, log_level=log_level, timeout_s=timeout)
