from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from mrekit import Example
from mrekit.cli import app
from mrekit.cli.calibrate import calibrate
from mrekit.encoder import MREModel
from mrekit.errors import MrekitError
from mrekit.formats import jsonl
from mrekit.metrics.calibration import apply_temperature
from mrekit.predictor import load
from mrekit.trainer import TrainingArguments

runner = CliRunner()
ARGS = TrainingArguments(epochs=8, batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0.0, seed=3)
TEXTS = ["add muse to my playlist", "book a table for two", "rain in paris"]


@pytest.fixture(scope="module")
def trained(snips_mini, tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    MREModel(mode="shared", encoder=tiny_encoder).fit(snips_mini, snips_mini, args=ARGS, output_dir=out)
    return out / "model-best"


@pytest.fixture
def model_dir(trained, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(trained, copy)
    return copy


@pytest.fixture
def dev(snips_mini, tmp_path):
    """The training sentences with every third text label swapped: the model is over-confident on them."""
    labels = sorted({ex.labels[0] for ex in snips_mini})
    examples = []
    for n, ex in enumerate(snips_mini):
        label = ex.labels[0]
        if n % 3 == 0:
            label = labels[(labels.index(label) + 1) % len(labels)]
        examples.append(Example(ex.text, id=str(n), labels=[label], spans=ex.spans))
    path = tmp_path / "dev.jsonl"
    jsonl.write(examples, path)
    return path


def test_calibrate_lowers_dev_nll_and_is_applied_after_load(model_dir, dev):
    before = load(model_dir, backend="torch")
    raw = before.predict_proba(TEXTS)
    labels_before = [ex.labels for ex in before.predict(TEXTS)]
    result = runner.invoke(app, ["calibrate", str(model_dir), str(dev)])
    assert result.exit_code == 0, result.output
    assert "Temperature scaling" in result.output and "NLL" in result.output and "stored in" in result.output
    manifest = json.loads((model_dir / "mrekit.json").read_text())
    t = manifest["config"]["temperature"]
    stats = manifest["calibration"]
    assert t != 1.0 and stats["temperature"] == t and stats["n"] == 12
    assert stats["after"]["nll"] < stats["before"]["nll"]
    assert "training" in manifest  # the trainer's facts survive the rewrite

    after = load(model_dir, backend="torch")  # hashes still valid: load verifies them
    assert after.model_.config.temperature == t
    np.testing.assert_allclose(after.predict_proba(TEXTS), apply_temperature(raw, t), rtol=1e-5, atol=1e-6)
    assert [ex.labels for ex in after.predict(TEXTS)] == labels_before  # the argmax never moves


def test_dry_run_leaves_the_folder_alone(model_dir, dev):
    manifest = (model_dir / "mrekit.json").read_bytes()
    result = calibrate(model_dir, dev, save=False)
    assert result["after"]["nll"] < result["before"]["nll"]
    assert (model_dir / "mrekit.json").read_bytes() == manifest
    cli = runner.invoke(app, ["calibrate", str(model_dir), str(dev), "--dry-run"])
    assert cli.exit_code == 0 and "not stored" in cli.output


def test_multi_label_no_data_and_foreign_models_are_refused(model_dir, tmp_path, caplog):
    nlp = MREModel.load(model_dir, backend="torch")
    nlp.model_.config.multi_label = True
    with pytest.raises(MrekitError) as err:
        nlp.calibrate([Example("play muse", labels=["PlayMusic"])])
    assert err.value.code == "E176" and "multi-label" in err.value.message

    nlp.model_.config.multi_label = False
    with pytest.raises(MrekitError) as err:
        nlp.calibrate([Example("play muse", labels=["NoSuchLabel"])])
    assert err.value.code == "E177"
    assert "[W103] calibration skipped 1 dev examples" in caplog.text

    (tmp_path / "gen").mkdir()
    (tmp_path / "gen" / "mrekit.json").write_text('{"engine": "generative"}')
    result = runner.invoke(app, ["calibrate", str(tmp_path / "gen"), "snips:dev"])
    assert result.exit_code == 1 and "[E175]" in result.output


def test_calibrate_never_replaces_a_folder_holding_a_users_file(model_dir, dev):
    """Calibration rewrites the model folder; a file mrekit did not write there stops it (issue 14, check 4)."""
    (model_dir / "notes.txt").write_text("mine")
    before = {p.relative_to(model_dir): p.read_bytes() for p in model_dir.rglob("*") if p.is_file()}
    result = runner.invoke(app, ["calibrate", str(model_dir), str(dev)])
    # Loading already refuses a folder with an unrecorded file (E188); the rewrite would too (E174).
    assert result.exit_code == 1 and "E188" in result.output and "notes.txt" in result.output
    after = {p.relative_to(model_dir): p.read_bytes() for p in model_dir.rglob("*") if p.is_file()}
    assert after == before
