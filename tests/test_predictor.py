"""The engine registry behind mrekit.load and mrekit train, and the predictor base class."""

from __future__ import annotations

import json

import pytest

import mrekit
from mrekit.errors import MrekitError
from mrekit.predictor import ENGINES, Predictor, get_engine, register
from mrekit.schema import Example, Span


class Upper(Predictor):
    """A third engine in a few lines: labels each text with its first word, upper-cased."""

    def __init__(self, folder) -> None:
        self.path_ = folder
        self.manifest_ = json.loads((folder / "mrekit.json").read_text())

    def predict(self, texts, *, batch_size=64):
        return [Example(t, labels=[t.split()[0].upper()], spans=[Span(0, len(t.split()[0]), "first")]) for t in texts]


@pytest.fixture
def upper_engine():
    register("upper", load=lambda folder, **options: Upper(folder), train_from_config=lambda *a, **k: {"epoch": 1})
    yield
    del ENGINES["upper"]


def test_a_third_engine_is_loaded_without_touching_load(tmp_path, upper_engine):
    (tmp_path / "mrekit.json").write_text(json.dumps({"engine": "upper"}))
    nlp = mrekit.load(tmp_path)
    assert isinstance(nlp, Upper)
    assert nlp("play muse").labels == ["PLAY"]
    assert [ex.labels for ex in nlp.pipe(["a b", "c d"], batch_size=1)] == [["A"], ["C"]]
    gold = [Example("play muse", labels=["PLAY"], spans=[Span(0, 4, "first")], id="1")]
    assert nlp.evaluate(gold)["frame_accuracy"] == 1.0
    assert nlp.info()["engine"] == "upper"


def test_a_training_output_folder_loads_its_model_best(tmp_path, upper_engine):
    (tmp_path / "model-best").mkdir()
    (tmp_path / "model-best" / "mrekit.json").write_text(json.dumps({"engine": "upper"}))
    assert mrekit.load(tmp_path).path_ == tmp_path / "model-best"


def test_an_unknown_engine_is_a_coded_error_listing_the_registered_ones(tmp_path):
    (tmp_path / "mrekit.json").write_text(json.dumps({"engine": "rules"}))
    with pytest.raises(MrekitError) as err:
        mrekit.load(tmp_path)
    assert err.value.code == "E181" and "encoder" in err.value.hint and "generative" in err.value.hint
    with pytest.raises(MrekitError) as err:
        get_engine("rules")
    assert err.value.code == "E183"


def test_builtin_engines_register_on_first_use():
    assert get_engine("encoder").name == "encoder"
    assert get_engine("generative").name == "generative"


def test_mrekit_error_is_a_value_error():
    with pytest.raises(ValueError):
        raise MrekitError("E104", "bad input")
