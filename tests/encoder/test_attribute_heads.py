from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

import mrekit
from mrekit import MrekitError
from mrekit.encoder.attributes import (
    IGNORE,
    AttributeSpace,
    attribute_consistency,
    decode_values,
    grouped_loss,
    inconsistent_attrs,
    pool_spans,
    pool_token_range,
)
from mrekit.encoder.backbone import load_encoder, make_tiny_encoder
from mrekit.encoder.features import LabelSpace, collate, featurize
from mrekit.encoder.joint import JointConfig, JointModel
from mrekit.encoder.model import MREModel
from mrekit.formats import jsonl
from mrekit.metrics import evaluate
from mrekit.schema import Example, Span
from mrekit.trainer import TrainingArguments

ARGS = TrainingArguments(epochs=30, batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0.0, seed=3)


@pytest.fixture(scope="module")
def absa(fixtures_dir):
    return list(jsonl.read(fixtures_dir / "absa_polarity.jsonl"))


@pytest.fixture(scope="module")
def fixtures_dir():
    from pathlib import Path

    return Path(__file__).parents[1] / "fixtures"


@pytest.fixture(scope="module")
def absa_encoder(absa, tmp_path_factory):
    return make_tiny_encoder(tmp_path_factory.mktemp("absa-encoder"), [ex.text for ex in absa])


@pytest.fixture(scope="module")
def trained(absa, absa_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("absa-run")
    return MREModel(mode="mre", encoder=absa_encoder).fit(absa, absa, args=ARGS, output_dir=out)


# --- value spaces, pooling and decoding, by hand ------------------------------------------


def test_attribute_space_collects_span_and_label_attributes(absa):
    space = AttributeSpace.from_examples(absa)
    assert space.span_attrs == {"polarity": ["negative", "positive"]}
    assert space.label_attrs == {"polarity": ["negative", "positive"]}
    assert (space.span_width, space.label_width) == (2, 2)
    assert AttributeSpace.from_examples([Example("a", labels=["x"], spans=[])]).span_attrs == {}


def test_pool_token_range_is_the_mean_of_real_tokens():
    logits = np.arange(12, dtype=float).reshape(1, 4, 3)  # tokens 0..3, values 0..2
    real = np.array([[0, 1, 1, 0]], dtype=bool)
    pooled = pool_token_range(logits, real, [0, 0], [1, 1], [3, 4])
    # tokens 1 and 2: ([3, 4, 5] + [6, 7, 8]) / 2; the special token 3 does not count
    assert pooled.tolist() == [[4.5, 5.5, 6.5], [4.5, 5.5, 6.5]]


def test_pool_spans_matches_pool_token_range():
    logits = torch.randn(2, 5, 3)
    weights = torch.zeros(2, 1, 5)
    weights[0, 0, 1:3] = 1
    weights[1, 0, 4] = 1
    pooled = pool_spans(logits, weights)
    assert torch.allclose(pooled[0, 0], logits[0, 1:3].mean(0))
    assert torch.allclose(pooled[1, 0], logits[1, 4])


def test_decode_values_gives_probabilities_and_respects_allowed_values():
    attrs = {"polarity": ["negative", "neutral", "positive"]}
    chosen, scores = decode_values(np.array([0.0, 0.0, math.log(2.0)]), attrs)
    assert chosen == {"polarity": "positive"}
    assert scores == {"polarity": {"negative": 0.25, "neutral": 0.25, "positive": 0.5}}
    chosen, scores = decode_values(np.array([0.0, 0.0, math.log(2.0)]), attrs, {"polarity": {"neutral"}})
    assert chosen == {"polarity": "neutral"} and scores["polarity"]["positive"] == 0.5


def test_grouped_loss_ignores_missing_targets_and_averages_attributes():
    attrs = {"a": ["x", "y"], "b": ["p", "q", "r"]}
    logits = torch.tensor([[[1.0, 0.0, 0.0, 2.0, 0.0]], [[0.0, 1.0, 0.0, 0.0, 0.0]]])  # (2 spans, 1, 5)
    targets = torch.tensor([[[0, IGNORE]], [[1, 2]]])
    ce_a = -torch.log_softmax(torch.tensor([1.0, 0.0]), 0)[0]  # both rows: log-softmax picks the right value
    ce_b = -torch.log_softmax(torch.tensor([0.0, 0.0, 0.0]), 0)[2]
    assert grouped_loss(logits, targets, attrs).item() == pytest.approx(((ce_a + ce_a) / 2 + ce_b).item() / 2)
    assert grouped_loss(logits, torch.full_like(targets, IGNORE), attrs).item() == 0.0


def test_consistency_lists_values_per_span_type_and_flags_unseen_ones():
    train = [Example("ab", spans=[Span(0, 1, "aspect", attrs={"polarity": "positive"}), Span(1, 2, "other")])]
    seen = attribute_consistency(train)
    assert seen == {"aspect": {"polarity": ["positive"]}}
    spans = [Span(0, 1, "aspect", attrs={"polarity": "negative"}), Span(1, 2, "aspect", attrs={"polarity": "positive"})]
    assert inconsistent_attrs(spans, seen) == [0]


# --- targets and tensors -------------------------------------------------------------------


def test_featurize_targets_only_attributed_spans_and_labels(absa, absa_encoder):
    _, tokenizer = load_encoder(absa_encoder)
    space = LabelSpace.from_examples(absa)
    attrs = AttributeSpace.from_examples(absa)
    space = replace(space, span_attrs=attrs.span_attrs, label_attrs=attrs.label_attrs)
    partial = [
        absa[4],  # pizza negative, waiter positive; food negative, service positive
        Example("The soup was great.", labels=["food"], spans=[Span(4, 8, "aspect")]),  # no attributes anywhere
        Example("The staff was rude.", labels=["service"], label_attrs={"service": {"polarity": "odd"}}),
    ]
    features, _ = featurize(partial, tokenizer, space, 32)
    first, second, third = features
    pizza = first.offsets.index((4, 9))
    waiter = first.offsets.index((28, 34))
    assert first.attr_spans == [(pizza, pizza + 1, [0]), (waiter, waiter + 1, [1])]
    assert first.label_attr_ids == {space.text_labels.index("food"): [0], space.text_labels.index("service"): [1]}
    assert second.attr_spans is None and second.label_attr_ids is None
    assert third.label_attr_ids is None  # an unknown value adds no target (W103)
    batch = collate(features, space, 0)
    assert batch["attr_span_weights"].shape == (3, 2, batch["input_ids"].shape[1])
    assert batch["attr_span_weights"][0, 1, waiter].item() == 1.0 and batch["attr_span_weights"][1].sum() == 0
    assert batch["attr_span_ids"][:, :, 0].tolist() == [[0, 1], [IGNORE, IGNORE], [IGNORE, IGNORE]]
    assert batch["label_attr_ids"][0, space.text_labels.index("service"), 0].item() == 1
    assert (batch["label_attr_ids"][1:] == IGNORE).all()


def test_model_without_attributes_keeps_its_two_outputs(absa_encoder):
    encoder, _ = load_encoder(absa_encoder)
    model = JointModel(JointConfig(["a"], ["x"]), encoder)
    assert model.config.outputs == ("text_probs", "tag_scores")
    assert model.span_attr_head is None and model.label_attr_head is None
    assert not any("attr" in name for name in model.state_dict())


def test_attribute_loss_is_masked_when_a_batch_has_no_attributes(absa, absa_encoder):
    encoder, tokenizer = load_encoder(absa_encoder)
    attrs = AttributeSpace.from_examples(absa)
    config = JointConfig(
        ["food", "misc", "service"],
        ["aspect"],
        span_attrs=attrs.span_attrs,
        label_attrs=attrs.label_attrs,
        multi_label=True,
    )
    model = JointModel(config, encoder)
    space = LabelSpace(config.text_labels, config.span_labels, True, config.span_attrs, config.label_attrs)
    bare = [Example("The soup was great.", labels=["food"], spans=[Span(4, 8, "aspect")])]
    batch = collate(featurize(bare, tokenizer, space, 32)[0], space, 0)
    assert "attr_span_ids" not in batch
    assert model(batch)["attr_loss"].item() == 0.0
    full = collate(featurize(absa[:2], tokenizer, space, 32)[0], space, 0)
    assert model(full)["attr_loss"].item() > 0.0


# --- the trained model ---------------------------------------------------------------------


def test_predict_returns_span_and_label_attributes_with_scores(trained, absa):
    preds = trained.predict([ex.text for ex in absa])
    right = sum(
        p.spans == g.spans
        and [s.attrs for s in p.spans] == [s.attrs for s in g.spans]
        and p.label_attrs == g.label_attrs
        for p, g in zip(preds, absa, strict=True)
    )
    assert right >= 11  # learnt its 12 training sentences
    doc = preds[4]  # "The pizza was awful but the waiter was great."
    assert [(doc.surface(s), s.attrs) for s in doc.spans] == [
        ("pizza", {"polarity": "negative"}),
        ("waiter", {"polarity": "positive"}),
    ]
    scores = doc.spans[0].attr_scores["polarity"]
    assert set(scores) == {"negative", "positive"} and sum(scores.values()) == pytest.approx(1.0, abs=2e-4)
    assert scores["negative"] > 0.5
    assert doc.label_attrs == {"food": {"polarity": "negative"}, "service": {"polarity": "positive"}}
    assert set(doc.label_attr_scores) == set(doc.labels)
    line = json.loads(json.dumps(doc.to_dict()))
    assert line["spans"][1]["attrs"] == {"polarity": "positive"} and "attr_scores" in line["spans"][1]
    assert Example.from_dict(line).spans[0].attr_scores == doc.spans[0].attr_scores


def test_predict_attributes_keeps_gold_spans_and_labels(trained, absa):
    given = [
        Example("The pizza was awful but the waiter was great.", labels=["service"], spans=[Span(28, 34, "aspect")]),
        Example("The soup was cold.", spans=None),
    ]
    out = trained.predict_attributes(given)
    assert [(s.start, s.end, s.label) for s in out[0].spans] == [(28, 34, "aspect")]
    assert out[0].spans[0].attrs == {"polarity": "positive"}
    assert out[0].labels == ["service"] and out[0].label_attrs == {"service": {"polarity": "positive"}}
    assert out[1].spans is None and out[1].labels == [] and out[1].label_attrs == {}
    with pytest.raises(MrekitError) as err:
        trained.predict_attributes(["The soup was cold."])
    assert err.value.code == "E104"


def test_saved_model_predicts_the_same_attributes(trained, absa, tmp_path):
    texts = [ex.text for ex in absa]
    again = mrekit.load(trained.save(tmp_path / "m"))
    config = json.loads((tmp_path / "m" / "mrekit.json").read_text())["config"]
    assert config["span_attrs"] == {"polarity": ["negative", "positive"]}
    assert config["attr_consistency"] == {"aspect": {"polarity": ["negative", "positive"]}}
    a, b = trained.predict(texts), again.predict(texts)
    assert [[(s.key, s.attrs, s.attr_scores) for s in x.spans] for x in a] == [
        [(s.key, s.attrs, s.attr_scores) for s in y.spans] for y in b
    ]
    assert [x.label_attrs for x in a] == [y.label_attrs for y in b]


def test_onnx_export_includes_the_attribute_heads(trained, absa, tmp_path):
    pytest.importorskip("onnxruntime")
    folder = trained.save(tmp_path / "m")
    mrekit.load(folder, backend="torch").export()
    texts = [ex.text for ex in absa] + ["The soup"]
    a = mrekit.load(folder, backend="torch").predict(texts)
    onnx = mrekit.load(folder, backend="onnx")
    assert onnx.backend_.outputs == ["text_probs", "tag_scores", "span_attr_logits", "label_attr_logits"]
    b = onnx.predict(texts)
    assert [(x.labels, x.spans, x.label_attrs) for x in a] == [(y.labels, y.spans, y.label_attrs) for y in b]
    for x, y in zip(a, b, strict=True):
        assert [s.attrs for s in x.spans] == [s.attrs for s in y.spans]
        for s, t in zip(x.spans, y.spans, strict=True):
            assert s.attr_scores["polarity"] == pytest.approx(t.attr_scores["polarity"], abs=1e-3)


def test_unseen_attribute_values_are_reported_and_enforcement_forbids_them(trained, absa):
    model = trained.model_
    saved = model.config.attr_consistency
    model.config.attr_consistency = {"aspect": {"polarity": ["positive"]}}
    try:
        doc = trained.predict([absa[1].text])[0]  # "The waiter was rude." -> negative, never seen now
        assert doc.spans[0].attrs == {"polarity": "negative"} and doc.meta["inconsistent_attrs"] == [0]
        enforced = trained.predict([absa[1].text], consistency="enforce")[0]
        assert enforced.spans[0].attrs == {"polarity": "positive"}
        assert enforced.spans[0].attr_scores == doc.spans[0].attr_scores  # the model's own probabilities
        assert "inconsistent_attrs" not in enforced.meta
    finally:
        model.config.attr_consistency = saved


def test_partial_attributes_still_train_spans(absa, absa_encoder, tmp_path):
    mixed = [
        ex
        if i % 2
        else Example(ex.text, labels=list(ex.labels), spans=[Span(s.start, s.end, s.label) for s in ex.spans])
        for i, ex in enumerate(absa)
    ]
    args = replace(ARGS, epochs=2)
    model = MREModel(mode="shared", encoder=absa_encoder).fit(mixed, args=args, output_dir=tmp_path / "run")
    assert model.model_.config.span_attrs == {"polarity": ["negative", "positive"]}
    assert model.model_.config.label_attrs == {"polarity": ["negative", "positive"]}
    doc = model.predict(["The soup was cold."])[0]
    assert all(set(s.attrs) == {"polarity"} for s in doc.spans)


def test_evaluate_command_scores_attributes_end_to_end_and_on_gold(trained, fixtures_dir, tmp_path):
    from typer.testing import CliRunner

    from mrekit.cli import app

    folder = trained.save(tmp_path / "m")
    result = CliRunner().invoke(
        app, ["evaluate", str(folder), str(fixtures_dir / "absa_polarity.jsonl"), "--json", "--bootstrap", "50"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["span_attr_f1"] is not None and report["label_attr_f1"] is not None
    on_gold = report["on_gold"]
    assert set(on_gold) == {"span_attr_accuracy", "span_attr_macro_f1", "label_attr_accuracy", "ci"}
    assert 0.9 <= on_gold["span_attr_accuracy"] <= 1.0  # its own training sentences
    assert on_gold["ci"]["span_attr_accuracy"][0] <= on_gold["span_attr_accuracy"]
    printed = CliRunner().invoke(
        app, ["evaluate", str(folder), str(fixtures_dir / "absa_polarity.jsonl"), "--bootstrap", "0"]
    )
    assert "span attribute accuracy (gold spans)" in printed.output


def test_japanese_targets_get_polarity_at_exact_offsets(fixtures_dir, tmp_path):
    from mrekit.formats import chabsa

    examples = list(chabsa.read(fixtures_dir / "chabsa_mini"))
    encoder = make_tiny_encoder(tmp_path / "enc", [ex.text for ex in examples])
    model = MREModel(encoder=encoder).fit(examples, args=replace(ARGS, epochs=3), output_dir=tmp_path / "run")
    assert model.model_.config.span_attrs["polarity"] == sorted(
        {s.attrs["polarity"] for ex in examples for s in ex.spans or []}
    )
    given = model.predict_attributes(examples)
    for gold, pred in zip(examples, given, strict=True):
        assert [(s.start, s.end, s.label) for s in pred.spans or []] == [
            (s.start, s.end, s.label) for s in gold.spans or []
        ]
        assert all(s.attrs["polarity"] in model.model_.config.span_attrs["polarity"] for s in pred.spans or [])
    scores = evaluate(examples, given, bootstrap=0)
    assert scores["span_attr_accuracy"] is not None and scores["span_f1"] == 1.0
