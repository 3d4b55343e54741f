"""Hugging Face models for the generative engine: from scratch, from a local folder, with LoRA.

* :func:`scratch_model` builds a small T5 (encoder-decoder) from a
  :class:`ScratchConfig` and a tokenizer trained on the data; nothing is downloaded.
* :func:`load_pretrained` loads any local seq2seq or causal LM folder with
  safetensors weights (``AutoModelForSeq2SeqLM`` / ``AutoModelForCausalLM``,
  chosen by ``config.is_encoder_decoder``) and its fast tokenizer, after vetting the
  folder (:func:`mrekit.integrity.check_hf_folder`): pickled weights
  (``pytorch_model.bin``) are refused (``E186``), as is a folder that asks to run its
  own code (``E185``); ``trust_remote_code`` is always ``False``.
* :func:`add_lora` wraps a model with ``peft`` LoRA adapters on every linear
  layer; :func:`merged` folds them back in before saving, so a saved model
  never needs ``peft``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mrekit.errors import MrekitError, dataclass_from_dict
from mrekit.integrity import check_hf_folder
from mrekit.runtime import offline


@dataclass
class ScratchConfig:
    """Size of a T5 model trained from scratch, and of its tokenizer.

    Args:
        vocab_size: BPE vocabulary size of the tokenizer trained on the data.
        d_model: Hidden size.
        d_ff: Feed-forward size.
        num_layers: Encoder layers.
        num_decoder_layers: Decoder layers (default: ``num_layers``).
        num_heads: Attention heads (``d_model`` must be a multiple).
        dropout: Dropout rate.

    Example:
        >>> ScratchConfig.from_dict({"d_model": 64, "num_heads": 2}).d_model
        64
    """

    vocab_size: int = 2000
    d_model: int = 256
    d_ff: int = 1024
    num_layers: int = 3
    num_decoder_layers: int | None = None
    num_heads: int = 4
    dropout: float = 0.1

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScratchConfig:
        """Build from a dict, naming unknown keys (``E202``)."""
        config = dataclass_from_dict(cls, data, code="E202", what="scratch setting")
        if config.d_model % config.num_heads:
            raise MrekitError("E202", f"d_model {config.d_model} is not a multiple of num_heads {config.num_heads}")
        return config


def scratch_model(config: ScratchConfig, tokenizer: Any) -> Any:
    """A randomly initialised ``T5ForConditionalGeneration`` sized by ``config`` for ``tokenizer``.

    Example:
        >>> from mrekit.generative.tokenizer import train_tokenizer
        >>> model = scratch_model(ScratchConfig(d_model=16, d_ff=32, num_layers=1, num_heads=2),
        ...                       train_tokenizer(["a b"], vocab_size=270))
        >>> model.config.is_encoder_decoder
        True
    """
    from transformers import T5Config, T5ForConditionalGeneration

    t5 = T5Config(
        vocab_size=len(tokenizer),
        d_model=config.d_model,
        d_kv=config.d_model // config.num_heads,
        d_ff=config.d_ff,
        num_layers=config.num_layers,
        num_decoder_layers=config.num_decoder_layers or config.num_layers,
        num_heads=config.num_heads,
        dropout_rate=config.dropout,
        feed_forward_proj="relu",
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    with offline():
        return T5ForConditionalGeneration(t5)


def architecture_of(model: Any) -> str:
    """``"seq2seq"`` for an encoder-decoder, ``"causal"`` for a decoder-only model.

    Example:
        >>> from types import SimpleNamespace
        >>> architecture_of(SimpleNamespace(config=SimpleNamespace(is_encoder_decoder=False)))
        'causal'
    """
    return "seq2seq" if getattr(model.config, "is_encoder_decoder", False) else "causal"


def load_pretrained(folder: str | Path) -> tuple[Any, Any]:
    """Load ``(model, fast tokenizer)`` from a local Hugging Face folder, never from a hub.

    Raises:
        MrekitError: ``E100`` for a missing folder; ``E185`` when it asks to run its own
            code; ``E186`` for pickle-only weights; ``E187`` for special or oversized files
            or a configuration of absurd size; ``E203`` when the folder holds no
            safetensors weights of a seq2seq or causal LM, or no fast tokenizer.

    Example:
        >>> model, tokenizer = load_pretrained("checkpoints/flan-t5-small")  # doctest: +SKIP
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    path = Path(folder)
    if not path.is_dir():
        raise MrekitError("E100", "model folder not found", path=path, hint="give a local Hugging Face model folder")
    check_hf_folder(path, code="E203")
    local = {"local_files_only": True, "trust_remote_code": False}
    try:
        with offline():
            config = AutoConfig.from_pretrained(path, **local)
            auto = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
            model = auto.from_pretrained(path, use_safetensors=True, dtype=torch.float32, **local)
            tokenizer = AutoTokenizer.from_pretrained(path, **local)
    except Exception as err:  # noqa: BLE001 - loaders raise anything (tokenizers raises plain Exception)
        raise MrekitError(
            "E203",
            f"cannot load a seq2seq or causal LM with safetensors weights and a tokenizer: {err}",
            path=path,
            hint="give a local Hugging Face seq2seq or causal LM folder with a fast tokenizer",
        ) from None
    if not getattr(tokenizer, "is_fast", False):
        raise MrekitError("E203", "the model needs a fast tokenizer (tokenizer.json) for offsets", path=path)
    return model, tokenizer


def add_lora(model: Any, *, r: int = 8, alpha: int = 16, dropout: float = 0.05) -> Any:
    """Wrap ``model`` with LoRA adapters on all its linear layers (only they are trained).

    Raises:
        MrekitError: ``E132`` when ``peft`` is not installed.

    Example:
        >>> lora_model = add_lora(model, r=8)  # doctest: +SKIP
    """
    try:
        from peft import LoraConfig, TaskType, get_peft_model
    except ImportError:
        raise MrekitError(
            "E132", "LoRA needs the optional dependency peft", hint="pip install 'mrekit[generative]'"
        ) from None
    task = TaskType.SEQ_2_SEQ_LM if architecture_of(model) == "seq2seq" else TaskType.CAUSAL_LM
    config = LoraConfig(task_type=task, r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules="all-linear")
    return get_peft_model(model, config)


def merged(model: Any) -> Any:
    """The plain model: LoRA adapters merged into a copy of the weights (the model itself if none).

    Example:
        >>> merged(model).save_pretrained("out")  # doctest: +SKIP
    """
    if hasattr(model, "merge_and_unload") and hasattr(model, "peft_config"):
        return copy.deepcopy(model).merge_and_unload()
    return model


def use_bf16(setting: bool | None, device: torch.device) -> bool:
    """Whether to compute in bfloat16: ``None`` means when the CUDA device supports it.

    Example:
        >>> use_bf16(None, torch.device("cpu"))
        False
    """
    if setting is None:
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    return bool(setting) and device.type == "cuda"


def autocast(device: torch.device, bf16: bool) -> Any:
    """A bfloat16 autocast context on CUDA, or a no-op one.

    Example:
        >>> with autocast(torch.device("cpu"), False):
        ...     pass
    """
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16)


def parameter_count(model: Any) -> int:
    """Number of parameters (tied weights counted once).

    Example:
        >>> parameter_count(torch.nn.Linear(2, 3))
        9
    """
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
