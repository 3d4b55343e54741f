from __future__ import annotations

import pytest

from mrekit.generative.tokenizer import coverage_problems, decode, segment_encoder, train_tokenizer

CORPUS = [
    "play the new album by muse",
    "book a table at 10:30 pm for two",
    "レッドフォックス株式会社は、東京都千代田区に本社を置くITサービス企業である。",
    "松友美佐紀は、日本のバドミントン選手。",
]


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(CORPUS * 3, vocab_size=400)


@pytest.mark.parametrize(
    "text",
    [
        "play the new album by muse",
        "add sabrina salerno to the grime instrumentals playlist",
        "東京都に住む松友美佐紀",
        "龍が如く 🎵 ünïcödé, tab\there  two  spaces",  # characters never seen in training
    ],
)
def test_round_trip_without_unk(tok, text):
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids
    assert decode(tok, ids) == text
    assert coverage_problems(tok, [text]) == []


def test_special_tokens_and_no_automatic_specials(tok):
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    assert tok("muse")["input_ids"] == tok("muse", add_special_tokens=False)["input_ids"]


def test_entities_are_whole_token_runs(tok):
    # Whitespace, punctuation, digits and each CJK character are their own pre-tokens.
    text = "book a table at 10:30 pm in 東京都"
    offsets = tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    starts, ends = {s for s, _ in offsets}, {e for _, e in offsets}
    for entity in ("10:30 pm", "10", "30", "東京", "京都", "table"):
        start = text.index(entity)
        assert start in starts and start + len(entity) in ends, entity


def test_japanese_characters_are_separate_tokens(tok):
    enc = tok("東京都", add_special_tokens=False, return_offsets_mapping=True)
    assert [tuple(o) for o in enc["offset_mapping"]] == [(0, 1), (1, 2), (2, 3)]


def test_segment_encoder_matches_in_context_tokens(tok):
    encode = segment_encoder(tok)
    assert decode(tok, encode("PlayMusic") + encode("/NER/") + encode(":") + encode(";")) == "PlayMusic/NER/:;"
    assert len(encode(";")) == 1


def test_segment_encoder_turns_off_prefix_spaces():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    for pre, dec in (
        (pre_tokenizers.Metaspace(prepend_scheme="always"), decoders.Metaspace(prepend_scheme="always")),
        (pre_tokenizers.ByteLevel(add_prefix_space=True), decoders.ByteLevel()),
    ):
        backend = Tokenizer(models.BPE(unk_token="<unk>"))
        backend.pre_tokenizer, backend.decoder = pre, dec
        alphabet = pre_tokenizers.ByteLevel.alphabet() if isinstance(pre, pre_tokenizers.ByteLevel) else []
        backend.train_from_iterator(
            ["ner play muse / : ;"] * 5,
            trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>"], initial_alphabet=alphabet),
        )
        fast = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")
        plain = fast.convert_ids_to_tokens(fast("ner", add_special_tokens=False)["input_ids"])
        segment = fast.convert_ids_to_tokens(segment_encoder(fast)("ner"))
        assert plain[0][0] in "▁Ġ" and segment[0][0] not in "▁Ġ"
