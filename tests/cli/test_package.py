from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest
from typer.testing import CliRunner

from mrekit import MrekitError
from mrekit.cli import app
from mrekit.cli.package import package, package_name
from mrekit.encoder.model import MREModel
from mrekit.trainer import TrainingArguments

ARGS = TrainingArguments(epochs=8, batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0.0, seed=3)


@pytest.fixture(scope="module")
def saved(snips_mini, tiny_encoder, tmp_path_factory):
    model = MREModel(mode="mre", encoder=tiny_encoder).fit(snips_mini, None, args=ARGS)
    return model.save(tmp_path_factory.mktemp("pkg") / "snips-tiny")


def test_wheel_installs_and_loads_offline(saved, snips_mini, tmp_path):
    wheel = package(saved, tmp_path / "dist", name="snips_tiny", version="1.2.3")
    assert wheel.name == "snips_tiny-1.2.3-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    assert "snips_tiny/__init__.py" in names and "snips_tiny/model/mrekit.json" in names
    assert "snips_tiny/model/README.md" in names and "snips_tiny/model/model.safetensors" in names
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)]
    subprocess.run(pip, check=True, capture_output=True)
    texts = [ex.text for ex in snips_mini]
    script = (
        "import json, sys, snips_tiny; nlp = snips_tiny.load(); "
        "print(json.dumps([nlp(t).labels for t in json.loads(sys.argv[1])])); print(snips_tiny.__version__)"
    )
    env = {**os.environ, "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-c", script, json.dumps(texts)], env=env, capture_output=True, text=True, check=True
    )
    lines = run.stdout.strip().splitlines()
    original = MREModel.load(saved)
    assert json.loads(lines[-2]) == [original(t).labels for t in texts]
    assert lines[-1] == "1.2.3"


def test_default_name_comes_from_the_folder(saved, tmp_path):
    assert package_name(saved) == "snips_tiny"
    assert package_name(saved.parent / "run" / "model-best") == "run"


@pytest.mark.parametrize(
    ("options", "field"), [({"name": "my-model"}, "name"), ({"name": "mrekit"}, "name"), ({"version": "v1"}, "version")]
)
def test_bad_name_or_version_is_refused(saved, tmp_path, options, field):
    with pytest.raises(MrekitError) as err:
        package(saved, tmp_path, **options)
    assert (err.value.code, err.value.field) == ("E210", field)
    assert not list(tmp_path.glob("*.whl"))


def test_cli_refuses_an_existing_wheel(saved, tmp_path):
    runner = CliRunner()
    first = runner.invoke(app, ["package", str(saved), str(tmp_path), "--name", "m1"])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "m1-0.0.1-py3-none-any.whl").is_file()
    again = runner.invoke(app, ["package", str(saved), str(tmp_path), "--name", "m1"])
    assert again.exit_code == 1 and "E170" in again.output
    bad = runner.invoke(app, ["package", str(tmp_path / "nowhere"), str(tmp_path)])
    assert bad.exit_code == 1 and "E100" in bad.output
