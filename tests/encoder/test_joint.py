from __future__ import annotations

import pytest
import torch

from mrekit import Example, MrekitError, Span
from mrekit.encoder.backbone import MINILM_SHA256, default_encoder_path, load_encoder
from mrekit.encoder.features import LabelSpace, collate, featurize
from mrekit.encoder.joint import JointConfig, JointModel


def batch_for(examples, tokenizer, config):
    space = LabelSpace(config.text_labels, config.span_labels, config.multi_label)
    features, _ = featurize(examples, tokenizer, space, config.max_length)
    return collate(features, space, tokenizer.pad_token_id), features


@pytest.fixture
def parts(tiny_encoder):
    return load_encoder(tiny_encoder)


@pytest.mark.parametrize("mode", ["isolated", "shared", "mre"])
def test_forward_shapes_and_partial_labels(parts, mode):
    encoder, tokenizer = parts
    config = JointConfig(text_labels=["A", "B"], span_labels=["x"], mode=mode)
    model = JointModel(config, encoder)
    examples = [
        Example("play muse", labels=["A"], spans=[Span(5, 9, "x")]),
        Example("play the song", labels=["B"]),  # text level only
        Example("muse", spans=[Span(0, 4, "x")]),  # word level only
    ]
    batch, features = batch_for(examples, tokenizer, config)
    out = model(batch)
    assert out["text_logits"].shape == (3, 2)
    assert out["tag_logits"].shape == (3, batch["input_ids"].shape[1], 3)
    assert torch.isfinite(out["loss"])
    assert batch["label_mask"].tolist() == [True, True, False]
    assert (batch["tag_ids"][1] == -100).all()  # unannotated word level is ignored, not "all O"
    # play -> O; muse -> B-x on its first subword, I-x on the rest; specials ignored
    tags = features[0].tag_ids
    assert tags[0] == tags[-1] == -100 and tags[1] == 0 and tags[2] == 1 and set(tags[3:-1]) <= {2}
    assert (model.word_encoder is not None) == (mode == "isolated")


def test_text_only_and_word_only_batches_have_finite_loss(parts):
    encoder, tokenizer = parts
    config = JointConfig(text_labels=["A", "B"], span_labels=["x"], mode="mre", use_crf=True)
    model = JointModel(config, encoder)
    for examples in ([Example("play", labels=["A"])], [Example("muse", spans=[Span(0, 4, "x")])]):
        batch, _ = batch_for(examples, tokenizer, config)
        loss = model(batch)["loss"]
        assert torch.isfinite(loss) and loss.item() > 0
        loss.backward()


def test_multi_label_targets_are_multi_hot(parts):
    encoder, tokenizer = parts
    config = JointConfig(text_labels=["food", "price", "service"], span_labels=[], multi_label=True)
    batch, _ = batch_for([Example("cheap food", labels=["food", "price"], spans=[])], tokenizer, config)
    assert batch["label_ids"].tolist() == [[1.0, 1.0, 0.0]]
    assert torch.isfinite(JointModel(config, encoder)(batch)["loss"])


def test_config_validation():
    with pytest.raises(MrekitError, match=r"\[E183\] field 'mode': mode must be one of"):
        JointConfig(text_labels=[], span_labels=[], mode="joint")
    with pytest.raises(MrekitError, match="the mre mode needs both levels"):
        JointConfig(text_labels=["a"], span_labels=[], mode="mre", levels=["text"])


def test_default_encoder_hash_is_pinned(monkeypatch):
    assert default_encoder_path().joinpath("model.safetensors").exists()
    import mrekit.encoder.backbone as enc

    enc.default_encoder_path.cache_clear()
    monkeypatch.setattr(enc, "MINILM_SHA256", "0" * 64)
    try:
        with pytest.raises(MrekitError) as info:
            enc.default_encoder_path()
        assert info.value.code == "E180" and MINILM_SHA256 in info.value.message
    finally:
        enc.default_encoder_path.cache_clear()


def test_local_encoder_must_be_a_model_folder(tmp_path):
    with pytest.raises(MrekitError, match=r"\[E100\].*no config.json"):
        load_encoder(tmp_path)
