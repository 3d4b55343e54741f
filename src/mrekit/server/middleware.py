"""ASGI middleware of the server: body size and read deadline, Host allow-list, security headers.

Each answers a bad request itself, in the error shape of :mod:`mrekit.server.schemas`,
before the request reaches FastAPI:

* :class:`BodyLimitMiddleware`: 413 (``E305``) for a body over the limit, 408
  (``E304``) for one that does not arrive within the read deadline (slow-loris),
  400 (``E302``) for a ``Content-Length`` that is not a number.
* :class:`HostAllowListMiddleware`: 400 (``E303``) when the ``Host`` header names a host
  the server does not answer to (DNS rebinding).
* :class:`SecurityHeadersMiddleware`: ``nosniff``, no framing, no referrer and a
  Content-Security-Policy that allows only the server's own scripts and styles.

Example:
    >>> BodyLimitMiddleware(app=None, max_bytes=10).max_bytes
    10
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mrekit.server.schemas import error_body
from mrekit.server.settings import LOCAL_HOSTS, host_matches

#: The demo page ships its own script and stylesheet and fetches only this server.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
#: FastAPI's Swagger UI and ReDoc pages (only served with ``docs=True``) need a CDN and inline scripts.
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")


class BodyLimitMiddleware:
    """Answer 413 to request bodies over ``max_bytes``, and 408 to bodies that arrive too slowly.

    The declared ``Content-Length`` is checked first (no reading); the body is then
    read up to the limit and replayed to the app, so a client that lies about the
    length or streams chunks cannot get more through. The whole body must arrive
    within ``timeout_s`` of the request's headers; otherwise the client gets 408 and
    the connection is closed, so a half-sent body cannot hold it open.

    Args:
        app: The wrapped ASGI app.
        max_bytes: Largest accepted body.
        timeout_s: Seconds the whole body may take to arrive.

    Example:
        >>> BodyLimitMiddleware(app=None, max_bytes=10, timeout_s=2).timeout_s
        2
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 10.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await reply(send, 400, error_body("bad_request", "E302", "Content-Length is not a number"))
            return
        if declared is not None and declared > self.max_bytes:
            await self._too_large(send)
            return
        try:
            body = await self._read(receive)
        except TimeoutError:
            message = f"the request body did not arrive within {self.timeout_s:g} s"
            await reply(send, 408, error_body("request_timeout", "E304", message))
            return
        if body is None:  # the client disconnected
            return
        if len(body) > self.max_bytes:
            await self._too_large(send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The body, stopping as soon as it is over the limit; ``TimeoutError`` past the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        chunks, size, more = [], 0, True
        while more:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            message = await asyncio.wait_for(receive(), remaining)
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > self.max_bytes:
                break
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _too_large(self, send: Send) -> None:
        message = f"request body is larger than the limit of {self.max_bytes} bytes"
        await reply(send, 413, error_body("payload_too_large", "E305", message))


class HostAllowListMiddleware:
    """Answer 400 (``E303``) unless the ``Host`` header names an allowed host.

    A web page on another site can make a browser send requests to a server on
    localhost by pointing its own domain at 127.0.0.1 (DNS rebinding); the browser
    then sends that domain as ``Host``, which this check refuses.

    Args:
        app: The wrapped ASGI app.
        allowed: Host names (no port); ``*`` allows every host, ``*.example.org`` subdomains.

    Example:
        >>> HostAllowListMiddleware(app=None).allowed
        ('localhost', '127.0.0.1', '[::1]')
    """

    def __init__(self, app: ASGIApp, allowed: Iterable[str] = LOCAL_HOSTS) -> None:
        self.app = app
        self.allowed = tuple(h.lower() for h in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not host_matches(_header(scope, b"host"), self.allowed):
            message = "the Host header names a host this server does not answer to"
            body = error_body("host_not_allowed", "E303", message, field="Host")
            if scope["type"] == "http":
                await reply(send, 400, body)
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        await self.app(scope, receive, send)


class SecurityHeadersMiddleware:
    """Add the security headers (and a Content-Security-Policy) to every response.

    Args:
        app: The wrapped ASGI app.
        docs: Whether FastAPI's ``/docs`` and ``/redoc`` pages are on: they get no
            CSP, since they load Swagger UI / ReDoc from a CDN with inline scripts.

    Example:
        >>> SecurityHeadersMiddleware(app=None).docs
        False
    """

    def __init__(self, app: ASGIApp, docs: bool = False) -> None:
        self.app = app
        self.docs = docs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(SECURITY_HEADERS)
        if not (self.docs and scope.get("path") in DOCS_PATHS):
            extra.append((b"content-security-policy", CSP.encode()))
        if str(scope.get("path", "")).startswith("/v1/"):
            extra.append((b"cache-control", b"no-store"))  # results hold the user's text

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def reply(send: Send, status: int, body: dict[str, Any]) -> None:
    """Send a JSON error response and close the connection.

    Closing: the client may still be sending a body that will not be read.
    """
    response = JSONResponse(body, status_code=status, headers={"Connection": "close"})

    async def no_body() -> Message:  # the response never reads the request
        return {"type": "http.disconnect"}

    await response({"type": "http"}, no_body, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _content_length(scope: Scope) -> int | None:
    """The declared body size, ``None`` when not declared, ``-1`` when not a number."""
    value = _header(scope, b"content-length")
    if value is None:
        return None
    try:
        size = int(value)
    except ValueError:
        return -1
    return size if size >= 0 else -1


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
