"""Any local encoder: tiny random BERT, DistilBERT, ELECTRA, XLM-R, DeBERTa-v2 and ModernBERT folders
train, predict, save, load and export; architectures that cannot work are refused by name."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import transformers
from torch import nn

import mrekit
from mrekit.encoder.backbone import (
    check_architecture,
    check_hidden_states,
    encoder_from_config,
    load_encoder,
    make_tiny_tokenizer,
)
from mrekit.encoder.model import MREModel
from mrekit.errors import MrekitError
from mrekit.trainer import TrainingArguments

ARGS = TrainingArguments(epochs=1, batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0.0, seed=3)
SIZE = {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 128}


def _config(kind: str, tokenizer) -> transformers.PretrainedConfig:
    ids = {"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id}
    if kind == "bert":
        return transformers.BertConfig(num_hidden_layers=1, **SIZE, **ids)
    if kind == "distilbert":
        return transformers.DistilBertConfig(
            dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=128, **ids
        )
    if kind == "electra":
        return transformers.ElectraConfig(embedding_size=16, num_hidden_layers=1, **SIZE, **ids)
    if kind == "xlm-roberta":
        return transformers.XLMRobertaConfig(num_hidden_layers=1, **{**SIZE, "max_position_embeddings": 130}, **ids)
    if kind == "deberta-v2":
        return transformers.DebertaV2Config(
            num_hidden_layers=1,
            relative_attention=True,
            position_buckets=16,
            max_relative_positions=64,
            pos_att_type=["p2c", "c2p"],
            position_biased_input=False,
            type_vocab_size=0,
            **SIZE,
            **ids,
        )
    if kind == "modernbert":
        if not hasattr(transformers, "ModernBertConfig"):
            pytest.skip(f"transformers {transformers.__version__} has no ModernBERT")
        cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
        specials = {"cls_token_id": cls, "sep_token_id": sep, "bos_token_id": cls, "eos_token_id": sep}
        return transformers.ModernBertConfig(
            num_hidden_layers=2, global_attn_every_n_layers=2, local_attention=16, **SIZE, **ids, **specials
        )
    raise AssertionError(kind)


def _folder(kind: str, path, texts):
    """A tiny random encoder of architecture ``kind``: BERT's WordPiece or a RoBERTa-style byte BPE."""
    bpe = kind in ("xlm-roberta", "deberta-v2", "modernbert")
    tokenizer = make_tiny_tokenizer(path, texts, kind="bpe" if bpe else "wordpiece")
    torch.manual_seed(0)
    transformers.AutoModel.from_config(_config(kind, tokenizer)).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def texts(snips_mini, ja_examples):
    return [ex.text for ex in snips_mini + ja_examples]


ARCHITECTURES = ["bert", "distilbert", "electra", "xlm-roberta", "deberta-v2", "modernbert"]


@pytest.mark.parametrize("kind", ARCHITECTURES)
def test_encoder_architecture_trains_predicts_saves_loads_and_exports(kind, tmp_path, snips_mini, texts):
    encoder = _folder(kind, tmp_path / kind, texts)
    model = MREModel(encoder=encoder).fit(snips_mini, args=ARGS, output_dir=tmp_path / "run")
    assert model.model_.encoder.config.model_type == kind
    before = model.predict(texts)
    assert len(before) == len(texts) and all(len(ex.labels) == 1 for ex in before)
    model.save(tmp_path / "saved")
    loaded = mrekit.load(tmp_path / "saved", backend="torch")
    after = loaded.predict(texts)
    assert [(a.labels, a.spans, a.label_scores) for a in before] == [(b.labels, b.spans, b.label_scores) for b in after]
    pytest.importorskip("onnxruntime")
    loaded.export()
    onnx = mrekit.load(tmp_path / "saved", backend="onnx")
    assert onnx.backend_.name == "onnx"
    exported = onnx.predict(texts + ["play " * 40])  # lengths other than the export's example
    assert [(a.labels, a.spans) for a in after] == [(b.labels, b.spans) for b in exported[: len(texts)]]
    for a, b in zip(after, exported, strict=False):
        assert np.allclose(list(a.label_scores.values()), list(b.label_scores.values()), atol=1e-4)


@pytest.mark.parametrize("kind", ["distilbert", "modernbert"])
def test_encoder_layers_works_beyond_bert(kind, tmp_path, texts):
    encoder = _folder(kind, tmp_path / kind, texts)
    student, tokenizer = load_encoder(encoder, num_layers=1)
    assert student.config.num_hidden_layers == 1
    check_hidden_states(student, tokenizer)  # still encodes


def test_no_pooler_is_kept_so_saved_and_rebuilt_weights_match(tmp_path, texts):
    encoder = _folder("xlm-roberta", tmp_path / "xlmr", texts)
    model, _ = load_encoder(encoder)
    rebuilt = encoder_from_config(model.config)
    assert model.pooler is None and rebuilt.pooler is None
    assert set(model.state_dict()) == set(rebuilt.state_dict())


def test_encoder_decoder_is_refused_by_name(tmp_path, texts):
    folder = tmp_path / "t5"
    make_tiny_tokenizer(folder, texts)
    config = transformers.T5Config(vocab_size=400, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2)
    transformers.T5Model(config).save_pretrained(folder)
    with pytest.raises(MrekitError) as err:
        load_encoder(folder)
    assert err.value.code == "E191"
    assert err.value.message == "t5 (T5Model) is an encoder-decoder model, not an encoder"
    assert "DeBERTa-v2/v3" in err.value.hint


class _PooledOnly(nn.Module):
    """A model that gives one vector per text, no per-token states."""

    def __init__(self) -> None:
        super().__init__()
        self.config = transformers.BertConfig(hidden_size=4)
        self.config.model_type = "pooled"

    def forward(self, input_ids, attention_mask):
        return transformers.modeling_outputs.BaseModelOutputWithPooling(pooler_output=torch.zeros(1, 4))


def test_model_without_hidden_states_is_refused_by_name(tiny_encoder):
    _, tokenizer = load_encoder(tiny_encoder)
    with pytest.raises(MrekitError) as err:
        check_hidden_states(_PooledOnly(), tokenizer, "pooled-folder")
    assert err.value.code == "E191"
    assert err.value.message == "pooled gives no per-token hidden states of size 4 (last_hidden_state)"
    assert err.value.path == "pooled-folder"


def test_config_without_hidden_size_is_refused():
    config = transformers.PretrainedConfig()
    config.model_type = "oddity"
    with pytest.raises(MrekitError, match=r"\[E191\] oddity has no hidden_size"):
        check_architecture(config)


def test_causal_lm_is_a_warning(caplog):
    config = transformers.GPT2Config(n_embd=16, n_layer=1, n_head=2)
    with caplog.at_level(logging.WARNING, logger="mrekit.encoder"):
        check_architecture(config)
    assert [r.getMessage()[:40] for r in caplog.records] == ["[W120] gpt2 is a causal (decoder-only) l"]


def test_onnx_export_failure_names_the_architecture(tmp_path, tiny_encoder, snips_mini, monkeypatch):
    pytest.importorskip("onnxruntime")
    model = MREModel(encoder=tiny_encoder).fit(snips_mini, args=ARGS, output_dir=tmp_path / "run")

    def refuse(*args, **kwargs):
        raise RuntimeError("Unsupported: ONNX export of operator foo")

    monkeypatch.setattr(torch.onnx, "export", refuse)
    with pytest.raises(MrekitError) as err:
        model.export()
    assert err.value.code == "E192"
    assert err.value.message == (
        "the bert (BertModel) encoder cannot be exported to ONNX "
        "(RuntimeError: Unsupported: ONNX export of operator foo)"
    )
    assert not list(model.path_.glob("*.onnx"))
