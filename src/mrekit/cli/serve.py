"""``mrekit serve``: an HTTP API and demo page for a model folder (``pip install mrekit[server]``)."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer

from mrekit.cli._ui import cli_errors, console
from mrekit.cli.predict import check_backend
from mrekit.errors import MrekitError
from mrekit.predictor import load

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


def check_options(
    port: int,
    *,
    host: str = "127.0.0.1",
    allowed_hosts: Iterable[str] = (),
    options: dict[str, str] | None = None,
    **settings: float,
) -> tuple[str, ...]:
    """Check the server's settings before anything is loaded; return the Host allow-list.

    Args:
        port: TCP port, 1 to 65535.
        host: Interface to listen on (its name is allowed as ``Host``).
        allowed_hosts: More Host names to allow.
        options: How to name each setting in errors (the CLI passes its option names).
        **settings: :class:`~mrekit.server.settings.Limits` and
            :class:`~mrekit.server.settings.Deadlines` fields.

    Raises:
        MrekitError: ``E309`` naming the first setting out of range.

    Example:
        >>> check_options(8000, max_batch=8)
        ('localhost', '127.0.0.1', '[::1]')
        >>> check_options(99999)
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E309] field 'port': must be at most 65535 (got 99999)
    """
    from mrekit.server.settings import Deadlines, Limits, check_number
    from mrekit.server.settings import allowed_hosts as allow_list

    names = options or {}
    try:
        check_number("port", port, minimum=1, maximum=65535)
        limit_names = set(Limits.__dataclass_fields__)
        Limits(**{k: v for k, v in settings.items() if k in limit_names})
        Deadlines(**{k: v for k, v in settings.items() if k not in limit_names})
        return allow_list(host, allowed_hosts)
    except MrekitError as err:
        field = names.get(err.field or "", err.field)
        raise MrekitError(err.code, err.message, field=field, hint=err.hint) from None
    except TypeError as err:  # a setting that does not exist: a programming error, said plainly
        raise MrekitError("E309", str(err)) from None


def build_app(model_dir: str | Path, *, backend: str = "auto", **settings: Any) -> Any:
    """Load a model folder and wrap it in the API (see :func:`mrekit.server.app.create_app`).

    Example:
        >>> app = build_app("runs/snips/model-best", max_batch=32)  # doctest: +SKIP
    """
    require_server_deps()
    from mrekit.server.app import create_app

    check_backend(model_dir, backend)
    return create_app(load(model_dir, backend=backend), **settings)


def serve(
    model_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    backend: str = "auto",
    log_level: str = "info",
    allowed_hosts: Iterable[str] = (),
    docs: bool = False,
    header_timeout_s: float = 10.0,
    body_timeout_s: float = 10.0,
    keep_alive_s: float = 5.0,
    limit_concurrency: int = 256,
    **limits: Any,
) -> None:
    """Serve a model until interrupted; Ctrl+C finishes requests in flight, then exits.

    Args:
        model_dir: Model folder (or a training output folder holding ``model-best``).
        host: Interface to listen on; the default accepts local connections only.
        port: TCP port.
        backend: ``torch``, ``onnx``, ``onnx-int8`` or ``auto`` (see :func:`mrekit.load`).
        log_level: uvicorn's log level.
        allowed_hosts: Host names to answer besides localhost and ``host`` (``*``: any).
        docs: Serve the ``/docs`` and ``/redoc`` pages (they load scripts from a CDN).
        header_timeout_s: Seconds a client may take to send a request's headers.
        body_timeout_s: Seconds a client may take to send a request's body (408 beyond).
        keep_alive_s: Seconds an idle keep-alive connection stays open.
        limit_concurrency: Most open connections (503 beyond).
        **limits: ``max_text_chars``, ``max_batch``, ``max_body_bytes``, ``timeout_s``,
            ``batch_wait_ms`` for :func:`mrekit.server.app.create_app`.

    Raises:
        MrekitError: ``E309`` for a setting out of range; ``E132`` without
            FastAPI/uvicorn; the loader's errors for a bad folder.

    Example:
        >>> serve("runs/snips/model-best", port=8080, max_batch=32)  # doctest: +SKIP
    """
    deadlines = {
        "header_timeout_s": header_timeout_s,
        "body_timeout_s": body_timeout_s,
        "keep_alive_s": keep_alive_s,
        "limit_concurrency": limit_concurrency,
    }
    hosts = check_options(port, host=host, allowed_hosts=allowed_hosts, **limits, **deadlines)
    app = build_app(model_dir, backend=backend, allowed_hosts=hosts, docs=docs, body_timeout_s=body_timeout_s, **limits)
    run_app(app, host, port, log_level=log_level, timeout_s=float(limits.get("timeout_s", 10.0)), **deadlines)


def run_app(
    app: Any,
    host: str,
    port: int,
    *,
    log_level: str = "info",
    timeout_s: float = 10.0,
    header_timeout_s: float = 10.0,
    keep_alive_s: float = 5.0,
    limit_concurrency: int = 256,
    **_: Any,
) -> None:
    """Run an app with uvicorn in this process until interrupted (see :func:`mrekit.server.protocol.uvicorn_options`).

    Example:
        >>> run_app(build_app("runs/snips/model-best"), "127.0.0.1", 8000)  # doctest: +SKIP
    """
    import uvicorn

    from mrekit.server.protocol import uvicorn_options
    from mrekit.server.settings import Deadlines

    deadlines = Deadlines(
        header_timeout_s=header_timeout_s, keep_alive_s=keep_alive_s, limit_concurrency=limit_concurrency
    )
    uvicorn.run(app, **uvicorn_options(host, port, deadlines=deadlines, log_level=log_level, timeout_s=timeout_s))


#: How errors name each setting: by the option that sets it.
OPTIONS = {
    "port": "--port",
    "max_batch": "--max-batch",
    "max_text_chars": "--max-text-chars",
    "max_body_bytes": "--max-body-bytes",
    "timeout_s": "--timeout",
    "batch_wait_ms": "--batch-wait-ms",
    "header_timeout_s": "--header-timeout",
    "body_timeout_s": "--body-timeout",
    "keep_alive_s": "--keep-alive-timeout",
    "limit_concurrency": "--limit-concurrency",
}


def command(
    model_dir: Annotated[Path, typer.Argument(help="Model folder (or a training output folder).")],
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (1-65535).")] = 8000,
    max_batch: Annotated[int, typer.Option(help="Most texts per request and per model call.")] = 64,
    max_text_chars: Annotated[int, typer.Option(help="Longest text accepted, in characters.")] = 5000,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body, in bytes.")] = 1_000_000,
    timeout: Annotated[float, typer.Option(help="Seconds a request may wait for its results (then 504).")] = 10.0,
    batch_wait_ms: Annotated[float, typer.Option(help="How long a text waits for others to share a batch.")] = 5.0,
    header_timeout: Annotated[
        float, typer.Option(help="Seconds a client may take to send a request's headers (then the connection closes).")
    ] = 10.0,
    body_timeout: Annotated[
        float, typer.Option(help="Seconds a client may take to send a request body (then 408).")
    ] = 10.0,
    keep_alive_timeout: Annotated[float, typer.Option(help="Seconds an idle keep-alive connection stays open.")] = 5.0,
    limit_concurrency: Annotated[int, typer.Option(help="Most open connections (more get 503).")] = 256,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(help="Host header to accept besides localhost and --host (repeatable; '*' for any)."),
    ] = None,
    docs: Annotated[
        bool, typer.Option(help="Serve /docs and /redoc (they load Swagger UI / ReDoc from a CDN).")
    ] = False,
    backend: Annotated[str, typer.Option(help="torch, onnx, onnx-int8 or auto (encoder models).")] = "auto",
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve a model over HTTP: POST /v1/extract, a demo page at /, the OpenAPI schema at /openapi.json.

    Examples:
        mrekit serve runs/snips/model-best --port 8000
        mrekit serve runs/snips --host 0.0.0.0 --allowed-host api.example.org --max-batch 32
    """
    limits = {
        "max_batch": max_batch,
        "max_text_chars": max_text_chars,
        "max_body_bytes": max_body_bytes,
        "timeout_s": timeout,
        "batch_wait_ms": batch_wait_ms,
    }
    deadlines = {
        "header_timeout_s": header_timeout,
        "body_timeout_s": body_timeout,
        "keep_alive_s": keep_alive_timeout,
        "limit_concurrency": limit_concurrency,
    }
    hosts = cli_errors(check_options)(
        port, host=host, allowed_hosts=allowed_host or (), options=OPTIONS, **limits, **deadlines
    )
    app = cli_errors(build_app)(
        model_dir, backend=backend, allowed_hosts=hosts, docs=docs, body_timeout_s=body_timeout, **limits
    )
    where = "API docs at /docs" if docs else "OpenAPI schema at /openapi.json"
    console.print(f"serving {model_dir} on http://{host}:{port} (demo page at /, {where})")
    run_app(app, host, port, log_level=log_level, timeout_s=timeout, **deadlines)
