"""The HTTP API and demo page: ``create_app(model)`` returns a FastAPI app.

Endpoints:

* ``POST /v1/extract``: ``{"text": ...}`` -> one result, ``{"texts": [...]}`` -> ``{"results": [...]}``;
  results are the schema's ``Example.to_dict()``.
* ``GET /v1/model``: text labels, span labels, mode, versions, the backend in use and the server's limits.
* ``GET /healthz``: ``{"status": "ok"}``.
* ``GET /``: a self-contained demo page (no external resources); ``GET /openapi.json``: the API's
  schema (the ``/docs`` and ``/redoc`` pages, which load scripts from a CDN, only with ``docs=True``).

Every error is JSON in the shape of :mod:`mrekit.server.schemas`, with a stable code:
400 ``E302`` (malformed) / ``E303`` (Host not allowed), 404/405 ``E310``, 408 ``E304``,
413 ``E305``, 422 ``E300``/``E301`` naming the field, 500 ``E308``, 503 ``E307``, 504 ``E306``.
A text the model fails on fails only the request that sent it.

Example:
    >>> import mrekit, uvicorn  # doctest: +SKIP
    >>> uvicorn.run(create_app(mrekit.load("runs/snips/model-best")), port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from mrekit.errors import MrekitError
from mrekit.runtime import provenance
from mrekit.server.batching import MicroBatcher, ShuttingDown, TextFailed
from mrekit.server.middleware import BodyLimitMiddleware, HostAllowListMiddleware, SecurityHeadersMiddleware
from mrekit.server.schemas import (
    ErrorResponse,
    ExtractBatchResult,
    ExtractRequest,
    ExtractResult,
    error_body,
    limit_errors,
    validation_body,
)
from mrekit.server.settings import LOCAL_HOSTS, Limits, check_number

__all__ = ["BodyLimitMiddleware", "Limits", "STATIC", "create_app", "model_info"]

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


def create_app(
    model: Any,
    *,
    max_text_chars: int = 5000,
    max_batch: int = 64,
    max_body_bytes: int = 1_000_000,
    timeout_s: float = 10.0,
    batch_wait_ms: float = 5,
    body_timeout_s: float = 10.0,
    allowed_hosts: Iterable[str] | None = None,
    docs: bool = False,
) -> FastAPI:
    """Build the API around a model.

    Args:
        model: Anything with ``predict(list[str]) -> list[Example]``, such as
            :class:`mrekit.MREModel`; labels are read from ``model.model_.config``
            (or the model's own ``text_labels``/``span_labels``/``mode``) and versions
            from ``model.manifest_``.
        max_text_chars: Longest text accepted (422 beyond).
        max_batch: Most texts per request (422 beyond) and per model call.
        max_body_bytes: Largest request body (413 beyond).
        timeout_s: Seconds before a request gives up waiting (504).
        batch_wait_ms: How long the first queued text waits for concurrent ones.
        body_timeout_s: Seconds the request body may take to arrive (408 beyond).
        allowed_hosts: Host names the ``Host`` header may name (400 otherwise); the
            default is ``localhost``, ``127.0.0.1`` and ``[::1]``
            (see :func:`mrekit.server.settings.allowed_hosts`); ``["*"]`` allows any.
        docs: Serve FastAPI's ``/docs`` and ``/redoc`` pages, which load Swagger UI and
            ReDoc from a CDN (``/openapi.json`` is always served).

    Returns:
        The FastAPI app; ``app.state.batcher`` is its :class:`MicroBatcher`.

    Raises:
        MrekitError: ``E309`` for a limit out of range.

    Example:
        >>> from fastapi.testclient import TestClient  # doctest: +SKIP
        >>> app = create_app(mrekit.load("model"))  # doctest: +SKIP
        >>> with TestClient(app, base_url="http://localhost") as client:  # doctest: +SKIP
        ...     client.post("/v1/extract", json={"text": "play muse"}).json()["labels"]
        ['PlayMusic']
    """
    limits = Limits(max_text_chars, max_batch, max_body_bytes, timeout_s, batch_wait_ms)
    check_number("body_timeout_s", body_timeout_s, minimum=0, maximum=3600, above=True)
    batcher = MicroBatcher(model.predict, max_batch=max_batch, wait_ms=batch_wait_ms)
    info = {**model_info(model), "limits": asdict(limits)}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        # uvicorn has stopped accepting connections and waited for open requests;
        # finish whatever is still queued (bounded: those requests time out anyway).
        await batcher.stop(timeout_s=timeout_s)

    app = FastAPI(
        title="mrekit",
        summary="Joint text-level and word-level information extraction",
        version=_version(),
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    app.state.batcher, app.state.model, app.state.limits = batcher, model, limits
    # Added innermost first: a request meets the security headers, then the Host check, then the body checks.
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes, timeout_s=body_timeout_s)
    app.add_middleware(HostAllowListMiddleware, allowed=LOCAL_HOSTS if allowed_hosts is None else allowed_hosts)
    app.add_middleware(SecurityHeadersMiddleware, docs=docs)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    _add_routes(app, batcher, limits, info)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def model_info(model: Any) -> dict[str, Any]:
    """Labels, span labels, mode, versions and inference backend of a model (empty where it does not say).

    Example:
        >>> model_info(object())["text_labels"]
        []
    """
    config = getattr(getattr(model, "model_", None), "config", None)
    source = config if config is not None else model
    manifest = getattr(model, "manifest_", None) or {}
    return {
        "mode": getattr(source, "mode", None),
        "text_labels": list(getattr(source, "text_labels", None) or []),
        "span_labels": list(getattr(source, "span_labels", None) or []),
        "multi_label": bool(getattr(source, "multi_label", False)),
        "max_length": getattr(source, "max_length", None),
        "attributes": {
            "spans": dict(getattr(source, "span_attrs", None) or {}),
            "labels": dict(getattr(source, "label_attrs", None) or {}),
        },
        "versions": dict(manifest.get("versions", {})),
        "backend": model.info().get("backend") if callable(getattr(model, "info", None)) else None,
    }


def _add_routes(app: FastAPI, batcher: MicroBatcher, limits: Limits, info: dict[str, Any]) -> None:
    errors = {code: {"model": ErrorResponse} for code in (400, 408, 413, 422, 500, 503, 504)}

    @app.post(
        "/v1/extract",
        response_model=None,
        responses={200: {"model": ExtractResult | ExtractBatchResult}, **errors},
        summary="Predict text label(s) and spans",
    )
    async def extract(body: ExtractRequest) -> JSONResponse:
        """``{"text": ...}`` gives one result; ``{"texts": [...]}`` gives ``{"results": [...]}`` in order."""
        problems = limit_errors(body, max_text_chars=limits.max_text_chars, max_batch=limits.max_batch)
        if problems:
            raise RequestValidationError(problems)
        try:
            examples = await asyncio.wait_for(batcher.submit(body.batch), limits.timeout_s)
        except TimeoutError:
            message = f"prediction took longer than {limits.timeout_s:g} s"
            return JSONResponse(error_body("timeout", "E306", message), status_code=504)
        except ShuttingDown as err:
            return JSONResponse(error_body("unavailable", "E307", str(err)), status_code=503)
        except TextFailed as err:  # the batcher logged it (without the text); only this request fails
            return _text_failed(err, "text" if body.text is not None else f"texts[{err.index}]")
        results = [_as_json(example) for example in examples]
        return JSONResponse(results[0] if body.text is not None else {"results": results})

    @app.get("/v1/model", summary="Labels, span types, mode, versions and limits")
    async def model_card() -> dict[str, Any]:
        return info

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(validation_body(exc.errors()), status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's and Starlette's own errors (unparsable body, unknown path or method), in our shape."""
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 400:
        kind, code, message = "bad_request", "E302", "the request body could not be read (is it UTF-8 JSON?)"
    elif status == 404:
        kind, code, message = "not_found", "E310", "no such path"
    elif status == 405:
        kind, code, message = "method_not_allowed", "E310", f"{request.method} is not allowed on this path"
    else:
        kind, code, message = "http_error", "E302", str(exc.detail)
    return JSONResponse(error_body(kind, code, message), status_code=status, headers=exc.headers)


def _text_failed(err: TextFailed, field: str) -> JSONResponse:
    cause = err.error
    if isinstance(cause, MrekitError):  # the model refused the input: the client's to fix
        return JSONResponse(error_body("invalid_text", cause.code, cause.message, field=field), status_code=422)
    # Without internals: the exception's message may hold paths, or the text itself.
    message = f"prediction failed for {field}; other texts are not affected"
    return JSONResponse(error_body("internal", "E308", message, field=field), status_code=500)


def _as_json(result: Any) -> Any:
    return result.to_dict() if hasattr(result, "to_dict") else result


def _version() -> str:
    return provenance()["versions"]["mrekit"]
