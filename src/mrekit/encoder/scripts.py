"""Writing systems and encoders: unsegmented scripts, unknown characters, and ``--encoder auto``.

Japanese, Chinese, Thai and a few other scripts write words without spaces. A
SentencePiece tokenizer (multilingual-e5-small's) then makes pieces such as ``に住んで``
that cross the word boundaries spans are annotated on, so those spans cannot be tagged
exactly. :func:`split_cjk_characters` adds a split after the tokenizer's own
pre-tokenizer (the saved tokenizer keeps it): ``runs`` cuts where the script changes
(kanji | hiragana | katakana | CJK punctuation: ``東京都|に|住|んで``), which is where most
Japanese word boundaries are, and keeps the pretrained pieces inside each run; ``chars``
makes every character of these scripts its own pre-token (every boundary reachable, at
the cost of the pretrained multi-character pieces and longer sequences). An English
vocabulary (MiniLM's) maps most kanji to ``[UNK]``: :func:`warn_unknown_characters` says
so (``W106``) and names the fix, and :func:`choose_encoder` picks the multilingual encoder
for such data (``--encoder auto``).

Example:
    >>> round(non_latin_share(["東京都に住む", "hello"]), 2)
    0.55
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from mrekit.errors import warn
from mrekit.formats._words import UNSEGMENTED
from mrekit.pretrained.catalog import list_encoders
from mrekit.schema import Example

logger = logging.getLogger(__name__)

#: Runs of one script (regex alternatives): ideographs with the iteration marks 々〆 and the
#: counters ヵヶ, hiragana, katakana (with ー and the half-width forms), and each CJK
#: punctuation mark alone. Other unsegmented scripts (Thai, ...) are one script each: ``runs``
#: leaves them whole, ``chars`` splits them.
SCRIPT_RUNS = (
    "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f\u3005\u3006\u30f5\u30f6]+"
    "|[\u3040-\u309f]+|[\u30a0-\u30f4\u30f7-\u30ff\u31f0-\u31ff\uff66-\uff9f]+|[\u3000-\u3004\u3007-\u303f]"
)
#: The ways :func:`split_cjk_characters` can split (``none``: not at all).
SPLITS = ("none", "runs", "chars")
#: What ``split_cjk="auto"`` means for a SentencePiece tokenizer (chosen on dev: bench/results/japanese.md).
AUTO_SPLIT = "runs"

#: The multilingual built-in encoder ``--encoder auto`` picks for non-Latin data.
MULTILINGUAL = "multilingual-e5-small"
#: Above this share of non-Latin letters, ``auto`` picks the multilingual encoder.
NON_LATIN_SHARE = 0.5
#: Above this share of characters mapped to the unknown token, ``W106`` is logged.
UNKNOWN_SHARE = 0.02
#: Texts looked at for the shares (the first ones; enough for a share to two digits).
SAMPLE = 2000


def non_latin_share(texts: Iterable[str]) -> float:
    """Share of the letters in ``texts`` that are not Latin (0 when there are none)."""
    letters = non_latin = 0
    for text in _sample(texts):
        for char in text:
            if unicodedata.category(char).startswith("L"):
                letters += 1
                non_latin += not unicodedata.name(char, "").startswith("LATIN")
    return non_latin / letters if letters else 0.0


def _sample(texts: Iterable[str]) -> list[str]:
    out = []
    for text in texts:
        out.append(text)
        if len(out) >= SAMPLE:
            break
    return out


def is_sentencepiece(tokenizer: Any) -> bool:
    """Whether a fast tokenizer pre-tokenizes with SentencePiece's ``▁`` (Metaspace)."""
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    return "Metaspace" in str(backend.pre_tokenizer.__getstate__()) if backend.pre_tokenizer else False


def resolve_split(setting: str, tokenizer: Any) -> str:
    """The split ``setting`` means for ``tokenizer``: ``auto`` is :data:`AUTO_SPLIT` for SentencePiece, else ``none``.

    BERT's own pre-tokenizer already splits CJK ideographs, so ``auto`` leaves it alone.
    """
    if setting == "auto":
        return AUTO_SPLIT if is_sentencepiece(tokenizer) else "none"
    return setting


def split_cjk_characters(tokenizer: Any, how: str = "chars") -> str:
    """Split unsegmented scripts after the existing pre-tokenizer: by script ``runs`` or into ``chars``.

    Idempotent: a tokenizer that already splits this way is left as it is. Returns ``how``.

    Example:
        >>> from tokenizers import Tokenizer, models, pre_tokenizers
        >>> tok = Tokenizer(models.WordLevel({"東京": 0, "に": 1, "[UNK]": 2}, unk_token="[UNK]"))
        >>> tok.pre_tokenizer = pre_tokenizers.Whitespace()
        >>> split_cjk_characters(tok, "runs")
        'runs'
        >>> tok.encode("東京に").tokens
        ['東京', 'に']
    """
    from tokenizers import Regex, pre_tokenizers

    if how not in SPLITS:
        raise ValueError(f"how must be one of {SPLITS}, not {how!r}")
    if how == "none":
        return how
    pattern = SCRIPT_RUNS if how == "runs" else f"[{UNSEGMENTED}]"
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    current = backend.pre_tokenizer
    if current is not None and pattern in repr(current):
        return how
    split = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    backend.pre_tokenizer = pre_tokenizers.Sequence([current, split]) if current is not None else split
    return how


def unknown_share(texts: Iterable[str], tokenizer: Any) -> float:
    """Share of the non-space characters of ``texts`` that the tokenizer maps to its unknown token."""
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is None:
        return 0.0
    sample = _sample(texts)
    if not sample:
        return 0.0
    enc = tokenizer(sample, return_offsets_mapping=True, add_special_tokens=False)
    covered = total = 0
    for text, ids, offsets in zip(sample, enc["input_ids"], enc["offset_mapping"], strict=True):
        total += sum(not c.isspace() for c in text)
        covered += sum(end - start for tid, (start, end) in zip(ids, offsets, strict=True) if tid == unk)
    return covered / total if total else 0.0


def warn_unknown_characters(train: Sequence[Example], tokenizer: Any, encoder: Any) -> float:
    """``W106`` when more than :data:`UNKNOWN_SHARE` of the training text maps to the unknown token.

    Returns the share (also when no warning is given).
    """
    share = unknown_share((ex.text for ex in train), tokenizer)
    if share > UNKNOWN_SHARE:
        name = encoder or "minilm"
        warn(
            logger,
            "W106",
            f"{share:.1%} of the training text's characters map to the encoder's unknown token "
            f"({getattr(tokenizer, 'unk_token', '[UNK]')}) with encoder {name}; "
            f"{non_latin_share(ex.text for ex in train):.0%} of its letters are not Latin. "
            f"Use a multilingual encoder: mrekit encoders build {MULTILINGUAL}, then --encoder {MULTILINGUAL} "
            "(or --encoder auto)",
        )
    return share


def choose_encoder(encoder: Any, train: Sequence[Example]) -> Any:
    """Resolve ``"auto"``: the multilingual encoder for mostly non-Latin data, else the default.

    Any other value is returned as it is. When the data calls for the multilingual encoder
    but it has not been built, the default is used and ``W107`` says how to build it.

    Example:
        >>> choose_encoder("my-folder", [])
        'my-folder'
        >>> choose_encoder("auto", [Example("play some music")]) is None
        True
    """
    if not (isinstance(encoder, str) and encoder == "auto"):
        return encoder
    share = non_latin_share(ex.text for ex in train)
    if share <= NON_LATIN_SHARE:
        logger.info("encoder auto: %.0f%% of the letters are non-Latin: the default minilm", 100 * share)
        return None
    built = {row["name"]: row["built"] for row in list_encoders()}
    if not built.get(MULTILINGUAL):
        warn(
            logger,
            "W107",
            f"encoder auto: {share:.0%} of the training letters are not Latin, but {MULTILINGUAL} is not built; "
            f"training with minilm. Build it first: pip install 'mrekit[multilingual]' && "
            f"mrekit encoders build {MULTILINGUAL}",
        )
        return None
    logger.info("encoder auto: %.0f%% of the letters are non-Latin: %s", 100 * share, MULTILINGUAL)
    return MULTILINGUAL
