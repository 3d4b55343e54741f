"""uvicorn, hardened: a deadline for request headers and a cap on open connections.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but sets no
deadline on a request's headers: a client that sends half a request line holds its
connection, and a file descriptor, forever. :func:`deadline_protocol` makes an h11
protocol class that closes a connection whose request headers are not complete
within ``header_timeout_s`` of its opening (or of the previous response), answering
408 when part of a request had arrived; it also closes, at once, connections beyond
``limit_concurrency``, so a flood of them cannot exhaust the process's descriptors.
The body's deadline is :class:`mrekit.server.middleware.BodyLimitMiddleware`'s.

Example:
    >>> uvicorn.run(app, **uvicorn_options("127.0.0.1", 8000))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from mrekit.errors import warn
from mrekit.server.schemas import error_body
from mrekit.server.settings import Deadlines

logger = logging.getLogger(__name__)


def _raw_response(status: int, reason: str, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + payload


_HEADER_TIMEOUT = _raw_response(
    408, "Request Timeout", error_body("request_timeout", "E304", "the request headers did not arrive in time")
)
_TOO_MANY = _raw_response(
    503, "Service Unavailable", error_body("unavailable", "E307", "the server has too many open connections")
)


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-header deadline and a connection cap.

    Use :func:`deadline_protocol` to get a subclass with the settings filled in.
    """

    header_timeout_s: float = 10.0
    max_connections: int | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Accept the connection, or close it at once when there are too many."""
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        if self.max_connections is not None and len(self.connections) > self.max_connections:
            warn(logger, "W301", f"closing a new connection: {len(self.connections) - 1} are open already")
            transport.write(_TOO_MANY)
            transport.close()
            return
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the deadline, then let uvicorn clean up."""
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        """Process received bytes; a request whose headers are complete needs no head deadline."""
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a new request's headers arrived
            self._disarm_head_deadline()

    def on_response_complete(self) -> None:
        """After a response, the next request's headers get their own deadline."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_deadline()

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_expired, self.cycle)

    def _disarm_head_deadline(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def _head_expired(self, cycle: Any) -> None:
        self._head_timer = None
        # A new request (a new cycle) arrived meanwhile: the app's deadlines take over.
        if self.transport.is_closing() or self.cycle is not cycle:
            return
        partial, _ = self.conn.trailing_data
        if partial and self.conn.their_state is h11.IDLE:  # half a request line or headers
            logger.info("closing a connection whose request headers took over %.1f s", self.header_timeout_s)
            self.transport.write(_HEADER_TIMEOUT)
        self.transport.close()


def deadline_protocol(header_timeout_s: float, max_connections: int | None = None) -> type[DeadlineH11Protocol]:
    """A :class:`DeadlineH11Protocol` subclass with these settings, for uvicorn's ``http=``.

    Example:
        >>> deadline_protocol(2.5, 100).header_timeout_s
        2.5
    """
    settings = {"header_timeout_s": header_timeout_s, "max_connections": max_connections}
    return type("MrekitH11Protocol", (DeadlineH11Protocol,), settings)


def uvicorn_options(
    host: str,
    port: int,
    *,
    deadlines: Deadlines | None = None,
    log_level: str = "info",
    timeout_s: float = 10.0,
) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` / ``uvicorn.Config`` that ``mrekit serve`` uses.

    One process (the model lives in memory once and the micro-batcher sees every
    request), the header deadline and connection cap of :class:`DeadlineH11Protocol`,
    the keep-alive timeout, and a graceful shutdown about as long as a request may take.

    Args:
        host: Interface to listen on.
        port: TCP port.
        deadlines: Header deadline, keep-alive, connection limit (the body deadline is the app's).
        log_level: uvicorn's log level.
        timeout_s: The request timeout.

    Example:
        >>> options = uvicorn_options("127.0.0.1", 8000, deadlines=Deadlines(limit_concurrency=32))
        >>> options["limit_concurrency"], options["http"].max_connections, options["timeout_graceful_shutdown"]
        (32, 32, 11)
    """
    deadlines = deadlines or Deadlines()
    return {
        "host": host,
        "port": port,
        "log_level": log_level,
        "http": deadline_protocol(deadlines.header_timeout_s, deadlines.limit_concurrency),
        "limit_concurrency": deadlines.limit_concurrency,
        "timeout_keep_alive": deadlines.keep_alive_s,
        # Graceful shutdown waits about as long as a request may take; none waits longer anyway.
        "timeout_graceful_shutdown": int(timeout_s) + 1,
        "server_header": False,
    }
