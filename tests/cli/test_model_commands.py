from __future__ import annotations

import json

from typer.testing import CliRunner

from mrekit.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_train_predict_evaluate(tmp_path, fixtures, tiny_encoder):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "train": str(fixtures / "bio_mini"),
                "dev": str(fixtures / "bio_mini"),
                "mode": "shared",
                "training": {"epochs": 2, "batch_size": 4, "learning_rate": 1e-3},
            }
        )
    )
    out = tmp_path / "run"
    result = run("train", config, "--output", out, "--encoder", tiny_encoder, "--epochs", 3, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert "best epoch" in result.output and (out / "model-best" / "mrekit.json").exists()
    log = (out / "metrics.jsonl").read_text().splitlines()
    assert len(log) == 3  # --epochs overrides the config file
    manifest = json.loads((out / "model-best" / "mrekit.json").read_text())
    assert manifest["config"]["mode"] == "shared" and manifest["training"]["arguments"]["seed"] == 1

    texts = tmp_path / "texts.txt"
    texts.write_text("play muse\n\nbook a table for two\n")
    pred = tmp_path / "pred.jsonl"
    result = run("predict", out, texts, "--output", pred)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in pred.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["1", "3"] and rows[0]["text"] == "play muse"
    assert len(rows[0]["labels"]) == 1 and isinstance(rows[0]["spans"], list)

    result = run("evaluate", out / "model-best", fixtures / "bio_mini", "--json", "--bootstrap", 0)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) >= {"text_accuracy", "text_macro_f1", "span_f1", "pair_f1", "frame_accuracy"}


def test_train_errors(tmp_path, fixtures):
    result = run("train", "--output", tmp_path / "o")
    assert result.exit_code == 1 and "[E183] field 'train': no training data" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"train": "snips:train", "training": {"epochz": 1}}')
    result = run("train", bad, "--output", tmp_path / "o")
    assert result.exit_code == 1 and "unknown training setting(s): epochz" in result.output
    result = run("train", "--train", fixtures / "bio_mini", "--mode", "joint", "--output", tmp_path / "o")
    assert result.exit_code == 1 and "[E183]" in result.output
    result = run("predict", tmp_path, fixtures / "mini.conll")
    assert result.exit_code == 1 and "[E181]" in result.output


def test_quickstart_small(tmp_path, tiny_encoder):
    result = run("quickstart", "--output", tmp_path / "q", "--epochs", 1, "--max-train", 24, "--encoder", tiny_encoder)
    assert result.exit_code == 0, result.output
    assert "frame accuracy" in result.output and "A few predictions" in result.output
    assert (tmp_path / "q" / "model-best" / "model.safetensors").exists()


def test_train_encoder_layers(tmp_path, fixtures, tiny_encoder):
    common = ("--train", fixtures / "bio_mini", "--encoder", tiny_encoder, "--epochs", 1)
    result = run("train", *common, "--encoder-layers", 5, "--output", tmp_path / "bad")
    assert result.exit_code == 1 and "[E183] field 'encoder_layers'" in result.output
    assert "between 1 and 2" in result.output and not (tmp_path / "bad" / "model-best").exists()
    result = run("train", *common, "--encoder-layers", 1, "--output", tmp_path / "run")
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "run" / "model-best" / "encoder" / "config.json").read_text())
    assert saved["num_hidden_layers"] == 1
