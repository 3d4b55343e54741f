"""The HTTP API and demo page: ``create_app(model)`` returns a FastAPI app.

Endpoints:

* ``POST /v1/extract``: ``{"text": ...}`` -> one result, ``{"texts": [...]}`` -> ``{"results": [...]}``;
  results are the schema's ``Example.to_dict()``.
* ``GET /v1/model``: text labels, span labels, mode, versions and the server's limits.
* ``GET /healthz``: ``{"status": "ok"}``.
* ``GET /``: a self-contained demo page (no external resources); ``/docs``: OpenAPI.

Example:
    >>> import mrekit, uvicorn  # doctest: +SKIP
    >>> uvicorn.run(create_app(mrekit.load("runs/snips/model-best")), port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mrekit.server.batching import MicroBatcher, ShuttingDown
from mrekit.server.schemas import (
    ErrorResponse,
    ExtractBatchResult,
    ExtractRequest,
    ExtractResult,
    error_body,
    limit_errors,
    validation_body,
)

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class Limits:
    """What one request may ask for, and how requests are batched.

    Args:
        max_text_chars: Characters per text.
        max_batch: Texts per request, and per model call.
        max_body_bytes: Bytes per request body.
        timeout_s: Seconds a request may wait for its results.
        batch_wait_ms: How long a text waits for others to share its model call.
    """

    max_text_chars: int = 5000
    max_batch: int = 64
    max_body_bytes: int = 1_000_000
    timeout_s: float = 10.0
    batch_wait_ms: float = 5


def create_app(
    model: Any,
    *,
    max_text_chars: int = 5000,
    max_batch: int = 64,
    max_body_bytes: int = 1_000_000,
    timeout_s: float = 10.0,
    batch_wait_ms: float = 5,
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

    Returns:
        The FastAPI app; ``app.state.batcher`` is its :class:`MicroBatcher`.

    Example:
        >>> from fastapi.testclient import TestClient  # doctest: +SKIP
        >>> with TestClient(create_app(mrekit.load("model"))) as client:  # doctest: +SKIP
        ...     client.post("/v1/extract", json={"text": "play muse"}).json()["labels"]
        ['PlayMusic']
    """
    limits = Limits(max_text_chars, max_batch, max_body_bytes, timeout_s, batch_wait_ms)
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
    )
    app.state.batcher, app.state.model, app.state.limits = batcher, model, limits
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_exception_handler(RequestValidationError, _validation_error)
    _add_routes(app, batcher, limits, info)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def model_info(model: Any) -> dict[str, Any]:
    """Labels, span labels, mode and versions of a model (empty where it does not say).

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
        "versions": dict(manifest.get("versions", {})),
    }


def _add_routes(app: FastAPI, batcher: MicroBatcher, limits: Limits, info: dict[str, Any]) -> None:
    errors = {code: {"model": ErrorResponse} for code in (413, 422, 503, 504)}

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
            return JSONResponse(error_body("timeout", message), status_code=504)
        except ShuttingDown as err:
            return JSONResponse(error_body("unavailable", str(err)), status_code=503)
        except Exception:  # the model failed: the batcher logged it; tell the client without internals
            return JSONResponse(error_body("internal", "prediction failed"), status_code=500)
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


class BodyLimitMiddleware:
    """Answer 413 to request bodies over ``max_bytes``, declared or actually sent.

    The declared ``Content-Length`` is checked first (no reading); the body is then
    read up to the limit and replayed to the app, so a client that lies about the
    length or streams chunks cannot get more through.

    Args:
        app: The wrapped ASGI app.
        max_bytes: Largest accepted body.

    Example:
        >>> BodyLimitMiddleware(app=None, max_bytes=10).max_bytes
        10
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _reply(scope, receive, send, 400, error_body("bad_request", "Content-Length is not a number"))
            return
        if declared is not None and declared > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        body = await self._read(receive)
        if body is None:  # the client disconnected
            return
        if len(body) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The body, stopping as soon as it is over the limit."""
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > self.max_bytes:
                break
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body is larger than the limit of {self.max_bytes} bytes"
        await _reply(scope, receive, send, 413, error_body("payload_too_large", message))


def _content_length(scope: Scope) -> int | None:
    """The declared body size, ``None`` when not declared, ``-1`` when not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _reply(scope: Scope, receive: Receive, send: Send, status: int, body: dict[str, Any]) -> None:
    # Closing the connection: the client may still be sending a body we will not read.
    await JSONResponse(body, status_code=status, headers={"Connection": "close"})(scope, receive, send)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(validation_body(exc.errors()), status_code=422)


def _as_json(result: Any) -> Any:
    return result.to_dict() if hasattr(result, "to_dict") else result


def _version() -> str:
    import mrekit

    return getattr(mrekit, "__version__", "0")
