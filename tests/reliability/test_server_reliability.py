"""Issue 12, the server: one bad text fails one request, slow clients time out, hardening, CLI ranges.

Items 5 (a bad text in a micro-batch), 6 (slow-loris: header and body deadlines, connection
limit) and 19 (Host allow-list, security headers, no CDN docs, error shapes, whitespace text,
no user text in logs). Item 14's server part (out-of-range ``mrekit serve`` options) is in
``tests/server/test_serve_cli.py``.

The load tests start uvicorn on 127.0.0.1 (a free port) in a thread and send a bounded
number of connections, with deadlines of a fraction of a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

pytest.importorskip("fastapi", reason="the server extra (fastapi) is not installed")
pytest.importorskip("uvicorn", reason="the server extra (uvicorn) is not installed")

from fastapi.testclient import TestClient  # noqa: E402

from mrekit.errors import MrekitError  # noqa: E402
from mrekit.schema import Example  # noqa: E402
from mrekit.server.app import create_app  # noqa: E402
from mrekit.server.batching import MicroBatcher, TextFailed  # noqa: E402
from mrekit.server.settings import Deadlines, allowed_hosts  # noqa: E402

LOCAL = "http://localhost"
SECRET = "my secret diary entry about muse"


class Labeller:
    """Labels each text with its upper-cased self; raises on texts containing ``poison``."""

    def __init__(self, poison: str | None = None, error: Exception | None = None) -> None:
        self.poison, self.error = poison, error
        self.batch_sizes: list[int] = []

    def predict(self, texts: list[str]) -> list[Example]:
        self.batch_sizes.append(len(texts))
        for text in texts:
            if self.poison is not None and self.poison in text:
                raise self.error or ValueError(f"the model cannot handle {text!r}")
        return [Example(t, labels=[t.upper()]) for t in texts]


class TokenizerModelStub(Labeller):
    """Fails like a tokenizer on text UTF-8 cannot encode."""

    def predict(self, texts: list[str]) -> list[Example]:
        for text in texts:
            text.encode("utf-8")
        return super().predict(texts)


class TokenizerModel:
    """Tokenizes with the tiny encoder's real tokenizer, which raises on a lone surrogate."""

    def __init__(self, folder) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.batch_sizes: list[int] = []

    def predict(self, texts: list[str]) -> list[Example]:
        self.batch_sizes.append(len(texts))
        encoded = self.tokenizer.encode_batch(texts)
        return [Example(t, labels=[f"n{len(e.ids)}"]) for t, e in zip(texts, encoded, strict=True)]


def concurrently(app, bodies: list[bytes | dict]) -> list[httpx.Response]:
    """POST each body to /v1/extract at the same time (in-process), the app's lifespan around them."""

    async def main():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=LOCAL) as http:

                def post(body):
                    if isinstance(body, bytes):
                        headers = {"Content-Type": "application/json"}
                        return http.post("/v1/extract", content=body, headers=headers)
                    return http.post("/v1/extract", json=body)

                return await asyncio.gather(*(post(b) for b in bodies))

    return asyncio.run(main())


# --- item 5: one bad text fails one request ---------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"text": "\\ud800"}', "text"),
        (b'{"text": "play \\udfff muse"}', "text"),
        (b'{"texts": ["fine", "also fine", "bad \\ud83d"]}', "texts[2]"),
    ],
)
def test_a_lone_surrogate_is_422_naming_the_field(body, field):
    with TestClient(create_app(TokenizerModelStub()), base_url=LOCAL) as client:
        response = client.post("/v1/extract", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["type"], error["code"], error["field"]) == ("validation_error", "E301", field)
    assert "lone surrogate" in error["message"]
    assert response.json()["detail"][0]["code"] == "E301"


def test_a_lone_surrogate_among_concurrent_requests_fails_only_its_own(tiny_encoder):
    model = TokenizerModel(tiny_encoder)
    app = create_app(model, max_batch=64, batch_wait_ms=50)
    bodies: list[bytes | dict] = [{"text": f"play song {i}"} for i in range(19)]
    bodies.insert(7, b'{"text": "play \\ud800 now"}')
    responses = concurrently(app, bodies)
    statuses = [r.status_code for r in responses]
    assert statuses == [200] * 7 + [422] + [200] * 12
    assert responses[7].json()["error"]["code"] == "E301"
    assert [r.json()["text"] for i, r in enumerate(responses) if i != 7] == [f"play song {i}" for i in range(19)]


def test_a_failed_batch_is_retried_one_by_one_with_the_real_tokenizer(tiny_encoder):
    """Past the edge (the batcher on its own), the tokenizer's error fails only its caller."""
    model = TokenizerModel(tiny_encoder)

    async def main():
        batcher = MicroBatcher(model.predict, max_batch=64, wait_ms=50)
        calls = [batcher.submit([f"good {i}"]) for i in range(5)] + [batcher.submit(["ok", "bad \ud800"])]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        await batcher.stop()
        return outcomes

    outcomes = asyncio.run(main())
    assert [o[0].text for o in outcomes[:5]] == [f"good {i}" for i in range(5)]
    assert isinstance(outcomes[5], TextFailed) and outcomes[5].index == 1
    assert model.batch_sizes[0] == 7 and model.batch_sizes[1:] == [1] * 7  # the batch, then one by one


def test_a_text_the_model_raises_on_fails_exactly_one_of_twenty_concurrent_requests():
    model = Labeller(poison="poison")
    app = create_app(model, max_batch=64, batch_wait_ms=50)
    bodies = [{"text": f"text {i}"} for i in range(20)]
    bodies[11] = {"texts": ["harmless", "poison pill"]}
    responses = concurrently(app, bodies)
    failed = [i for i, r in enumerate(responses) if r.status_code != 200]
    assert failed == [11]
    error = responses[11].json()["error"]
    assert responses[11].status_code == 500
    assert (error["type"], error["code"], error["field"]) == ("internal", "E308", "texts[1]")
    assert "poison" not in responses[11].text  # no internals, no echo
    assert [responses[i].json()["labels"] for i in range(20) if i != 11] == [
        [f"TEXT {i}"] for i in range(20) if i != 11
    ]
    assert model.batch_sizes[0] == 21  # they did share one model call, which failed


def test_a_model_that_refuses_an_input_gives_422_with_its_code_and_the_field():
    refusal = MrekitError("E104", "the model cannot read this text")
    app = create_app(Labeller(poison="bad", error=refusal), batch_wait_ms=20)
    responses = concurrently(app, [{"texts": ["ok", "fine", "bad one"]}, {"text": "good"}])
    assert responses[0].status_code == 422
    assert responses[0].json()["error"] == {
        "type": "invalid_text",
        "code": "E104",
        "message": "the model cannot read this text",
        "field": "texts[2]",
    }
    assert responses[1].status_code == 200 and responses[1].json()["labels"] == ["GOOD"]


def test_logs_name_a_failing_text_by_hash_and_length_never_by_content(caplog):
    app = create_app(Labeller(poison="secret"), batch_wait_ms=20)
    with caplog.at_level(logging.DEBUG):
        responses = concurrently(app, [{"text": SECRET}, {"text": "other text"}, {"text": "   "}])
    assert [r.status_code for r in responses] == [500, 200, 422]
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "secret" not in logged and "diary" not in logged and "other text" not in logged
    assert f"({len(SECRET)} chars)" in logged and "sha256:" in logged
    assert "ValueError" in logged  # the kind of failure is still there to debug


# --- item 6: slow-loris -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(app, deadlines: Deadlines) -> Iterator[tuple[int, object]]:
    """uvicorn with ``mrekit serve``'s options on 127.0.0.1 in a thread; yields the port and the server."""
    import uvicorn

    from mrekit.server.protocol import uvicorn_options

    port = _free_port()
    options = uvicorn_options("127.0.0.1", port, deadlines=deadlines, log_level="warning", timeout_s=1)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, **options))
    thread = threading.Thread(target=server.run, name="mrekit-reliability-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield port, server
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _connect(port: int, data: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if data:
        sock.sendall(data)
    return sock


def _read_until_closed(sock: socket.socket, within_s: float) -> tuple[bool, bytes]:
    """Whether the server closed the connection within ``within_s``, and what it sent first."""
    received = b""
    sock.settimeout(0.05)
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True, received
        if not chunk:
            return True, received
        received += chunk
    return False, received


def _healthz(port: int) -> int:
    return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3).status_code


def test_half_sent_request_headers_are_closed_by_the_deadline_and_healthz_still_answers():
    app = create_app(Labeller(), allowed_hosts=["127.0.0.1"])
    with running_server(app, Deadlines(header_timeout_s=0.6, keep_alive_s=5, limit_concurrency=100)) as (port, server):
        started = time.monotonic()
        half = [_connect(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ") for _ in range(30)]
        silent = [_connect(port) for _ in range(10)]
        try:
            assert _healthz(port) == 200  # answered while they hang
            outcomes = [_read_until_closed(s, within_s=3.0) for s in half + silent]
            elapsed = time.monotonic() - started
            assert all(closed for closed, _ in outcomes)
            assert elapsed < 3.5
            first = outcomes[0][1]
            assert first.startswith(b"HTTP/1.1 408")  # the half-sent ones are told why
            assert json.loads(first.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "E304"
            assert all(data == b"" for _, data in outcomes[30:])  # the silent ones are just closed
            assert _healthz(port) == 200
        finally:
            for sock in half + silent:
                sock.close()


def test_a_half_sent_body_gets_408_and_the_connection_is_closed():
    app = create_app(Labeller(), allowed_hosts=["127.0.0.1"], body_timeout_s=0.5)
    with running_server(app, Deadlines(header_timeout_s=5, limit_concurrency=100)) as (port, server):
        head = b"POST /v1/extract HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        socks = [_connect(port, head + b'Content-Length: 100\r\n\r\n{"text": "') for _ in range(10)]
        try:
            assert _healthz(port) == 200
            outcomes = [_read_until_closed(s, within_s=3.0) for s in socks]
            assert all(closed for closed, _ in outcomes)
            for _, data in outcomes:
                assert data.startswith(b"HTTP/1.1 408")
                assert json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "E304"
            response = httpx.post(f"http://127.0.0.1:{port}/v1/extract", json={"text": "still works"}, timeout=3)
            assert response.status_code == 200 and response.json()["labels"] == ["STILL WORKS"]
        finally:
            for sock in socks:
                sock.close()


def test_connections_over_the_limit_are_turned_away_at_once():
    app = create_app(Labeller(), allowed_hosts=["127.0.0.1"])
    with running_server(app, Deadlines(header_timeout_s=2.0, limit_concurrency=8)) as (port, server):
        idle = [_connect(port) for _ in range(8)]
        try:
            end = time.monotonic() + 2
            while len(server.server_state.connections) < 8 and time.monotonic() < end:
                time.sleep(0.01)  # all 8 accepted
            started = time.monotonic()
            extra = [_connect(port) for _ in range(6)]
            outcomes = [_read_until_closed(s, within_s=1.5) for s in extra]
            assert time.monotonic() - started < 1.9  # turned away at once, not at the header deadline
            assert all(closed for closed, _ in outcomes)
            assert all(data.startswith(b"HTTP/1.1 503") for _, data in outcomes)
            assert json.loads(outcomes[0][1].split(b"\r\n\r\n", 1)[1])["error"]["code"] == "E307"
            for sock in extra:
                sock.close()
            assert all(_read_until_closed(s, within_s=3.0)[0] for s in idle)  # the deadline frees the slots
            assert _healthz(port) == 200
        finally:
            for sock in idle:
                sock.close()


def test_idle_keep_alive_connections_are_closed():
    app = create_app(Labeller(), allowed_hosts=["127.0.0.1"])
    with running_server(app, Deadlines(header_timeout_s=5, keep_alive_s=0.3)) as (port, server):
        sock = _connect(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        try:
            closed, data = _read_until_closed(sock, within_s=2.0)
            assert closed and data.startswith(b"HTTP/1.1 200")
        finally:
            sock.close()


# --- item 19: hardening --------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "localhost.evil.example", "10.0.0.9"])
def test_a_host_header_off_the_allow_list_is_400_in_the_error_shape(host):
    with TestClient(create_app(Labeller()), base_url=LOCAL) as client:
        response = client.get("/healthz", headers={"Host": host})
        page = client.get("/", headers={"Host": host})
    assert response.status_code == 400 and page.status_code == 400
    assert response.json()["error"] == {
        "type": "host_not_allowed",
        "code": "E303",
        "message": "the Host header names a host this server does not answer to",
        "field": "Host",
    }


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:1234", "[::1]:8000", "LOCALHOST"])
def test_local_host_names_are_allowed_by_default(host):
    with TestClient(create_app(Labeller()), base_url=LOCAL) as client:
        assert client.get("/healthz", headers={"Host": host}).status_code == 200


def test_the_bind_host_and_extra_hosts_are_allowed():
    hosts = allowed_hosts("10.0.0.9", ["api.example.org", "*.internal.example"])
    with TestClient(create_app(Labeller(), allowed_hosts=hosts), base_url=LOCAL) as client:
        for host in ("10.0.0.9:8000", "api.example.org", "a.internal.example", "localhost"):
            assert client.get("/healthz", headers={"Host": host}).status_code == 200, host
        assert client.get("/healthz", headers={"Host": "example.org"}).status_code == 400
    assert allowed_hosts("0.0.0.0") == ("localhost", "127.0.0.1", "[::1]")  # every interface names no host
    assert "[::1]" in allowed_hosts("::1")


@pytest.mark.parametrize("path", ["/", "/v1/model", "/healthz", "/static/app.js", "/openapi.json", "/nope"])
def test_security_headers_on_the_page_and_the_api(path):
    with TestClient(create_app(Labeller()), base_url=LOCAL) as client:
        headers = client.get(path).headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp


def test_api_results_are_not_cached_and_errors_carry_the_headers_too():
    with TestClient(create_app(Labeller()), base_url=LOCAL) as client:
        ok = client.post("/v1/extract", json={"text": "hello"})
        bad = client.post("/v1/extract", json={"text": ""})
        too_big = client.post("/v1/extract", content=b"x" * 2_000_000)
    assert ok.headers["cache-control"] == "no-store"
    for response in (bad, too_big):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_the_demo_page_works_under_its_csp():
    """No inline script or style, no event-handler attributes, no eval: the CSP blocks none of the page."""
    import re

    from mrekit.server.app import STATIC

    page = (STATIC / "index.html").read_text(encoding="utf-8")
    script = (STATIC / "app.js").read_text(encoding="utf-8")
    assert re.findall(r"<script\b[^>]*>", page) == ['<script src="static/app.js">']
    assert re.search(r"<script[^>]*>\s*[^<\s]", page) is None  # no inline code
    assert "<style" not in page and " style=" not in page
    assert re.search(r"\son[a-z]+\s*=", page) is None
    assert "eval(" not in script and "new Function" not in script and "innerHTML" not in script
    assert 'setAttribute("style"' not in script  # element.style.x = ... (CSSOM) is allowed by style-src
    assert 'href="docs"' not in page  # the docs pages are off by default


def test_docs_pages_are_off_by_default_but_the_schema_is_kept():
    with TestClient(create_app(Labeller()), base_url=LOCAL) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/redoc").status_code == 404
        assert client.get("/docs/oauth2-redirect").status_code == 404
        assert "/v1/extract" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b'{"text": "\xff\xfe"}', 400, "E302"),  # not UTF-8
        (b"\x80", 400, "E302"),
        (b'{"text": ', 422, "E302"),  # not JSON
    ],
)
def test_unreadable_bodies_get_the_error_shape(content, status, code):
    with TestClient(create_app(Labeller()), base_url=LOCAL) as client:
        response = client.post("/v1/extract", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    body = response.json()
    assert body["error"]["code"] == code and body["error"]["type"] in ("bad_request", "validation_error")
    assert set(body) == {"error", "detail"} and set(body["error"]) == {"type", "code", "message", "field"}


def test_unknown_paths_and_methods_get_the_error_shape():
    with TestClient(create_app(Labeller()), base_url=LOCAL) as client:
        missing = client.get("/v2/extract")
        wrong_method = client.get("/v1/extract")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "E310"
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "E310"
    assert wrong_method.json()["error"]["type"] == "method_not_allowed"


@pytest.mark.parametrize("blank", [" ", "\t\n", "\u3000", "  \u00a0 "])
def test_whitespace_only_text_is_the_empty_text_error(blank):
    with TestClient(create_app(Labeller()), base_url=LOCAL) as client:
        empty = client.post("/v1/extract", json={"text": ""}).json()
        response = client.post("/v1/extract", json={"texts": ["fine", blank]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["type"], error["code"], error["field"]) == (empty["error"]["type"], "E300", "texts[1]")
    assert response.json()["detail"][0]["type"] == empty["detail"][0]["type"] == "string_too_short"
