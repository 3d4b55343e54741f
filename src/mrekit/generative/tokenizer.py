"""Tokenizers for generative models: trained from texts, and standalone segment encoding.

:func:`train_tokenizer` builds a byte-level BPE tokenizer with the ``tokenizers``
library. Byte level means every character of any input can be encoded without
``<unk>`` (a character never seen in training falls back to its UTF-8 bytes),
which the substring constraint needs: every substring of an input must be
producible. Pre-tokenization keeps token boundaries at every place an entity
usually starts or ends: whitespace runs, each punctuation or symbol character,
digit runs, letter runs and each CJK / Thai character are separate pre-tokens,
so a span that starts and ends at such a place is always a whole run of tokens.

:func:`segment_encoder` encodes the fixed parts of an output (labels, types,
``/NER/``, ``:``, ``;``) on their own, with any prefix-space insertion of the
tokenizer turned off, so that decoding their concatenation gives the output
string back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from mrekit.errors import MrekitError

logger = logging.getLogger(__name__)

#: Special tokens of a tokenizer trained by :func:`train_tokenizer`, ids 0, 1, 2.
PAD, EOS, UNK = "<pad>", "</s>", "<unk>"
_CHAR_SCRIPTS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
#: Pre-tokens: whitespace runs, single characters of scripts without spaces, digit runs, letter runs, any other char.
PRE_TOKEN_PATTERN = rf"\s+|[{_CHAR_SCRIPTS}]|\p{{N}}+|[\p{{L}}\p{{M}}&&[^{_CHAR_SCRIPTS}]]+|."


def train_tokenizer(texts: Iterable[str], *, vocab_size: int = 2000, min_frequency: int = 2) -> Any:
    """Train a byte-level BPE tokenizer on ``texts`` and wrap it for transformers.

    Args:
        texts: Training strings (inputs and rendered outputs, so labels and types get whole tokens).
        vocab_size: Size of the vocabulary, special tokens and the 256 byte symbols included.
        min_frequency: Pairs seen fewer times are not merged.

    Returns:
        A ``transformers`` fast tokenizer with ``<pad>`` (0), ``</s>`` (1) and ``<unk>`` (2);
        it adds no special tokens by itself.

    Example:
        >>> tok = train_tokenizer(["play muse", "東京都に住む"], vocab_size=300)
        >>> tok.decode(tok("play 龍 muse", add_special_tokens=False)["input_ids"])
        'play 龍 muse'
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRE_TOKEN_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[PAD, EOS, UNK],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=PAD, eos_token=EOS, unk_token=UNK, clean_up_tokenization_spaces=False
    )


def ensure_special_tokens(tokenizer: Any) -> Any:
    """Give a loaded tokenizer the end and padding tokens generation needs.

    A causal LM tokenizer often has no padding token: its end token pads
    (padding is masked, so which id it is does not matter).

    Example:
        >>> tok = ensure_special_tokens(train_tokenizer(["a b"], vocab_size=270))
        >>> tok.pad_token_id, tok.eos_token_id
        (0, 1)
    """

    if tokenizer.eos_token_id is None:
        raise MrekitError("E203", "the tokenizer has no end-of-sequence token", hint="set eos_token in its config")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    # Cleaning would change entity strings ("a , b" -> "a, b"), so never clean.
    tokenizer.clean_up_tokenization_spaces = False
    return tokenizer


def segment_encoder(tokenizer: Any) -> Callable[[str], list[int]]:
    """A function that encodes a string on its own, without special tokens or an added prefix space.

    Tokenizers of pretrained models often add a space before the first word
    (SentencePiece's ``▁``, byte-level ``add_prefix_space``); in the middle of
    an output string that space would be wrong, so a copy of the tokenizer with
    that feature turned off encodes the output's fixed segments.

    Example:
        >>> enc = segment_encoder(train_tokenizer(["/NER/ PlayMusic"], vocab_size=270))
        >>> len(enc(";")) == 1
        True
    """
    from tokenizers import Tokenizer

    data = json.loads(tokenizer.backend_tokenizer.to_str())
    _no_prefix_space(data)
    data["post_processor"] = None
    data["truncation"] = None
    data["padding"] = None
    copy = Tokenizer.from_str(json.dumps(data))
    cache: dict[str, list[int]] = {}

    def encode(segment: str) -> list[int]:
        if segment not in cache:
            cache[segment] = copy.encode(segment, add_special_tokens=False).ids
        return cache[segment]

    return encode


def _no_prefix_space(node: Any) -> None:
    # Walk the tokenizer's JSON: normalizer and pre-tokenizer components may nest in Sequences.
    if isinstance(node, list):
        for child in node:
            _no_prefix_space(child)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "ByteLevel" and "add_prefix_space" in node:
        node["add_prefix_space"] = False
    elif kind == "Metaspace":
        node["prepend_scheme"] = "never"
        node.pop("add_prefix_space", None)
    elif kind == "Prepend":
        node["prepend"] = ""
    for key in ("normalizer", "normalizers", "pre_tokenizer", "pretokenizers"):
        if key in node:
            _no_prefix_space(node[key])


def decode(tokenizer: Any, ids: Iterable[int]) -> str:
    """The string of generated ids, special tokens dropped, spaces never cleaned up.

    Example:
        >>> tok = train_tokenizer(["a , b"], vocab_size=270)
        >>> decode(tok, tok("a , b", add_special_tokens=False)["input_ids"] + [tok.eos_token_id])
        'a , b'
    """
    return tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)


def coverage_problems(tokenizer: Any, texts: Iterable[str], *, limit: int = 5) -> list[str]:
    """Texts (at most ``limit``) that the tokenizer cannot encode without ``<unk>`` or decode back.

    Example:
        >>> coverage_problems(train_tokenizer(["abc"], vocab_size=270), ["xyz 龍"])
        []
    """
    bad = []
    unk = tokenizer.unk_token_id
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if (unk is not None and unk in ids) or decode(tokenizer, ids).strip() != text.strip():
            bad.append(text)
            if len(bad) >= limit:
                break
    return bad
