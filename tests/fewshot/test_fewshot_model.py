from __future__ import annotations

import json

import pytest

import mrekit
from mrekit import MrekitError
from mrekit.fewshot import FewShotModel
from mrekit.fewshot.verbalizers import wli_verbalizer
from mrekit.predictor import BUILTIN_ENGINES, Predictor, get_engine


@pytest.fixture(scope="module")
def fitted(snips_mini, tiny_encoder, tmp_path_factory):
    model = FewShotModel.fit(snips_mini, verbalizer=wli_verbalizer(snips_mini), encoder=tiny_encoder, epochs=2)
    folder = model.save(tmp_path_factory.mktemp("fewshot") / "model")
    return model, folder


def test_predict_gives_one_label_and_every_label_score(fitted, snips_mini):
    model, _ = fitted
    results = model.predict([ex.text for ex in snips_mini[:3]])
    labels = sorted({label for ex in snips_mini for label in ex.labels})
    assert model.labels_ == labels
    for result in results:
        assert len(result.labels) == 1 and result.labels[0] in labels
        assert sorted(result.label_scores) == labels
        assert sum(result.label_scores.values()) == pytest.approx(1.0, abs=1e-5)
        assert result.label_scores[result.labels[0]] == max(result.label_scores.values())
        assert result.spans is None  # a few-shot model predicts no word level


def test_save_load_round_trip_through_mrekit_load(fitted, snips_mini):
    model, folder = fitted
    texts = [ex.text for ex in snips_mini]
    loaded = mrekit.load(folder)
    assert isinstance(loaded, FewShotModel) and isinstance(loaded, Predictor)
    before, after = model.predict(texts), loaded.predict(texts)
    assert [p.labels for p in after] == [p.labels for p in before]
    for a, b in zip(after, before, strict=True):
        assert a.label_scores == pytest.approx(b.label_scores, abs=1e-5)
    assert loaded(texts[0]).labels == before[0].labels
    assert loaded.info()["engine"] == "fewshot"


def test_folder_is_safetensors_only_and_hashed(fitted):
    _, folder = fitted
    manifest = json.loads((folder / "mrekit.json").read_text())
    assert manifest["engine"] == "fewshot" and manifest["format"] == "mrekit-fewshot-model"
    assert {"model.safetensors", "encoder/config.json", "README.md"} <= set(manifest["files"])
    assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pt"))
    assert BUILTIN_ENGINES["fewshot"] == "mrekit.fewshot" and get_engine("fewshot").name == "fewshot"


def test_tampered_card_or_settings_are_refused(fitted, tmp_path):
    import shutil

    _, folder = fitted
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / "README.md").write_text("# edited\n")
    with pytest.raises(MrekitError) as err:
        mrekit.load(copy)
    assert err.value.code == "E213"
    shutil.rmtree(copy)
    shutil.copytree(folder, copy)
    manifest = json.loads((copy / "mrekit.json").read_text())
    manifest["labels"] = list(reversed(manifest["labels"]))
    (copy / "mrekit.json").write_text(json.dumps(manifest))
    with pytest.raises(MrekitError) as err:
        mrekit.load(copy)
    assert err.value.code == "E213"


def test_foreign_folder_and_training_are_refused(fitted, tmp_path):
    from mrekit.fewshot.model import read_manifest, train_from_config

    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "mrekit.json").write_text(json.dumps({"engine": "encoder"}))
    with pytest.raises(MrekitError) as err:
        read_manifest(folder)
    assert err.value.code == "E212"
    with pytest.raises(MrekitError) as err:
        train_from_config({}, tmp_path / "run")
    assert err.value.code == "E214"


def test_serve_reports_the_labels(fitted):
    pytest.importorskip("fastapi")
    from mrekit.server.app import model_info

    model, _ = fitted
    info = model_info(model)
    assert info["text_labels"] == model.labels_ and info["span_labels"] == []
