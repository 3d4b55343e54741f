"""``mrekit serve``: registered, passes its options on, checks their ranges (E309), names the missing extra."""

from __future__ import annotations

import importlib.util

import pytest
from typer.testing import CliRunner

from mrekit import MrekitError
from mrekit.cli import app, serve
from mrekit.schema import Example

pytest.importorskip("fastapi", reason="the server extra (fastapi) is not installed")

from fastapi.testclient import TestClient  # noqa: E402

from mrekit.server.app import create_app  # noqa: E402

LOCAL = "http://localhost"


def test_serve_is_a_registered_command():
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    for option in ("--host", "--port", "--max-batch", "--max-text-chars", "--timeout"):
        assert option in result.output


def test_missing_server_packages_raise_e132_with_the_install_hint(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    with pytest.raises(MrekitError) as caught:
        serve.serve(tmp_path)
    assert caught.value.code == "E132"
    assert caught.value.hint == "pip install mrekit[server]"
    assert "uvicorn" in caught.value.message


def test_cli_reports_e132_and_exits_1(monkeypatch, tmp_path):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    result = CliRunner().invoke(app, ["serve", str(tmp_path)])
    assert result.exit_code == 1
    assert "E132" in result.output and "fastapi" in result.output and "pip install mrekit" in result.output
    assert "serving" not in result.output


def test_serve_loads_the_model_and_runs_uvicorn_with_the_limits(monkeypatch, tmp_path):
    import uvicorn

    import mrekit.cli.serve

    class Model:
        def predict(self, texts):
            return []

    calls = {}
    monkeypatch.setattr(mrekit.cli.serve, "load", lambda folder, backend="auto": calls.setdefault("model", Model()))
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.update(app=app, **kw))
    serve.serve(tmp_path, "127.0.0.1", 8123, max_batch=7, timeout_s=3.0)
    assert (calls["host"], calls["port"]) == ("127.0.0.1", 8123)
    assert calls["app"].state.model is calls["model"]
    assert calls["app"].state.limits.max_batch == 7 and calls["app"].state.limits.timeout_s == 3.0
    assert calls["timeout_graceful_shutdown"] == 4


def test_a_folder_that_is_not_a_model_is_a_clean_error(tmp_path):
    result = CliRunner().invoke(app, ["serve", str(tmp_path / "nope")])
    assert result.exit_code == 1


class _Model:
    def predict(self, texts):
        return [Example(t, labels=[t.upper()]) for t in texts]


# --- issue 12, item 14 (server part): out-of-range options ----------------------------------------------------


@pytest.fixture
def no_model_no_server(monkeypatch):
    """``mrekit serve`` with a fake loader and a uvicorn that records instead of serving."""
    import uvicorn

    import mrekit.cli.serve

    calls: dict = {}
    monkeypatch.setattr(mrekit.cli.serve, "load", lambda folder, backend="auto": _Model())
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.update(app=app, **kw))
    return calls


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--port", "99999"], "--port"),
        (["--port", "0"], "--port"),
        (["--port", "-80"], "--port"),
        (["--max-batch", "0"], "--max-batch"),
        (["--max-text-chars", "0"], "--max-text-chars"),
        (["--max-body-bytes", "-1"], "--max-body-bytes"),
        (["--timeout", "0"], "--timeout"),
        (["--timeout", "nan"], "--timeout"),
        (["--batch-wait-ms", "-1"], "--batch-wait-ms"),
        (["--header-timeout", "0"], "--header-timeout"),
        (["--body-timeout", "-2"], "--body-timeout"),
        (["--keep-alive-timeout", "inf"], "--keep-alive-timeout"),
        (["--limit-concurrency", "0"], "--limit-concurrency"),
        (["--allowed-host", "http://evil.example/"], "--allowed-host"),
    ],
)
def test_out_of_range_serve_options_are_a_coded_error_not_a_traceback(no_model_no_server, tmp_path, args, option):
    result = CliRunner().invoke(app, ["serve", str(tmp_path), *args])
    assert result.exit_code == 1, result.output
    assert "E309" in result.output and f"field '{option}'" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)  # a clean exit
    assert no_model_no_server == {}  # uvicorn never started


def test_serve_and_create_app_reject_out_of_range_settings(no_model_no_server, tmp_path):
    with pytest.raises(MrekitError) as caught:
        serve.serve(tmp_path, port=99999)
    assert (caught.value.code, caught.value.field) == ("E309", "port")
    with pytest.raises(MrekitError) as caught:
        create_app(_Model(), max_batch=0)
    assert (caught.value.code, caught.value.field) == ("E309", "max_batch")
    with pytest.raises(MrekitError) as caught:
        create_app(_Model(), body_timeout_s=float("nan"))
    assert (caught.value.code, caught.value.field) == ("E309", "body_timeout_s")
    assert no_model_no_server == {}


def test_the_new_serve_options_reach_uvicorn_and_the_app(no_model_no_server, tmp_path):
    args = ["--port", "8123", "--limit-concurrency", "32", "--keep-alive-timeout", "2", "--header-timeout", "3"]
    args += ["--body-timeout", "4", "--allowed-host", "api.example.org", "--allowed-host", "10.1.2.3", "--docs"]
    result = CliRunner().invoke(app, ["serve", str(tmp_path), *args])
    assert result.exit_code == 0, result.output
    calls = no_model_no_server
    assert (calls["host"], calls["port"], calls["limit_concurrency"], calls["timeout_keep_alive"]) == (
        "127.0.0.1",
        8123,
        32,
        2.0,
    )
    assert calls["http"].header_timeout_s == 3.0 and calls["http"].max_connections == 32
    assert [m.kwargs["timeout_s"] for m in calls["app"].user_middleware if "timeout_s" in m.kwargs] == [4.0]
    with TestClient(calls["app"], base_url="http://api.example.org") as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/healthz", headers={"Host": "10.1.2.3:8123"}).status_code == 200
        assert client.get("/healthz", headers={"Host": "evil.example"}).status_code == 400
        assert client.get("/docs").status_code == 200  # --docs


def test_serve_defaults_keep_docs_off_and_answer_only_local_hosts(no_model_no_server, tmp_path):
    result = CliRunner().invoke(app, ["serve", str(tmp_path), "--host", "0.0.0.0"])
    assert result.exit_code == 0, result.output
    calls = no_model_no_server
    assert calls["limit_concurrency"] == 256 and calls["timeout_keep_alive"] == 5.0
    with TestClient(calls["app"], base_url=LOCAL) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/healthz", headers={"Host": "0.0.0.0:8000"}).status_code == 400
        assert client.get("/healthz").status_code == 200
