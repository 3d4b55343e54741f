from __future__ import annotations

import os

import pytest

import mrekit
from mrekit.encoder.backbone import load_encoder
from mrekit.errors import MrekitError


def test_load_encoder_keeps_all_layers_by_default(tiny_encoder):
    model, _ = load_encoder(tiny_encoder)
    assert model.config.num_hidden_layers == 2
    assert len(model.encoder.layer) == 2


def test_encoder_layers_keeps_the_bottom_layers_with_their_weights(tiny_encoder):
    full, _ = load_encoder(tiny_encoder)
    student, _ = load_encoder(tiny_encoder, num_layers=1)
    assert student.config.num_hidden_layers == 1
    assert len(student.encoder.layer) == 1
    full_state = full.encoder.layer[0].state_dict()
    for name, tensor in student.encoder.layer[0].state_dict().items():
        assert tensor.equal(full_state[name]), name


@pytest.mark.parametrize("layers", [0, 3])
def test_encoder_layers_out_of_range_is_refused(tiny_encoder, layers):
    with pytest.raises(MrekitError) as err:
        load_encoder(tiny_encoder, num_layers=layers)
    assert err.value.code == "E183"
    assert "between 1 and 2" in str(err.value)


def test_a_model_hub_name_says_how_to_get_a_local_folder():
    with pytest.raises(MrekitError) as err:
        load_encoder("bert-base-uncased")
    assert err.value.code == "E100"
    assert err.value.path == "bert-base-uncased"
    assert err.value.message == (
        "no such local folder; an encoder is a local Hugging Face model folder, not a model hub name"
    )
    assert err.value.hint == (
        "mrekit never downloads a model; the built-in encoders are minilm, multilingual-e5-small "
        "(`mrekit encoders list`); for any other, on a machine with internet run once: "
        "python -c \"from transformers import AutoModel, AutoTokenizer; n = 'bert-base-uncased'; "
        "AutoModel.from_pretrained(n).save_pretrained('encoders/' + n); "
        "AutoTokenizer.from_pretrained(n).save_pretrained('encoders/' + n)\" "
        "then copy that folder here and pass --encoder encoders/bert-base-uncased"
    )


def test_loading_leaves_environment_and_transformers_logging_alone(tiny_encoder, monkeypatch, tmp_path, snips_mini):
    from transformers.utils import logging as hf_logging

    from mrekit.encoder.joint import JointConfig, JointModel
    from mrekit.encoder.serialization import save_model

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_info()
    try:
        encoder, tokenizer = load_encoder(tiny_encoder)
        folder = save_model(JointModel(JointConfig(["a"], ["x"]), encoder), tokenizer, tmp_path / "m")
        mrekit.load(folder).predict(["play muse"])
        assert "HF_HUB_OFFLINE" not in os.environ and "TRANSFORMERS_OFFLINE" not in os.environ
        assert hf_logging.get_verbosity() == hf_logging.INFO
        assert hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.set_verbosity(before)


def test_loading_never_opens_a_connection(tiny_encoder, monkeypatch):
    import socket

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)

    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    model, tokenizer = load_encoder(tiny_encoder)
    assert model.config.model_type == "bert" and tokenizer.is_fast
