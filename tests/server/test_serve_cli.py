"""``mrekit serve``: the command is registered, passes its limits on, and names the missing extra."""

from __future__ import annotations

import importlib.util

import pytest
from typer.testing import CliRunner

from mrekit import MrekitError
from mrekit.cli import app, serve

pytest.importorskip("fastapi", reason="the server extra (fastapi) is not installed")


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

    import mrekit.pipeline

    class Model:
        def predict(self, texts):
            return []

    calls = {}
    monkeypatch.setattr(mrekit.pipeline, "load", lambda folder, backend="auto": calls.setdefault("model", Model()))
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.update(app=app, **kw))
    serve.serve(tmp_path, "127.0.0.1", 8123, max_batch=7, timeout_s=3.0)
    assert (calls["host"], calls["port"]) == ("127.0.0.1", 8123)
    assert calls["app"].state.model is calls["model"]
    assert calls["app"].state.limits.max_batch == 7 and calls["app"].state.limits.timeout_s == 3.0
    assert calls["timeout_graceful_shutdown"] == 4


def test_a_folder_that_is_not_a_model_is_a_clean_error(tmp_path):
    result = CliRunner().invoke(app, ["serve", str(tmp_path / "nope")])
    assert result.exit_code == 1
