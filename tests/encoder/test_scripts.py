"""Unsegmented scripts: the lone ``▁``, splitting CJK characters, ``W106`` and ``--encoder auto``."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from safetensors.torch import load_file

from mrekit.alignment import decode_tags, encode_example, token_offsets
from mrekit.encoder import scripts
from mrekit.encoder.backbone import make_tiny_encoder, make_tiny_tokenizer
from mrekit.encoder.model import MREModel
from mrekit.encoder.scripts import (
    MULTILINGUAL,
    choose_encoder,
    is_sentencepiece,
    non_latin_share,
    resolve_split,
    split_cjk_characters,
    unknown_share,
)
from mrekit.schema import Example, Span
from mrekit.trainer import TrainingArguments

JA = "東京都に住んでいます"
TEXTS = [JA, "play the music", "京都に行く"]


@pytest.fixture
def sp_tokenizer(tmp_path):
    return make_tiny_tokenizer(tmp_path / "sp", TEXTS, kind="sentencepiece")


def test_the_tiny_sentencepiece_tokenizer_crosses_word_boundaries_like_e5(sp_tokenizer):
    enc = sp_tokenizer(JA, return_offsets_mapping=True)
    assert sp_tokenizer.convert_ids_to_tokens(enc["input_ids"]) == ["<s>", "▁", "東京", "都に住ん", "でいます", "</s>"]
    # The tokenizer's own offsets let the lone marker overlap the first character.
    assert enc["offset_mapping"][1] == (0, 1)


def test_a_lone_metaspace_gets_an_empty_offset_and_is_never_part_of_a_span(sp_tokenizer):
    offsets = token_offsets(sp_tokenizer, JA)
    assert offsets.offsets == [(0, 0), (0, 0), (0, 2), (2, 6), (6, 10), (0, 0)]
    enc = encode_example(sp_tokenizer, Example(JA, spans=[Span(0, 2, "LOC")]))
    # Before the fix the span started on the marker: B on "▁", I on "東京".
    assert enc.tags == ["O", "O", "B-LOC", "O", "O", "O"]
    assert enc.issues == []
    # A tag on the marker alone never decodes to an empty span.
    assert decode_tags(offsets, ["O", "B-LOC", "O", "O", "O", "O"]) == []
    assert decode_tags(offsets, ["O", "B-LOC", "I-LOC", "O", "O", "O"]) == [Span(0, 2, "LOC")]


def test_sentencepiece_offsets_leave_out_the_space_before_a_word(sp_tokenizer):
    text = "play the music"
    raw = sp_tokenizer(text, return_offsets_mapping=True)
    pieces = sp_tokenizer.convert_ids_to_tokens(raw["input_ids"])
    the = pieces.index("▁the")
    # The tokenizer's own offset of "▁the" takes in the space before it (4, not 5).
    assert raw["offset_mapping"][the] == (4, 8)
    offsets = token_offsets(sp_tokenizer, text)
    assert offsets.offsets[the] == (5, 8)
    # So an English span aligns exactly and decodes back to its own offsets, not " the music".
    enc = encode_example(sp_tokenizer, Example(text, spans=[Span(5, 14, "ITEM")]))
    assert enc.issues == []
    assert decode_tags(offsets, enc.tags) == [Span(5, 14, "ITEM")]
    from mrekit.encoder.features import featurize_texts

    assert featurize_texts([text], sp_tokenizer, 32)[0].offsets == offsets.offsets


def test_the_batched_featurizer_clears_the_marker_too(sp_tokenizer):
    from mrekit.encoder.features import featurize_texts

    assert featurize_texts([JA], sp_tokenizer, 32)[0].offsets == [(0, 0), (0, 0), (0, 2), (2, 6), (6, 10), (0, 0)]


def test_splitting_cjk_makes_every_character_a_token_boundary(sp_tokenizer):
    span = Span(0, 3, "LOC")  # 東京都: a boundary inside the piece 都に住ん
    assert encode_example(sp_tokenizer, Example(JA, spans=[span]), mode="strict").issues[0].reason == "misaligned"
    assert is_sentencepiece(sp_tokenizer)
    assert split_cjk_characters(sp_tokenizer, "chars") == "chars"
    split_cjk_characters(sp_tokenizer, "chars")  # idempotent
    assert repr(sp_tokenizer.backend_tokenizer.pre_tokenizer).count("Split(") == 1
    enc = encode_example(sp_tokenizer, Example(JA + " play", spans=[span]), mode="strict")
    assert enc.issues == []
    assert enc.offsets.tokens[2:5] == ["東", "京", "都"]
    assert enc.tags[2:5] == ["B-LOC", "I-LOC", "I-LOC"]
    assert enc.offsets.tokens[-2] == "▁play"  # Latin words keep their pieces


def test_splitting_by_script_runs_keeps_pieces_inside_a_run(sp_tokenizer):
    # 東京都|に|住|んでいます: the cut falls where kanji meets kana; 東京都 stays one piece
    # (without the split the tokenizer makes 東京 + 都に住ん, see above).
    split_cjk_characters(sp_tokenizer, "runs")
    text = "東京都に住んでいますガンダム。"
    enc = encode_example(sp_tokenizer, Example(text, spans=[Span(0, 3, "LOC"), Span(10, 14, "PRODUCT")]), mode="strict")
    assert enc.issues == []
    pieces = [t for t, real in zip(enc.offsets.tokens, enc.offsets.real, strict=True) if real]
    assert pieces[:4] == ["▁", "東京都", "に", "住"]
    assert enc.tags[2:4] == ["B-LOC", "O"]
    surfaces = [text[a:b] for (a, b), real in zip(enc.offsets.offsets, enc.offsets.real, strict=True) if real and b > a]
    assert "".join(surfaces) == text
    assert "に" in surfaces and "。" in surfaces  # the particle and the full stop are runs of their own


def test_auto_split_is_runs_for_sentencepiece_and_none_for_bert(sp_tokenizer, tmp_path):
    assert resolve_split("auto", sp_tokenizer) == "runs"
    assert resolve_split("auto", make_tiny_tokenizer(tmp_path, TEXTS)) == "none"
    assert resolve_split("chars", sp_tokenizer) == "chars"
    assert split_cjk_characters(sp_tokenizer, "none") == "none"
    assert "Split(" not in repr(sp_tokenizer.backend_tokenizer.pre_tokenizer)


def test_bert_style_tokenizers_are_not_sentencepiece(tmp_path):
    assert not is_sentencepiece(make_tiny_tokenizer(tmp_path, TEXTS))


def test_shares_of_non_latin_letters_and_unknown_characters(tmp_path):
    assert non_latin_share(["abc"]) == 0.0
    assert non_latin_share(["東京", "ab"]) == 0.5
    assert non_latin_share(["123 !!"]) == 0.0
    english = make_tiny_tokenizer(tmp_path, ["play the music", "add a song"])
    # 東京都 are unknown (3 of the 6 non-space characters); "add" is known.
    assert unknown_share(["東京都 add"], english) == pytest.approx(3 / 6)
    assert unknown_share(["play music"], english) == 0.0


def test_training_on_text_the_encoder_cannot_read_warns_w106(tmp_path, caplog):
    encoder = make_tiny_encoder(tmp_path / "en", ["play the music", "add a song to my list"], hidden=16, layers=1)
    train = [Example("東京都に住む", labels=["a"]), Example("京都に行く", labels=["b"])]
    with caplog.at_level(logging.WARNING):
        MREModel(encoder=str(encoder), levels=["text"], mode="isolated").fit(
            train, args=TrainingArguments(epochs=1, batch_size=2), output_dir=tmp_path / "run"
        )
    assert "[W106] 100.0% of the training text's characters map to the encoder's unknown token ([UNK])" in caplog.text
    assert f"--encoder {MULTILINGUAL}" in caplog.text


def test_encoder_auto(monkeypatch, caplog):
    japanese = [Example("東京都に住む"), Example("京都に行く")]
    english = [Example("play the music")]
    rows = [{"name": MULTILINGUAL, "built": False}]
    monkeypatch.setattr(scripts, "list_encoders", lambda: rows)
    assert choose_encoder("auto", english) is None
    with caplog.at_level(logging.WARNING):
        assert choose_encoder("auto", japanese) is None
    assert "[W107]" in caplog.text and f"mrekit encoders build {MULTILINGUAL}" in caplog.text
    rows[0]["built"] = True
    assert choose_encoder("auto", japanese) == MULTILINGUAL
    assert choose_encoder("some/folder", japanese) == "some/folder"


def test_split_and_frozen_embeddings_are_trained_saved_and_reloaded(tmp_path):
    encoder = make_tiny_encoder(tmp_path / "sp", TEXTS, hidden=16, layers=1, tokenizer="sentencepiece")
    before = load_file(encoder / "model.safetensors")["embeddings.word_embeddings.weight"]
    train = [Example(JA, spans=[Span(0, 3, "LOC")]), Example("京都に行く", spans=[Span(0, 2, "LOC")])]
    model = MREModel(
        encoder=str(encoder), levels=["word"], mode="isolated", freeze_embeddings=True, split_cjk="chars"
    ).fit(train, args=TrainingArguments(epochs=2, batch_size=2, learning_rate=1e-2), output_dir=tmp_path / "run")
    assert model.model_.config.split_cjk == "chars"
    assert model.model_.config.freeze_embeddings is True
    after = model.model_.encoder.get_input_embeddings().weight.detach()
    # the frozen matrix is the pretrained one, stored in fp16 in the folder and read back as fp32
    assert after.dtype == torch.float32 and torch.equal(after, before.half().float())
    stored = load_file(tmp_path / "run" / "model-best" / "model.safetensors")
    assert stored["encoder.embeddings.word_embeddings.weight"].dtype == torch.float16
    assert stored["encoder.encoder.layer.0.attention.self.query.weight"].dtype == torch.float32
    manifest = json.loads((tmp_path / "run" / "model-best" / "mrekit.json").read_text())
    assert manifest["fp16_tensors"] == ["encoder.embeddings.word_embeddings.weight"]
    layer = "encoder.layer.0.attention.self.query.weight"  # the rest of the encoder did train
    trained = dict(model.model_.encoder.named_parameters())[layer].detach()
    assert not torch.equal(trained, load_file(encoder / "model.safetensors")[layer])
    loaded = MREModel.load(tmp_path / "run")
    assert loaded.split_cjk == "chars" and loaded.freeze_embeddings is True
    tokens = loaded.tokenizer_(JA)["input_ids"]
    assert loaded.tokenizer_.convert_ids_to_tokens(tokens)[2:5] == ["東", "京", "都"]
    for span in loaded.predict([JA])[0].spans:
        assert 0 <= span.start < span.end <= len(JA)


def test_split_cjk_none_keeps_the_tokenizer_and_auto_records_runs(tmp_path):
    encoder = make_tiny_encoder(tmp_path / "sp", TEXTS, hidden=16, layers=1, tokenizer="sentencepiece")
    auto = MREModel(encoder=str(encoder), levels=["word"], mode="isolated").fit(
        [Example(JA, spans=[Span(0, 2, "LOC")])],
        args=TrainingArguments(epochs=1, batch_size=1),
        output_dir=tmp_path / "a",
    )
    assert auto.model_.config.split_cjk == "runs"
    model = MREModel(encoder=str(encoder), levels=["word"], mode="isolated", split_cjk="none").fit(
        [Example(JA, spans=[Span(0, 2, "LOC")])],
        args=TrainingArguments(epochs=1, batch_size=1),
        output_dir=tmp_path / "r",
    )
    assert model.model_.config.split_cjk == "none"
    assert "Split(" not in repr(model.tokenizer_.backend_tokenizer.pre_tokenizer)


@pytest.mark.parametrize("value", ["yes", 1, None, True])
def test_bad_settings_are_refused(value):
    from mrekit.errors import MrekitError

    with pytest.raises(MrekitError) as err:
        MREModel(split_cjk=value)
    assert err.value.code == "E183"
    if value is not True:
        with pytest.raises(MrekitError):
            MREModel(freeze_embeddings=value)


def test_freeze_embeddings_auto_freezes_large_vocabularies_only(tmp_path, monkeypatch):
    from mrekit.encoder import model as model_module

    encoder = make_tiny_encoder(tmp_path / "sp", TEXTS, hidden=16, layers=1, tokenizer="sentencepiece")
    train = [Example(JA, spans=[Span(0, 2, "LOC")])]
    args = TrainingArguments(epochs=1, batch_size=1, learning_rate=1e-2)
    small = MREModel(encoder=str(encoder), levels=["word"], mode="isolated").fit(
        train, args=args, output_dir=tmp_path / "a"
    )
    assert small.model_.config.freeze_embeddings is False  # a few dozen pieces: trained
    monkeypatch.setattr(model_module, "FREEZE_ABOVE_VOCABULARY", 10)
    large = MREModel(encoder=str(encoder), levels=["word"], mode="isolated").fit(
        train, args=args, output_dir=tmp_path / "b"
    )
    assert large.model_.config.freeze_embeddings is True
    before = load_file(encoder / "model.safetensors")["embeddings.word_embeddings.weight"]
    # untrained, and stored in fp16 in the folder (read back as fp32)
    assert torch.equal(large.model_.encoder.get_input_embeddings().weight.detach(), before.half().float())


def test_a_folder_written_with_the_old_boolean_split_setting_still_loads():
    from mrekit.encoder.joint import JointConfig

    assert JointConfig([], ["LOC"], mode="isolated", levels=["word"], split_cjk=False).split_cjk == "none"
    assert JointConfig([], ["LOC"], mode="isolated", levels=["word"], split_cjk=True).split_cjk == "chars"


def test_one_definition_of_unsegmented_scripts_for_writers_and_pre_split():
    import re

    from mrekit.encoder.scripts import SCRIPT_RUNS
    from mrekit.formats._words import UNSEGMENTED, uses_spaces

    assert not uses_spaces("สวัสดีครับ") and not uses_spaces("ខ្ញុំ") and not uses_spaces("東京")
    assert not uses_spaces("ＡＢＣ")  # full-width forms come with Japanese text
    assert uses_spaces("play muse") and uses_spaces("Ελληνικά κείμενα")
    # Everything the runs pre-split cuts out is a script without spaces, down to Extension G.
    for char in ("東", "あ", "ア", "ｱ", "。", "々", "\U00030000"):
        assert re.fullmatch(SCRIPT_RUNS, char) and re.fullmatch(f"[{UNSEGMENTED}]", char)
        assert not uses_spaces(char)
