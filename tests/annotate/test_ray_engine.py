"""``--engine ray``: the same shards as ``local``, resume across engines, killed actors, and refusals.

The tests that run Ray are ``slow`` (each starts Ray actors that import torch and load the
model: about 90 s here on 2 cores) and skip without the ray extra; the engine seam (a shard
reported twice, the actor class, ``E220``, the options) is checked in the default suite.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mrekit
from mrekit.annotate import ENGINES
from mrekit.annotate.engines import Job, ShardTask, run_local
from mrekit.annotate.ray_engine import RayEngine, ShardWriter, _failure
from mrekit.annotate.state import MANIFEST
from mrekit.cli import app
from mrekit.encoder.model import MREModel
from mrekit.errors import MrekitError
from mrekit.trainer import TrainingArguments

ARGS = TrainingArguments(epochs=1, batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0.0, seed=3)
SHARD, DOCS = 10, 40
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the ray extra (mrekit[ray])")
runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(snips_mini, tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    MREModel(mode="mre", encoder=tiny_encoder).fit(snips_mini, snips_mini, args=ARGS, output_dir=out)
    return out / "model-best"


@pytest.fixture(scope="module")
def corpus(snips_mini, tmp_path_factory):
    """40 documents (shard size 10: 4 shards) and a bad row."""
    texts = [ex.text for ex in snips_mini]
    path = tmp_path_factory.mktemp("docs") / "docs.jsonl"
    lines = [json.dumps({"id": f"d{i}", "text": texts[i % len(texts)]}) for i in range(DOCS)]
    path.write_text("\n".join(lines[:15] + ['{"id": "bad"}'] + lines[15:]) + "\n")
    return path, [f"d{i}" for i in range(DOCS)]


@pytest.fixture(scope="module")
def reference(model_dir, corpus, tmp_path_factory):
    """The ``local`` engine's folder: two processes of one torch thread each, as the ray actors below."""
    out = tmp_path_factory.mktemp("local") / "out"
    mrekit.annotate(model_dir, corpus[0], out, shard_size=SHARD, workers=2, threads=1)
    return out


@pytest.fixture(scope="module", autouse=True)
def _stop_ray_at_the_end():
    yield
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


@pytest.fixture
def own_ray():
    """A Ray this process started (2 CPUs): the engine uses it and leaves it running."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    return ray


def same_files(out: Path, reference: Path) -> None:
    """The same shard files, errors and finished shards (the manifest's other fields name the run)."""
    names = sorted(p.name for p in reference.glob("part-*"))
    assert sorted(p.name for p in out.glob("part-*")) == names
    for name in [*names, "errors.jsonl"]:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    shards = [json.loads((folder / MANIFEST).read_text())["shards"] for folder in (out, reference)]
    assert shards[0] == shards[1] and json.loads((out / MANIFEST).read_text())["complete"]


def ids_of(out: Path) -> list[str]:
    return [json.loads(line)["id"] for part in sorted(out.glob("part-*.jsonl")) for line in part.open()]


class KillOnce:
    """A test hook: the actor exits (``os._exit``) the first time it reaches one of ``at`` (shard, moment)."""

    def __init__(self, folder: Path, at: set[tuple[int, str]]) -> None:
        self.folder, self.at = str(folder), at

    def __call__(self, task: ShardTask, when: str) -> None:
        mark = Path(self.folder) / f"{task.index}-{when}"
        if (task.index, when) in self.at and not mark.exists():
            mark.touch()
            os._exit(1)


class Stop(Exception):
    """The driver stops (as at a Ctrl-C) once a shard is in the manifest."""


@pytest.mark.slow
@needs_ray
def test_the_cli_ray_engine_starts_a_local_ray_and_writes_the_local_engine_files(
    model_dir, corpus, reference, tmp_path, monkeypatch
):
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    out = tmp_path / "out"
    args = ["annotate", model_dir, corpus[0], "-o", out, "--shard-size", SHARD, "--engine", "ray", "--workers", 2]
    result = runner.invoke(app, [str(a) for a in [*args, "--cpus-per-worker", 1]])
    assert result.exit_code == 0, result.output
    assert f"annotated {DOCS} documents in 4 shards, 1 bad row" in result.stdout
    same_files(out, reference)
    assert not ray.is_initialized()  # the local Ray it started is shut down


@pytest.mark.slow
@needs_ray
def test_a_run_stopped_between_shards_resumes_with_ray(model_dir, corpus, reference, tmp_path, own_ray):
    out = tmp_path / "out"

    def stop_after_a_shard(state):
        if state.shards_written:
            raise Stop

    settings = {"shard_size": SHARD, "engine": "ray", "workers": 2}
    with pytest.raises(Stop):
        mrekit.annotate(model_dir, corpus[0], out, progress=stop_after_a_shard, **settings)
    assert len(json.loads((out / MANIFEST).read_text())["shards"]) == 1
    settings["engine"] = RayEngine(window=2)  # the 3 missing shards in 2 datasets
    summary = mrekit.annotate(model_dir, corpus[0], out, resume=True, **settings)
    assert (summary["shards_skipped"], summary["shards_written"], summary["documents"]) == (1, 3, DOCS - SHARD)
    assert ids_of(out) == corpus[1]  # every id exactly once
    same_files(out, reference)
    assert own_ray.is_initialized()  # not started by the engine: left running


@pytest.mark.slow
@needs_ray
def test_killed_actors_are_restarted_and_every_id_is_written_once(model_dir, corpus, reference, tmp_path, own_ray):
    own_ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the hook travels to the actors
    marks = tmp_path / "marks"
    marks.mkdir()
    # Shard 0: the actor dies before writing; shard 1: after its file is in place, before reporting it.
    engine = RayEngine(on_shard=KillOnce(marks, {(0, "start"), (1, "written")}), max_restarts=2, max_task_retries=2)
    out = tmp_path / "out"
    summary = mrekit.annotate(model_dir, corpus[0], out, shard_size=SHARD, engine=engine, workers=2)
    assert sorted(p.name for p in marks.iterdir()) == ["0-start", "1-written"]  # both actors were killed
    assert summary["shards_written"] == 4 and summary["documents"] == DOCS
    assert ids_of(out) == corpus[1]
    same_files(out, reference)


def test_a_shard_reported_twice_is_recorded_once(model_dir, corpus, tmp_path):
    def twice(job, tasks, on_documents):
        for done in run_local(job, tasks, on_documents):
            yield done
            yield done

    summary = mrekit.annotate(model_dir, corpus[0], tmp_path / "out", shard_size=SHARD, engine=twice)
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert summary["shards_written"] == 4 and summary["documents"] == DOCS and len(manifest["shards"]) == 4
    assert manifest["documents"] == DOCS and ids_of(tmp_path / "out") == corpus[1]


def test_an_actor_that_cannot_see_the_output_refuses_to_write(model_dir, tmp_path):
    job = Job(model=str(model_dir), output=str(tmp_path / "elsewhere"))
    writer = ShardWriter(job, threads=None)
    kind, failure = writer._write(ShardTask(0, ()))
    assert kind == "error" and failure["code"] == "E100" and "every node" in failure["hint"]
    error = _failure(0, failure)
    assert isinstance(error, MrekitError) and "not visible on this node" in str(error)
    other = _failure(3, {"type": "ValueError", "message": "boom", "traceback": "..."})
    assert isinstance(other, RuntimeError) and str(other).startswith("shard 3 failed on a Ray actor: ValueError: boom")


def test_without_ray_the_engine_is_e220_with_the_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    monkeypatch.delitem(ENGINES, "ray", raising=False)
    text = tmp_path / "t.txt"
    text.write_text("play muse\n")
    with pytest.raises(MrekitError) as err:
        mrekit.annotate(tmp_path / "model", text, tmp_path / "out", engine="ray")
    assert err.value.code == "E220" and "pip install 'mrekit[ray]'" in str(err.value)
    result = runner.invoke(app, ["annotate", str(tmp_path / "model"), str(text), "-o", str(tmp_path / "out")] + [
        "--engine", "ray", "--ray-address", "auto"
    ])  # fmt: skip
    assert result.exit_code == 1 and "[E220] field 'engine': the ray engine needs the ray extra" in result.output
    assert "pip install 'mrekit[ray]'" in result.output and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (("--ray-address", "auto"), "[E183] field 'ray_address': --ray-address is an option of --engine ray"),
        (("--cpus-per-worker", "2"), "[E183] field 'cpus_per_worker'"),
    ],
)
def test_ray_options_need_the_ray_engine(tmp_path, extra, says):
    text = tmp_path / "t.txt"
    text.write_text("play muse\n")
    result = runner.invoke(app, ["annotate", str(tmp_path / "model"), str(text), "-o", str(tmp_path / "out"), *extra])
    assert result.exit_code == 1 and says in result.output, result.output


def test_ray_engine_settings_and_help():
    with pytest.raises(MrekitError) as err:
        RayEngine(cpus_per_worker=0)
    assert err.value.code == "E183" and "cpus_per_worker" in str(err.value)
    assert RayEngine().cpus(Job(model="m", output="o", threads=3)) == 3
    assert RayEngine(cpus_per_worker=2).cpus(Job(model="m", output="o", threads=3)) == 2
    result = runner.invoke(app, ["annotate", "-h"], terminal_width=200)
    assert result.exit_code == 0
    for words in ("--ray-address", "--cpus-per-worker", "--engine ray", "RAY_ADDRESS", "Ray actors"):
        assert words in result.output, words


def test_importing_mrekit_and_resolving_the_engine_do_not_import_ray():
    code = (
        "import sys, mrekit, mrekit.annotate, mrekit.cli\n"
        "from mrekit.annotate import get_engine\n"
        "try:\n    get_engine('ray')\nexcept Exception:\n    pass\n"
        "print('ray' in sys.modules)"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"
