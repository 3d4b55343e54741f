from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

import mrekit
from mrekit import MrekitError
from mrekit.encoder.inference import _snap_to_words, span_characters
from mrekit.encoder.model import MREModel
from mrekit.trainer import TrainingArguments

ARGS = TrainingArguments(epochs=25, batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0.0, seed=3)


@pytest.fixture(scope="module")
def trained(snips_mini, tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    model = MREModel(mode="mre", encoder=tiny_encoder).fit(snips_mini, snips_mini, args=ARGS, output_dir=out)
    return model, out


def test_call_returns_labels_scores_and_char_spans(trained, snips_mini):
    model, _ = trained
    doc = model(snips_mini[0].text)
    assert doc.labels == ["AddToPlaylist"]
    assert set(doc.label_scores) == set(model.labels_)
    assert sum(doc.label_scores.values()) == pytest.approx(1.0, abs=1e-5)
    assert [(doc.surface(s), s.label) for s in doc.spans] == [
        ("sabrina salerno", "artist"),
        ("grime instrumentals", "playlist"),
    ]
    assert all(0 < s.score <= 1 for s in doc.spans)
    assert json.loads(json.dumps(doc.to_dict()))["spans"][0]["text"] == "sabrina salerno"


def test_pipe_streams_the_same_results(trained, snips_mini):
    model, _ = trained
    texts = [ex.text for ex in snips_mini]
    streamed = list(model.pipe(iter(texts), batch_size=2))
    batched = model.predict(texts)
    assert [(e.labels, e.spans) for e in streamed] == [(e.labels, e.spans) for e in batched]


def test_predict_proba_rows(trained, snips_mini):
    model, _ = trained
    probs = model.predict_proba([ex.text for ex in snips_mini[:3]])
    assert probs.shape == (3, len(model.labels_))
    assert model.labels_[probs[0].argmax()] == "AddToPlaylist"


def test_save_load_round_trip_and_training_folder(trained, snips_mini, tmp_path):
    model, out = trained
    texts = [ex.text for ex in snips_mini]
    saved = model.save(tmp_path / "m")
    assert sorted(p.name for p in saved.iterdir()) == [
        ".mrekit-output.json",  # what mrekit wrote: lets a later save(overwrite=True) replace it
        "README.md",  # the model card
        "encoder",
        "labels.json",
        "model.safetensors",
        "mrekit.json",
        "tokenizer",
    ]
    manifest = json.loads((saved / "mrekit.json").read_text())
    assert manifest["versions"]["mrekit"] == mrekit.__version__ and manifest["config"]["mode"] == "mre"
    for folder in (saved, out):  # a model folder, or the training output holding model-best/
        again = mrekit.load(folder)
        assert [(e.labels, e.spans) for e in again.predict(texts)] == [
            (e.labels, e.spans) for e in model.predict(texts)
        ]


def test_tampered_or_foreign_folders_are_refused(trained, tmp_path):
    model, _ = trained
    saved = model.save(tmp_path / "m")
    weights = saved / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(MrekitError, match=r"\[E182\]"):
        mrekit.load(saved)
    other = model.save(tmp_path / "v")
    manifest = json.loads((other / "mrekit.json").read_text())
    manifest["format_version"] = 99
    (other / "mrekit.json").write_text(json.dumps(manifest))
    with pytest.raises(MrekitError, match=r"\[E181\].*v99"):
        mrekit.load(other)
    with pytest.raises(MrekitError, match=r"\[E181\] .*not an mrekit model folder"):
        mrekit.load(tmp_path)
    with pytest.raises(MrekitError, match=r"\[E100\]"):
        mrekit.load(tmp_path / "nowhere")


def test_long_text_is_truncated_with_a_warning(trained, caplog):
    model, _ = trained
    text = "play " + "muse " * 300
    with caplog.at_level(logging.WARNING):
        doc = model.predict([text], long_texts="truncate")[0]
    assert doc.meta["truncated"] is True
    from mrekit.errors import describe_text

    assert f"[W105] {describe_text(text)} truncated to 128 subwords" in caplog.text
    assert "muse muse" not in caplog.text  # a log line never holds the user's text
    assert all(s.end <= len(text) for s in doc.spans)


def test_long_text_is_windowed_by_default(trained, caplog):
    model, _ = trained
    text = "play " + "muse " * 300
    with caplog.at_level(logging.WARNING):
        doc = model(text)
    assert "truncated" not in doc.meta and doc.meta["windows"] > 1 and "W105" not in caplog.text
    assert all(0 <= s.start < s.end <= len(text) for s in doc.spans)


def test_consistency_report_and_enforce(trained):
    model, _ = trained
    model.model_.config.consistency = {label: [] for label in model.labels_}  # no span label fits any text label
    try:
        reported = model("add sabrina salerno to the grime instrumentals playlist")
        enforced = model.predict([reported.text], consistency="enforce")[0]
    finally:
        model.model_.config.consistency = None
    assert reported.spans and reported.meta["inconsistent_spans"] == list(range(len(reported.spans)))
    assert enforced.spans == [] and "inconsistent_spans" not in enforced.meta


def test_a_predicted_span_never_starts_on_a_space_and_is_never_empty():
    # Token offsets (47, 50) "▁sri", (50, 50) lone "▁", (51, 56) "lanka": a span from the marker.
    text = "i want to book a restaurant in sri lanka"
    assert span_characters(text, 35, 35) is None
    assert span_characters(text, 35, 40) == (35, 40)
    assert span_characters("in sri lanka", 6, 12) == (7, 12)
    assert span_characters("in sri lanka ", 7, 13) == (7, 12)
    assert span_characters("東京都に住む", 0, 2) == (0, 2)


def test_snap_to_words_only_in_spaced_scripts():
    assert _snap_to_words("play muse now", 5, 7) == (5, 9)
    assert _snap_to_words("東京都に住む", 0, 2) == (0, 2)


def test_japanese_span_only_training_gives_valid_offsets(ja_examples, tiny_encoder, tmp_path):
    model = MREModel(mode="shared", encoder=tiny_encoder).fit(
        ja_examples,
        ja_examples,
        args=TrainingArguments(epochs=30, batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, seed=0),
        output_dir=tmp_path,
    )
    results = model.predict([ex.text for ex in ja_examples])
    assert all(r.labels == [] for r in results)  # no text level was annotated, none is predicted
    spans = [(r.surface(s), s.label) for r in results for s in r.spans]
    gold = {(ex.surface(s), s.label) for ex in ja_examples for s in ex.spans}
    assert spans and sum(pair in gold for pair in spans) / len(spans) > 0.5
    for r in results:
        for s in r.spans:
            assert 0 <= s.start < s.end <= len(r.text)


def test_encoder_layers_trains_a_smaller_model_that_saves_and_loads(snips_mini, tiny_encoder, tmp_path):
    args = TrainingArguments(epochs=1, batch_size=8, seed=0)
    model = MREModel(mode="mre", encoder=tiny_encoder, encoder_layers=1).fit(
        snips_mini, None, args=args, output_dir=tmp_path
    )
    assert len(model.model_.encoder.encoder.layer) == 1
    loaded = mrekit.load(tmp_path, backend="torch")
    assert loaded.model_.encoder.config.num_hidden_layers == 1
    texts = [ex.text for ex in snips_mini[:5]]
    assert [r.to_dict() for r in loaded.predict(texts)] == [r.to_dict() for r in model.predict(texts)]


def test_word_only_model_of_multi_label_data_trains_and_predicts_no_labels(tiny_encoder, tmp_path):
    from mrekit.formats import semeval

    examples = list(semeval.read(Path(__file__).parents[1] / "fixtures" / "absa_mini.xml"))
    assert any(len(ex.labels) > 1 for ex in examples)  # multi-label text level
    args = TrainingArguments(epochs=1, batch_size=4, seed=0)
    model = MREModel(mode="isolated", encoder=tiny_encoder, levels=["word"]).fit(
        examples, examples, args=args, output_dir=tmp_path
    )
    assert not model.model_.has_text and model.model_.config.thresholds is None
    results = model.predict([ex.text for ex in examples])
    assert [r.labels for r in results] == [[] for _ in examples]


# --- arguments of predict and pipe are checked (issue 12 item 15) ----------------------------------------------


def _error(call, *args, **kwargs) -> MrekitError:
    with pytest.raises(MrekitError) as err:
        call(*args, **kwargs)
    return err.value


def test_a_lone_string_is_not_read_as_one_text_per_character(trained):
    model, _ = trained
    for call in (model.predict, model.pipe, model.predict_proba):
        err = _error(call, "play muse")
        assert (err.code, err.field) == ("E104", "texts") and "got one str" in err.message
    err = _error(model.predict, ["play muse", 3])
    assert (err.code, err.field) == ("E104", "texts[1]")
    assert _error(model, ["play muse"]).code == "E104"
    assert len(model.predict(("play muse", "book a table"))) == 2  # any sequence of texts is fine


def test_batch_size_and_consistency_are_checked(trained):
    model, _ = trained
    for bad in (0, -1, "2", 1.5, True):
        for call in (model.predict, model.pipe):
            err = _error(call, ["play muse"], batch_size=bad)  # pipe refuses at once, not on the first next()
            assert (err.code, err.field) == ("E183", "batch_size")
    err = _error(model.predict, ["play muse"], consistency="strict")
    assert (err.code, err.field) == ("E183", "consistency")
    assert "one of report, enforce, off" in err.message


def test_generative_predictor_checks_its_inputs_the_same_way():
    from mrekit.generative.engine import GenerativeModel

    model = GenerativeModel()  # not even fitted: the arguments are refused first
    assert _error(model.predict, "play muse").code == "E104"
    assert _error(model.pipe, "play muse").code == "E104"
    assert _error(model.predict, ["play muse"], batch_size=0).field == "batch_size"
    assert _error(model.pipe, ["play muse"], batch_size=-2).field == "batch_size"
    assert _error(model.predict, ["play muse"], consistency="nope").field == "consistency"


def test_save_refuses_an_existing_folder_unless_overwrite(trained, tmp_path):
    model, _ = trained
    saved = model.save(tmp_path / "m")
    weights = (saved / "model.safetensors").read_bytes()
    err = _error(model.save, tmp_path / "m")
    assert err.code == "E170"
    assert (saved / "model.safetensors").read_bytes() == weights
    assert model.save(tmp_path / "m", overwrite=True) == saved
    assert mrekit.load(saved).predict(["play muse"])[0].labels


# --- issue 13: tuned multi-label thresholds reach the saved folder -----------------------------------------------


def test_multi_label_thresholds_are_saved_in_model_best_and_its_onnx_export(tiny_encoder, tmp_path):
    pytest.importorskip("onnxruntime")
    from mrekit.formats import semeval

    examples = list(semeval.read(Path(__file__).parents[1] / "fixtures" / "absa_mini.xml"))
    args = TrainingArguments(epochs=3, batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, seed=0)
    model = MREModel(mode="mre", encoder=tiny_encoder).fit(examples, examples, args=args, output_dir=tmp_path / "run")
    tuned = model.model_.config.thresholds
    assert tuned is not None and len(tuned) == len(model.labels_)
    folder = tmp_path / "run" / "model-best"
    manifest = json.loads((folder / "mrekit.json").read_text())
    assert manifest["config"]["thresholds"] == tuned
    texts = [ex.text for ex in examples]
    expected = [r.labels for r in model.predict(texts)]
    loaded = mrekit.load(folder, backend="torch")
    assert loaded.model_.config.thresholds == tuned
    assert [r.labels for r in loaded.predict(texts)] == expected
    loaded.export()
    onnx = mrekit.load(folder, backend="onnx")
    assert [r.labels for r in onnx.predict(texts)] == expected


def test_two_subword_spans_of_one_word_come_back_as_one_span(trained):
    from mrekit.encoder.features import featurize_texts
    from mrekit.encoder.inference import predict_examples
    from mrekit.encoder.onnx import TorchBackend

    model, _ = trained
    module, tok = model._fitted(), model.tokenizer_
    text = "play unbelievably"
    offsets = featurize_texts([text], tok, 64)[0].offsets
    # Two tokens of the word "unbelievably" (5-17), one right after the other.
    first = next(i for i, (a, b) in enumerate(offsets) if a == 5 and b < 17)
    assert offsets[first + 1][0] == offsets[first][1]
    tags = module.config.tags
    sure, unsure = [t for t in tags if t.startswith("B-")][:2]

    class Crafted(TorchBackend):
        def scores(self, batch):
            arrays = list(super().scores(batch))
            at = module.config.outputs.index("tag_scores")
            scores = np.full_like(arrays[at], -10.0)
            scores[..., tags.index("O")] = 10.0
            scores[0, first, :] = -10.0
            scores[0, first, tags.index(sure)] = 10.0
            scores[0, first + 1, :] = -10.0
            scores[0, first + 1, tags.index(unsure)] = 3.0
            arrays[at] = scores
            return tuple(arrays)

    [example] = predict_examples(module, tok, [text], backend=Crafted(module))
    # Both subword spans snap to the whole word: one span, the surer label.
    assert [(s.start, s.end, s.label) for s in example.spans] == [(5, 17, sure[2:])]
