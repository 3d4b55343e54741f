from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from typer.testing import CliRunner

import mrekit
from mrekit import MrekitError
from mrekit.cli import app
from mrekit.encoder.model import MREModel
from mrekit.encoder.serialization import record_files
from mrekit.integrity import sha256_file
from mrekit.trainer import TrainingArguments

pytest.importorskip("onnxruntime")

ARGS = TrainingArguments(epochs=25, batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0.0, seed=3)


@pytest.fixture(scope="module")
def exported(snips_mini, tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx")
    MREModel(mode="mre", encoder=tiny_encoder).fit(snips_mini, snips_mini, args=ARGS, output_dir=out / "run")
    folder = out / "run" / "model-best"
    result = CliRunner().invoke(app, ["export", str(folder), "--quantize", "int8"])
    assert result.exit_code == 0, result.output
    return folder


def test_export_writes_both_models(exported):
    assert (exported / "model.onnx").exists() and (exported / "model.int8.onnx").exists()
    meta = json.loads((exported / "onnx.json").read_text())
    assert meta["files"] == ["model.onnx", "model.int8.onnx"]
    assert (exported / "model.int8.onnx").stat().st_size < (exported / "model.onnx").stat().st_size
    files = json.loads((exported / "mrekit.json").read_text())["files"]  # the CLI export recorded its hashes
    for name in ("model.onnx", "model.int8.onnx", "onnx.json"):
        assert files[name] == sha256_file(exported / name)


def test_onnx_fp32_matches_torch(exported, snips_mini):
    texts = [ex.text for ex in snips_mini] + ["play", "a much longer text " * 20]
    torch_model = mrekit.load(exported, backend="torch")
    onnx_model = mrekit.load(exported, backend="onnx")
    assert onnx_model.backend_.name == "onnx" and torch_model.backend_.name == "torch"
    a, b = torch_model.predict(texts), onnx_model.predict(texts)
    assert [(x.labels, x.spans) for x in a] == [(y.labels, y.spans) for y in b]
    for x, y in zip(a, b, strict=True):
        assert np.allclose(list(x.label_scores.values()), list(y.label_scores.values()), atol=1e-4)


def test_auto_is_the_exact_fp32_export_even_with_int8_present(exported, snips_mini, caplog):
    assert (exported / "model.int8.onnx").exists()
    with caplog.at_level(logging.INFO, logger="mrekit.encoder"):
        model = mrekit.load(exported)
    assert model.backend_.name == "onnx"
    assert f"model {exported} runs on the onnx backend" in caplog.messages
    exact = mrekit.load(exported, backend="torch").predict([ex.text for ex in snips_mini])
    assert [(x.labels, x.spans) for x in model.predict([ex.text for ex in snips_mini])] == [
        (y.labels, y.spans) for y in exact
    ]


def test_int8_runs_only_when_asked(exported, snips_mini, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="mrekit.encoder"):
        model = mrekit.load(exported, backend="onnx-int8")
    assert model.backend_.name == "onnx-int8"
    assert f"model {exported} runs on the onnx-int8 backend" in caplog.messages
    results = model.predict([ex.text for ex in snips_mini])
    assert len(results) == len(snips_mini) and all(len(r.labels) == 1 for r in results)
    import shutil

    only_int8 = tmp_path / "int8"
    shutil.copytree(exported, only_int8)
    (only_int8 / "model.onnx").unlink()
    assert mrekit.load(only_int8).backend_.name == "torch"  # auto never picks the approximate export
    assert mrekit.load(only_int8, backend="onnx-int8").backend_.name == "onnx-int8"


def test_stale_or_missing_exports_are_refused(exported, tmp_path, snips_mini, tiny_encoder):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(exported, copy)
    meta = json.loads((copy / "onnx.json").read_text())
    meta["weights_sha256"] = "0" * 64
    (copy / "onnx.json").write_text(json.dumps(meta))
    with pytest.raises(MrekitError, match=r"\[E188\].*onnx.json differs from the hash"):
        mrekit.load(copy, backend="onnx")
    with pytest.raises(MrekitError, match=r"\[E188\]"):
        mrekit.load(copy)  # auto does not fall back to torch over a tampered export
    assert mrekit.load(copy, backend="torch").backend_.name == "torch"  # the export is not used
    record_files(copy, ["onnx.json"])  # recorded, but made from other weights
    with pytest.raises(MrekitError, match=r"\[E182\].*does not match"):
        mrekit.load(copy, backend="onnx")
    bare = tmp_path / "bare"
    shutil.copytree(exported, bare, ignore=shutil.ignore_patterns("*.onnx", "onnx.json"))
    with pytest.raises(MrekitError, match=r"\[E181\] .*no onnx export"):
        mrekit.load(bare, backend="onnx")
    assert mrekit.load(bare).backend_.name == "torch"  # auto falls back
    with pytest.raises(MrekitError, match=r"\[E183\]"):
        mrekit.load(bare, backend="tensorrt")


@pytest.mark.parametrize(
    ("mode", "levels"), [("isolated", ["word"]), ("isolated", ["text"]), ("shared", ["text", "word"])]
)
def test_models_without_the_mre_interaction_export_and_run(
    mode, levels, ja_examples, snips_mini, tiny_encoder, tmp_path
):
    # Without the mre interaction the graph never reads real_mask, and the exporter drops it:
    # before the fix every prediction failed with "Invalid input name: real_mask".
    data = ja_examples if levels == ["word"] else snips_mini
    args = TrainingArguments(epochs=1, batch_size=4, seed=0)
    MREModel(mode=mode, levels=levels, encoder=tiny_encoder).fit(data, args=args, output_dir=tmp_path / "run")
    folder = tmp_path / "run" / "model-best"
    mrekit.load(folder, backend="torch").export()
    texts = [ex.text for ex in data]
    a = mrekit.load(folder, backend="torch").predict(texts)
    b = mrekit.load(folder, backend="onnx").predict(texts)
    assert [(x.labels, x.spans) for x in a] == [(y.labels, y.spans) for y in b]
