from __future__ import annotations

import json

import pytest
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
    # The span alignment report of every encoder: the tiny WordPiece aligns all 12 fixture sentences' spans.
    alignment = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])["alignment"]["train"]
    assert f"span alignment (train): {alignment['spans']} of {alignment['spans']} exact" in result.output
    assert "span alignment (dev):" in result.output
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
    before = _files(tmp_path / "q")
    again = run("quickstart", "--output", tmp_path / "q", "--epochs", 1, "--max-train", 24, "--encoder", tiny_encoder)
    assert again.exit_code == 1 and "[E170]" in again.output and "earlier run" in again.output
    assert _files(tmp_path / "q") == before
    over = run(
        "quickstart",
        "--output",
        tmp_path / "q",
        "--epochs",
        1,
        "--max-train",
        24,
        "--encoder",
        tiny_encoder,
        "--overwrite",
        "--seed",
        4,
    )
    assert over.exit_code == 0, over.output
    assert _files(tmp_path / "q")["model-best/model.safetensors"] != before["model-best/model.safetensors"]


def test_train_encoder_layers(tmp_path, fixtures, tiny_encoder):
    common = ("--train", fixtures / "bio_mini", "--encoder", tiny_encoder, "--epochs", 1)
    result = run("train", *common, "--encoder-layers", 5, "--output", tmp_path / "bad")
    assert result.exit_code == 1 and "[E183] field 'encoder_layers'" in result.output
    assert "between 1 and 2" in result.output and not (tmp_path / "bad" / "model-best").exists()
    result = run("train", *common, "--encoder-layers", 1, "--output", tmp_path / "run")
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "run" / "model-best" / "encoder" / "config.json").read_text())
    assert saved["num_hidden_layers"] == 1


# --- output folders, resume and settings (issue 12 items 9, 10, 11, 13) ---------------------------------------


def _train(tmp_path, fixtures, tiny_encoder, *extra):
    return run(
        "train",
        "--train",
        fixtures / "bio_mini",
        "--encoder",
        tiny_encoder,
        "--epochs",
        1,
        "--batch-size",
        4,
        "--output",
        tmp_path / "run",
        *extra,
    )


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_train_refuses_an_existing_run_unless_resume_or_overwrite(tmp_path, fixtures, tiny_encoder):
    assert _train(tmp_path, fixtures, tiny_encoder, "--keep-checkpoint").exit_code == 0
    out = tmp_path / "run"
    (out / "notes.txt").write_text("my notes")
    before = _files(out)
    again = _train(tmp_path, fixtures, tiny_encoder, "--seed", 5)
    assert again.exit_code == 1 and "[E170]" in again.output
    assert "the output folder already exists and is not empty" in again.output
    assert "--resume" in again.output and "--overwrite" in again.output
    assert _files(out) == before  # the earlier run, metrics.jsonl included, is untouched
    both = _train(tmp_path, fixtures, tiny_encoder, "--resume", "--overwrite")
    assert both.exit_code == 1 and "[E183] field 'overwrite'" in both.output
    other = _train(tmp_path, fixtures, tiny_encoder, "--resume", "--seed", 5)
    assert other.exit_code == 1 and "[E189]" in other.output and "seed 0 -> 5" in other.output
    assert _files(out) == before

    replaced = _train(tmp_path, fixtures, tiny_encoder, "--overwrite", "--seed", 5, "--keep-checkpoint")
    assert replaced.exit_code == 0, replaced.output
    assert (out / "notes.txt").read_text() == "my notes"  # only the run's own files are replaced
    manifest = json.loads((out / "model-best" / "mrekit.json").read_text())
    assert manifest["training"]["arguments"]["seed"] == 5
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    resumed = _train(tmp_path, fixtures, tiny_encoder, "--resume", "--seed", 5)  # the same run: nothing to do
    assert resumed.exit_code == 0, resumed.output


def test_train_off_a_terminal_prints_plain_progress_and_removes_the_checkpoint(tmp_path, fixtures, tiny_encoder):
    result = _train(tmp_path, fixtures, tiny_encoder, "--learning-rate", 0.01)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("training budget: ") and "batch size 4" in lines[0] and "(epochs 1 as set)" in lines[0]
    assert any(line.startswith("epoch 1/1 step 1/") and "steps/s, ETA" in line for line in lines)
    assert any(line.startswith("epoch 1: loss ") and line.endswith("★ best") for line in lines)
    assert not [line for line in lines if line.startswith("⚠ ")]  # progress lines are not shown as warnings
    out = tmp_path / "run"
    assert not (out / "checkpoint").exists()
    assert (
        json.loads((out / "model-best" / "mrekit.json").read_text())["training"]["arguments"]["learning_rate"] == 0.01
    )
    again = _train(tmp_path, fixtures, tiny_encoder, "--resume", "--learning-rate", 0.01)
    assert again.exit_code == 1 and "[E184]" in again.output and "the run finished (all 1 epochs" in again.output
    assert "--overwrite" in again.output


def test_train_flags_are_named_as_the_settings(tmp_path, fixtures, tiny_encoder):
    shown = run("train", "--help").output
    assert "--learning-rate" in shown and "--keep-checkpoint" in shown and "--lr " not in shown
    old = run(
        "train",
        "--train",
        fixtures / "bio_mini",
        "--encoder",
        tiny_encoder,
        "--lr",
        0.02,
        "--epochs",
        1,
        "--batch-size",
        4,
        "--keep-checkpoint",
        "--output",
        tmp_path / "run",
    )
    assert old.exit_code == 0, old.output
    manifest = json.loads((tmp_path / "run" / "model-best" / "mrekit.json").read_text())
    assert (
        manifest["training"]["arguments"]["learning_rate"],
        manifest["training"]["arguments"]["keep_checkpoint"],
    ) == (0.02, True)
    assert (tmp_path / "run" / "checkpoint" / "state.json").exists()


def test_train_epochs_auto_prints_the_chosen_budget(tmp_path, fixtures, tiny_encoder):
    result = _train(tmp_path, fixtures, tiny_encoder, "--epochs", "auto", "--training.max_steps", 3)
    # _train passes --epochs 1 first; the later --epochs auto wins.
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("training budget: ") and "50 epochs, 3 steps (epochs auto: 600 steps wanted" in first
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert (log[-1]["steps"], log[-1]["finished"]) == (3, "max_steps 3 reached")


def test_train_epochs_must_be_a_number_or_auto(tmp_path, fixtures, tiny_encoder):
    result = _train(tmp_path, fixtures, tiny_encoder, "--epochs", "many")
    assert result.exit_code == 1 and "[E183] field 'epochs'" in result.output and "or auto" in result.output


def test_train_refuses_a_folder_of_other_files_and_a_file(tmp_path, fixtures, tiny_encoder):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "data.csv").write_text("a,b\n")
    result = _train(tmp_path, fixtures, tiny_encoder)
    assert result.exit_code == 1 and "[E170]" in result.output
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["data.csv"]
    result = run("train", "--train", fixtures / "bio_mini", "--output", tmp_path / "run" / "data.csv")
    assert result.exit_code == 1 and "[E173]" in result.output


def test_train_shows_truncation_and_records_it(tmp_path, fixtures, tiny_encoder):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"max_length": 16}))
    result = run(
        "train",
        config,
        "--train",
        fixtures / "bio_mini",
        "--encoder",
        tiny_encoder,
        "--epochs",
        1,
        "--output",
        tmp_path / "run",
    )
    assert result.exit_code == 0, result.output
    assert "[W101] " in result.output and "training texts are longer than max_length 16 subwords" in result.output
    first = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert first["alignment"]["train"]["truncated"] > 0 and first["alignment"]["train"]["spans_lost"] > 0


@pytest.mark.parametrize(
    "config, flags, expected",
    [
        ({"training": {"learning_rate": "abc"}}, (), "[E183] field 'learning_rate'"),
        ({"training": {"epochs": "2"}}, (), "[E183] field 'epochs'"),
        ({"training": {"device": "tpu"}}, (), "[E183] field 'device'"),
        ({"training": {"selection_metric": "f1"}}, (), "[E183] field 'selection_metric'"),
        ({"training": [1]}, (), "[E183] field 'training'"),
        ({"max_length": 1000}, (), "[E183]"),
        ({"max_length": "long"}, (), "[E183] field 'max_length'"),
        ({}, ("--lr", -5), "[E183] field 'learning_rate'"),
        ({}, ("--threads", 0), "[E183] field 'threads'"),
        ({}, ("--batch-size", 0), "[E183] field 'batch_size'"),
        ({}, ("--epochs", -1), "[E183] field 'epochs'"),
    ],
)
def test_train_checks_settings_before_reading_data(tmp_path, tiny_encoder, config, flags, expected):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"train": str(tmp_path / "no-such-data"), **config}))  # E100 if it were read
    result = run("train", path, "--encoder", tiny_encoder, *flags, "--output", tmp_path / "run")
    assert result.exit_code == 1 and expected in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_train_config_that_is_a_list(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("[]")
    result = run("train", path, "--output", tmp_path / "run")
    assert result.exit_code == 1 and "[E183]" in result.output and "a config holds a table of settings" in result.output


# --- issue 13: config files with dotted overrides, engines from the registry ---------------------------------


def test_train_config_file_with_dotted_overrides(tmp_path, fixtures, tiny_encoder):
    config = tmp_path / "run.toml"
    config.write_text(
        f'train = "{fixtures / "bio_mini"}"\nmode = "shared"\nencoder = "{tiny_encoder}"\n'
        "[training]\nepochs = 5\nbatch_size = 4\nlearning_rate = 0.001\n"
    )
    out = tmp_path / "run"
    result = run("train", config, "--training.epochs", 2, "--training.seed=7", "--crf", "--output", out)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]  # --training.epochs 2 beat the file's 5
    manifest = json.loads((out / "model-best" / "mrekit.json").read_text())
    assert manifest["engine"] == "encoder"
    assert manifest["training"]["arguments"]["seed"] == 7 and manifest["training"]["arguments"]["batch_size"] == 4
    assert manifest["config"]["use_crf"] is True and manifest["config"]["mode"] == "shared"


def test_train_unknown_engine_or_override_is_a_coded_error(tmp_path, fixtures):
    base = ("train", "--train", fixtures / "bio_mini", "--output", tmp_path / "o")
    result = run(*base, "--engine", "rules")
    assert result.exit_code == 1 and "[E183]" in result.output
    assert "encoder" in result.output and "generative" in result.output  # the registered engines are listed
    result = run(*base, "--training.epochz", 2)
    assert result.exit_code == 1 and "[E183]" in result.output and "epochz" in result.output
    result = run(*base, "training.epochs")
    assert result.exit_code == 1 and "[E1" in result.output
    assert not (tmp_path / "o").exists()
