from __future__ import annotations

import json
import shutil

import pytest

import mrekit
from mrekit import MrekitError
from mrekit.encoder.model import MREModel
from mrekit.encoder.serialization import save_model
from mrekit.modelcard import UNKNOWN_ENCODER_LICENCE, current_command, encoder_licence, render_card, set_command
from mrekit.trainer import TrainingArguments

ARGS = TrainingArguments(epochs=2, batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0.0, seed=3)
TINY_T5 = {"vocab_size": 400, "d_model": 32, "d_ff": 64, "num_layers": 1, "num_heads": 2, "dropout": 0.0}


@pytest.fixture(scope="module")
def run(snips_mini, tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("card-run")
    model = MREModel(mode="mre", encoder=tiny_encoder).fit(snips_mini, snips_mini, args=ARGS, output_dir=out)
    return model, out / "model-best"


def test_trained_model_folder_has_a_hashed_card(run):
    model, folder = run
    card = (folder / "README.md").read_text()
    manifest = json.loads((folder / "mrekit.json").read_text())
    assert "README.md" in manifest["files"]
    assert manifest["licences"] == {"encoder": UNKNOWN_ENCODER_LICENCE, "data": manifest["licences"]["data"]}
    assert manifest["command"] is None
    assert card.startswith("# mrekit encoder model\n")
    for label in model.labels_:
        assert f"`{label}`" in card
    assert "`artist`" in card and "## Dev metrics (model selection)" in card and "| frame_accuracy |" in card
    assert "* chosen epoch: " in card and "learning_rate=0.003" in card
    assert f"encoder licence: {UNKNOWN_ENCODER_LICENCE}" in card and "## Intended use and limits" in card
    assert f"mrekit {mrekit.__version__}" in card


def test_test_metrics_command_and_data_licence(run, tmp_path):
    model, _ = run
    set_command(["mrekit", "train", "snips.toml"])
    try:
        metrics = {"frame_accuracy": 0.5, "text_accuracy": 0.75, "ci": {"frame_accuracy": [0.25, 0.75]}}
        folder = save_model(model.model_, model.tokenizer_, tmp_path / "m", metrics=metrics, data_licence="CC0-1.0")
    finally:
        set_command([])
    card = (folder / "README.md").read_text()
    assert "## Test metrics" in card and "| frame_accuracy | 0.5000 (95% CI 0.2500–0.7500) |" in card
    assert "| text_accuracy | 0.7500 |" in card
    assert "* command: `mrekit train snips.toml`" in card and "* data licence: CC0-1.0" in card
    assert current_command() is None
    # A model re-saved after loading keeps its encoder's licence (it is rebuilt from FOLDER/encoder).
    manifest = json.loads((folder / "mrekit.json").read_text())
    manifest_licence = manifest["licences"]["encoder"]
    assert encoder_licence(folder / "encoder") == manifest_licence


def test_an_edited_card_is_refused(run, tmp_path):
    _, folder = run
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / "README.md").write_text("# a better model\n")
    with pytest.raises(MrekitError) as err:
        mrekit.load(copy)
    assert err.value.code == "E188"


def test_licence_is_read_from_a_local_encoder_folder(tmp_path):
    (tmp_path / "README.md").write_text("---\nlanguage: en\nlicense: mit\n---\n# enc\n")
    assert encoder_licence(tmp_path) == "mit"
    (tmp_path / "README.md").unlink()
    (tmp_path / "config.json").write_text(json.dumps({"license": "cc-by-4.0"}))
    assert encoder_licence(tmp_path) == "cc-by-4.0"
    assert encoder_licence(None, bundled=True) == "Apache-2.0"


def test_card_without_training_summary_says_so():
    card = render_card({"engine": "generative"}, labels=[], span_types=["city"])
    assert "* text labels (0): none" in card and "* span types (1): `city`" in card
    assert "no training summary" in card and "none recorded (trained without dev data)" in card


def test_generative_model_folder_has_a_hashed_card(tmp_path):
    from mrekit.datasets import load_builtin
    from mrekit.generative import GenerativeModel

    model = GenerativeModel(scratch=TINY_T5).initialize(load_builtin("snips", "train")[:24])
    folder = model.save(tmp_path / "gen")
    manifest = json.loads((folder / "mrekit.json").read_text())
    card = (folder / "README.md").read_text()
    assert "README.md" in manifest["files"] and card.startswith("# mrekit generative model\n")
    assert "`PlayMusic`" in card and "`artist`" in card
    assert "encoder licence: none (trained from scratch)" in card
    (folder / "README.md").write_text("edited\n")
    with pytest.raises(MrekitError) as err:
        mrekit.load(folder)
    assert err.value.code == "E201"


def test_a_trained_models_card_names_its_data_sizes_and_hashes(snips_mini, tiny_encoder, tmp_path):
    """The trainer records the data it saw; the card shows it (issue 14)."""
    from mrekit.encoder.model import MREModel
    from mrekit.trainer import TrainingArguments
    from mrekit.trainer.checks import data_sha256

    args = TrainingArguments(epochs=1, batch_size=4, seed=0, threads=1)
    MREModel(encoder=tiny_encoder).fit(snips_mini, snips_mini[:4], args=args, output_dir=tmp_path)
    card = (tmp_path / "model-best" / "README.md").read_text(encoding="utf-8")
    assert f"* train data: {len(snips_mini)} examples, SHA-256 `{data_sha256(snips_mini)}`" in card
    assert f"* dev data: 4 examples, SHA-256 `{data_sha256(snips_mini[:4])}`" in card
