from __future__ import annotations

import json

from typer.testing import CliRunner

from mrekit.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_train_predict_evaluate_generative(tmp_path, fixtures, tiny):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "engine": "generative",
                "train": str(fixtures / "bio_mini"),
                "dev": str(fixtures / "bio_mini"),
                "scratch": tiny,
                "training": {"epochs": 1, "batch_size": 4, "learning_rate": 3e-3, "max_target_length": 40},
            }
        )
    )
    out = tmp_path / "run"
    result = run("train", config, "--output", out, "--epochs", 2, "--seed", 1, "--task", "Slots")
    assert result.exit_code == 0, result.output
    assert "best epoch" in result.output and (out / "model-best" / "mrekit.json").exists()
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2  # --epochs overrides the config file
    manifest = json.loads((out / "model-best" / "mrekit.json").read_text())
    assert manifest["engine"] == "generative" and manifest["output"]["task"] == "Slots"
    assert manifest["training"]["arguments"]["seed"] == 1

    texts = tmp_path / "texts.txt"
    texts.write_text("play muse\n\nbook a table for two\n")
    pred = tmp_path / "pred.jsonl"
    result = run("predict", out, texts, "--output", pred)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in pred.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["1", "3"] and rows[0]["text"] == "play muse"
    assert rows[0]["meta"]["generated"].count("/Slots/") == 1 and isinstance(rows[0]["spans"], list)

    result = run("evaluate", out / "model-best", fixtures / "bio_mini", "--json", "--bootstrap", 0)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) >= {"text_accuracy", "span_f1", "pair_f1", "frame_accuracy", "format_accuracy"}
    assert report["format_accuracy"] == 1.0 and report["hallucination_rate"] == 0.0
    result = run("evaluate", out, fixtures / "bio_mini", "--bootstrap", 0)
    assert result.exit_code == 0 and "format accuracy" in result.output


def test_generative_train_errors(tmp_path, fixtures):
    base = ("train", "--train", fixtures / "bio_mini", "--output", tmp_path / "o")
    result = run(*base, "--engine", "generative", "--resume")  # the one trainer resumes either engine
    assert result.exit_code == 1 and "[E184]" in result.output and "no checkpoint to resume" in result.output
    result = run(*base, "--engine", "generative", "--mode", "mre")
    assert result.exit_code == 1 and "[E202]" in result.output and "mode" in result.output
    result = run(*base, "--engine", "generative", "--format", "yaml")
    assert result.exit_code == 1 and "[E202]" in result.output
    result = run(*base, "--engine", "seq2seq")
    assert result.exit_code == 1 and "[E183]" in result.output
    result = run(*base, "--engine", "generative", "--model", tmp_path / "missing")
    assert result.exit_code == 1 and "[E100]" in result.output
