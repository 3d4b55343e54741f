from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import mrekit
from mrekit import Example
from mrekit.cli import app
from mrekit.cli.predict import check_backend, load_with_backend, stream_predictions
from mrekit.encoder import MREModel
from mrekit.errors import MrekitError
from mrekit.formats import bio
from mrekit.predictor import Predictor
from mrekit.trainer import TrainingArguments

runner = CliRunner()
ARGS = TrainingArguments(epochs=6, batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0.0, seed=3)


@pytest.fixture(scope="module")
def model_dir(snips_mini, tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    MREModel(mode="shared", encoder=tiny_encoder).fit(snips_mini, snips_mini, args=ARGS, output_dir=out)
    return out / "model-best"


def run(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def test_predict_txt_to_a_file_with_plain_progress_on_stderr(model_dir, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("play muse\n\nbook a table for two\n")
    out = tmp_path / "pred.jsonl"
    result = run("predict", model_dir, texts, "-o", out, "--backend", "torch", "--batch-size", 1)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["text"]) for r in rows] == [("1", "play muse"), ("3", "book a table for two")]
    assert "predicted 2 texts in" in result.stderr  # not a terminal: plain lines
    assert "wrote 2 predictions" in result.stdout


def test_predict_reads_stdin_and_writes_stdout(model_dir):
    result = run("predict", model_dir, "-", input="play muse\n\nrain in paris\n")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["id"], r["text"]) for r in rows] == [("1", "play muse"), ("3", "rain in paris")]
    assert all(len(r["labels"]) == 1 and "label_scores" in r for r in rows)


def test_predictions_stream_chunk_by_chunk():
    consumed = []

    def texts():
        for n in range(100):
            consumed.append(n)
            yield Example(f"t{n}", id=str(n))

    class Echo(Predictor):
        def predict(self, texts, *, batch_size=64, consistency="report"):
            return [Example(t) for t in texts]

    stream = stream_predictions(Echo(), texts(), batch_size=2)
    first = next(stream)
    assert (first.id, first.text) == ("0", "t0") and len(consumed) == 16  # one chunk of 2 * 8, not all 100
    assert [ex.id for ex in stream][-1] == "99"


def test_backend_is_chosen_and_shown(model_dir, tmp_path):
    nlp = load_with_backend(model_dir, "torch")
    assert nlp.info()["backend"] == "torch"
    result = run("predict", model_dir, "-", "--backend", "onnx", input="play muse\n")
    assert result.exit_code == 1 and "[E181]" in result.output and "no onnx export" in result.output
    result = run("predict", model_dir, "-", "--backend", "cuda", input="play muse\n")
    assert result.exit_code == 1 and "[E183] field 'backend'" in result.output


def test_model_card_shows_the_backend(model_dir):
    pytest.importorskip("fastapi")
    from mrekit.server.app import model_info

    assert model_info(load_with_backend(model_dir, "torch"))["backend"] == "torch"
    assert model_info(object())["backend"] is None


def test_backend_other_than_auto_is_refused_for_a_generative_model(tmp_path):
    (tmp_path / "mrekit.json").write_text('{"engine": "generative"}')
    check_backend(tmp_path, "auto")
    with pytest.raises(MrekitError) as err:
        check_backend(tmp_path, "onnx-int8")
    assert err.value.code == "E175" and "generative model" in err.value.message


def test_evaluate_a_model_with_backend_calibration_and_errors(model_dir, fixtures, tmp_path):
    errors = tmp_path / "errors.jsonl"
    result = run(
        "evaluate", model_dir, fixtures / "bio_mini", "--backend", "torch", "--json", "--bootstrap", 0,
        "--errors", errors,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["backend"] == "torch" and report["n_examples"] == 12
    assert report["calibration"]["text"]["n"] == 12 and 0 <= report["calibration"]["text"]["ece"] <= 1
    # One confidence per predicted span (how many depends on the tiny model this process trained).
    predicted = mrekit.load(model_dir, backend="torch").predict([ex.text for ex in bio.read(fixtures / "bio_mini")])
    assert report["calibration"]["span"]["n"] == sum(len(p.spans or []) for p in predicted)
    assert sum(map(sum, report["confusion"]["matrix"])) == 12
    records = [json.loads(line) for line in errors.read_text().splitlines()]
    assert len(records) == report["n_errors"]
    wrong_frames = round((1 - report["frame_accuracy"]) * 12)
    assert len(records) == wrong_frames


def test_a_predict_killed_mid_stream_leaves_no_output(model_dir, tmp_path, monkeypatch):
    """Results are streamed into a temporary file: a crash after the first chunk leaves nothing at -o."""
    import mrekit.cli.predict as predict_module

    texts = tmp_path / "t.txt"
    texts.write_text("".join(f"play song {n}\n" for n in range(40)))
    original = predict_module.stream_predictions

    def dies_after_first(*args, **kwargs):
        for n, example in enumerate(original(*args, **kwargs)):
            if n == 20:
                raise KeyboardInterrupt
            yield example

    monkeypatch.setattr(predict_module, "stream_predictions", dies_after_first)
    out = tmp_path / "p.jsonl"
    with pytest.raises(KeyboardInterrupt):
        predict_module.predict(model_dir, texts, out, batch_size=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]
