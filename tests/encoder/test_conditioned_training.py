from __future__ import annotations

import json
import logging

import pytest

from mrekit import MrekitError
from mrekit.conditioning import conditioned_copies
from mrekit.encoder.backbone import make_tiny_encoder
from mrekit.encoder.model import MREModel
from mrekit.encoder.recipe import check_config
from mrekit.schema import Example, Span
from mrekit.trainer import TrainingArguments

ARGS = TrainingArguments(epochs=2, batch_size=8, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0.0, seed=0)


def frames() -> list[Example]:
    """Tiny intent + slot data: the slot type decides the intent."""
    out = []
    for i, (word, slot, intent) in enumerate(
        [("muse", "artist", "PlayMusic"), ("paris", "city", "GetWeather"), ("abba", "artist", "PlayMusic")] * 6
    ):
        verb = "play" if intent == "PlayMusic" else "weather in"
        text = f"{verb} {word} now {i}"
        start = len(verb) + 1
        out.append(Example(text, id=str(i), labels=[intent], spans=[Span(start, start + len(word), slot)]))
    return out


@pytest.fixture(scope="module")
def data() -> list[Example]:
    return frames()


@pytest.fixture(scope="module")
def encoder(tmp_path_factory, data):
    texts = [ex.text for ex in data] + [ex.text for ex in conditioned_copies(data, 1.0)]
    return make_tiny_encoder(tmp_path_factory.mktemp("cond-encoder"), texts)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"conditioned": 1.5}, "conditioned"),
        ({"conditioned": "half"}, "conditioned"),
        ({"conditioned": True}, "conditioned"),
        ({"conditioned": 0.5, "condition_content": "predicted"}, "condition_content"),
        ({"cascade": True}, "cascade"),
        ({"conditioned": 0.5, "cascade": "yes"}, "cascade"),
    ],
)
def test_bad_conditioning_settings_are_coded_errors(settings, field):
    with pytest.raises(MrekitError) as err:
        MREModel(**settings)
    assert err.value.code == "E183" and err.value.field == field


def test_a_config_reaches_the_conditioning_settings():
    _, model = check_config({"train": "x", "conditioned": 0.25, "condition_content": "neutral"})
    assert (model.conditioned, model.condition_content, model.cascade) == (0.25, "neutral", False)


def test_conditioned_training_adds_the_copies_and_records_the_setting(data, encoder, tmp_path, caplog):
    expected = conditioned_copies(data, 0.5, seed=ARGS.seed)
    to_word = sum(c.meta["conditioned"] == "text_to_word" for c in expected)
    with caplog.at_level(logging.INFO, logger="mrekit.encoder.conditioned"):
        MREModel(encoder=encoder, conditioned=0.5).fit(data, data[:6], args=ARGS, output_dir=tmp_path / "run")
    copies = f"{to_word} text→word and {len(expected) - to_word} word→text copies"
    assert f"{len(data)} plain texts + {copies}" in caplog.text
    manifest = json.loads((tmp_path / "run" / "model-best" / "mrekit.json").read_text())
    assert manifest["config"]["conditioned"] == 0.5 and manifest["config"]["cascade"] is False
    loaded = MREModel.load(tmp_path / "run")
    assert (loaded.conditioned, loaded.condition_content, loaded.cascade) == (0.5, "gold", False)
    [pred] = loaded.predict(["play muse now 0"])  # the test input is plain: one pass, no meta
    assert "cascade" not in pred.meta
    assert all(0 <= s.start < s.end <= len(pred.text) for s in pred.spans)


def test_cascade_cross_fits_then_predicts_twice(data, encoder, tmp_path, caplog, monkeypatch):
    with caplog.at_level(logging.INFO, logger="mrekit.encoder.conditioned"):
        model = MREModel(encoder=encoder, conditioned=1.0, cascade=True).fit(
            data, data[:6], args=ARGS, output_dir=tmp_path / "run"
        )
    assert "cascade: fold 1/2, 9 texts to train, 9 to predict" in caplog.text
    assert "cascade: fold 2/2" in caplog.text and "half predicted" in caplog.text
    assert not list(tmp_path.glob("run/fold*"))  # the fold models live in a temporary folder
    loaded = MREModel.load(tmp_path / "run")
    assert loaded.cascade is True

    import mrekit.encoder.model as module

    seen: list[list[str]] = []
    real = module.predict_examples

    def spy(model, tokenizer, texts, **kwargs):
        seen.append(list(texts))
        return real(model, tokenizer, texts, **kwargs)

    monkeypatch.setattr(module, "predict_examples", spy)
    [pred] = loaded.predict(["play muse now 0"])
    assert len(seen) == 2 and seen[0] == ["play muse now 0"] and len(seen[1]) == 2
    assert seen[1][0].startswith("play muse now 0 | ") and seen[1][1].endswith(" | play muse now 0")
    assert pred.text == "play muse now 0" and "first_labels" in pred.meta["cascade"]
    assert all(0 <= s.start < s.end <= len(pred.text) for s in pred.spans)
    assert pred.labels and pred.labels[0] in {"PlayMusic", "GetWeather"}
    del model
