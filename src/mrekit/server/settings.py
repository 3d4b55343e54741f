"""The server's settings, checked up front: out-of-range values are ``E309``, never a traceback.

Nothing here needs FastAPI, so ``mrekit serve`` can check its options before loading
a model (and before finding out whether the server extra is installed).

Example:
    >>> Limits(max_batch=8).max_batch
    8
    >>> Limits(max_batch=0)
    Traceback (most recent call last):
    ...
    mrekit.errors.MrekitError: [E309] field 'max_batch': must be at least 1 (got 0)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields

from mrekit.errors import MrekitError

#: Host names every server answers to, whatever it is bound to.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
#: Bind addresses that mean "every interface": they name no host a client would use.
ANY_INTERFACE = ("0.0.0.0", "::", "[::]", "")
_HOST = re.compile(r"^(\*|\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+|\*\.[A-Za-z0-9_.-]+)$")


def check_number(
    name: str,
    value: float,
    *,
    minimum: float,
    maximum: float | None = None,
    above: bool = False,
) -> None:
    """Raise ``E309`` naming ``name`` unless ``value`` is a finite number in range.

    Args:
        name: The setting (or CLI option) to name in the error.
        value: Its value.
        minimum: Smallest allowed value (exclusive when ``above``).
        maximum: Largest allowed value, if any.
        above: Whether ``value`` must be strictly greater than ``minimum``.

    Raises:
        MrekitError: ``E309`` with ``field=name``.

    Example:
        >>> check_number("--port", 99999, minimum=1, maximum=65535)
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E309] field '--port': must be at most 65535 (got 99999)
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MrekitError("E309", f"must be a finite number (got {value!r})", field=name)
    if above and value <= minimum:
        raise MrekitError("E309", f"must be more than {minimum:g} (got {value:g})", field=name)
    if not above and value < minimum:
        raise MrekitError("E309", f"must be at least {minimum:g} (got {value:g})", field=name)
    if maximum is not None and value > maximum:
        raise MrekitError("E309", f"must be at most {maximum:g} (got {value:g})", field=name)


@dataclass(frozen=True)
class Limits:
    """What one request may ask for, and how requests are batched.

    Args:
        max_text_chars: Characters per text.
        max_batch: Texts per request, and per model call.
        max_body_bytes: Bytes per request body.
        timeout_s: Seconds a request may wait for its results.
        batch_wait_ms: How long a text waits for others to share its model call.

    Raises:
        MrekitError: ``E309`` naming the first setting out of range.
    """

    max_text_chars: int = 5000
    max_batch: int = 64
    max_body_bytes: int = 1_000_000
    timeout_s: float = 10.0
    batch_wait_ms: float = 5

    def __post_init__(self) -> None:
        check_number("max_text_chars", self.max_text_chars, minimum=1)
        check_number("max_batch", self.max_batch, minimum=1, maximum=100_000)
        check_number("max_body_bytes", self.max_body_bytes, minimum=1)
        check_number("timeout_s", self.timeout_s, minimum=0, above=True)
        check_number("batch_wait_ms", self.batch_wait_ms, minimum=0, maximum=60_000)


@dataclass(frozen=True)
class Deadlines:
    """How long a client may take to send its request, and how many connections it may hold.

    Args:
        header_timeout_s: Seconds from connection (or the end of the previous response)
            until the request's headers are complete; then the connection is closed.
        body_timeout_s: Seconds from the end of the headers until the body is complete
            (then 408).
        keep_alive_s: Seconds an idle keep-alive connection stays open.
        limit_concurrency: Most open connections; more are turned away with 503.

    Raises:
        MrekitError: ``E309`` naming the first setting out of range.

    Example:
        >>> Deadlines(header_timeout_s=0)
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E309] field 'header_timeout_s': must be more than 0 (got 0)
    """

    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    keep_alive_s: float = 5.0
    limit_concurrency: int = 256

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name != "limit_concurrency":
                check_number(f.name, getattr(self, f.name), minimum=0, maximum=3600, above=True)
        check_number("limit_concurrency", self.limit_concurrency, minimum=1, maximum=1_000_000)


def allowed_hosts(bind_host: str | None = None, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The Host names to answer: the local names, the bind host (unless it is every interface), ``extra``.

    ``*`` in ``extra`` allows every host; ``*.example.org`` allows its subdomains.

    Raises:
        MrekitError: ``E309`` for a name that is not a host name or IP address.

    Example:
        >>> allowed_hosts("10.0.0.5", ["api.example.org"])
        ('localhost', '127.0.0.1', '[::1]', '10.0.0.5', 'api.example.org')
        >>> allowed_hosts("0.0.0.0")
        ('localhost', '127.0.0.1', '[::1]')
    """
    hosts = list(LOCAL_HOSTS)
    if bind_host is not None and bind_host not in ANY_INTERFACE:
        hosts.append(f"[{bind_host}]" if ":" in bind_host and not bind_host.startswith("[") else bind_host)
    for name in extra:
        name = name.strip().lower()
        if not _HOST.match(name):
            raise MrekitError(
                "E309",
                "not a host name or IP address (give it without scheme, port or path)",
                field="--allowed-host",
                hint="e.g. --allowed-host api.example.org",
            )
        hosts.append(name)
    return tuple(dict.fromkeys(h.lower() for h in hosts))


def host_matches(host_header: str | None, allowed: Iterable[str]) -> bool:
    """Whether a request's Host header names an allowed host (the port is ignored).

    Example:
        >>> host_matches("localhost:8000", LOCAL_HOSTS), host_matches("evil.example:8000", LOCAL_HOSTS)
        (True, False)
        >>> host_matches("[::1]:8000", LOCAL_HOSTS), host_matches("a.b.org", ["*.b.org"])
        (True, True)
    """
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[: host.find("]") + 1] if "]" in host else host
    else:
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    host = host.rstrip(".")
    for pattern in allowed:
        if pattern == "*" or pattern == host:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False
