"""Megatron MMIDIDX shards (.bin + .idx), as read by Megatron-Core, NeMo, GPT-NeoX and datatrove.

``.bin`` is the token ids back to back, no header. ``.idx`` is little-endian: magic
``MMIDIDX\\x00\\x00``, u64 version 1, u8 dtype code, u64 S sequences, u64 D = S + 1 document
indices, int32[S] lengths, int64[S] byte offsets, int64[D] document indices. One sequence per
document, so the document index is ``arange(S + 1)``. Byte-identical to Megatron's own
``IndexedDatasetBuilder`` for the same documents.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

MAGIC = b"MMIDIDX\x00\x00"
DTYPE_CODES = {np.uint8: 1, np.int8: 2, np.int16: 3, np.int32: 4, np.int64: 5, np.float64: 6, np.float32: 7, np.uint16: 8}
CODE_DTYPES = {v: k for k, v in DTYPE_CODES.items()}
UINT16_LIMIT = 65500  # Megatron's own rule: uint16 only when the vocabulary is below this


def token_dtype(vocab_size: int) -> type:
    return np.uint16 if vocab_size < UINT16_LIMIT else np.int32


class TokenRangeError(ValueError):
    """A token id does not fit the shard dtype or the vocabulary (a silent wrap-around otherwise)."""


def index_bytes(lengths: np.ndarray, dtype: type) -> bytes:
    lengths = np.asarray(lengths, dtype=np.int32)
    itemsize = np.dtype(dtype).itemsize
    offsets = np.zeros(len(lengths), dtype=np.int64)
    if len(lengths) > 1:
        np.cumsum(lengths[:-1].astype(np.int64) * itemsize, out=offsets[1:])
    doc_idx = np.arange(len(lengths) + 1, dtype=np.int64)
    return b"".join([MAGIC, struct.pack("<Q", 1), struct.pack("<B", DTYPE_CODES[dtype]),
                     struct.pack("<Q", len(lengths)), struct.pack("<Q", len(doc_idx)),
                     lengths.tobytes(order="C"), offsets.tobytes(order="C"), doc_idx.tobytes(order="C")])


@dataclass
class ShardWriter:
    """Streams documents into one ``.bin``; ``finish`` returns the ``.idx`` bytes.

    Documents are buffered and written in blocks of about ``block_tokens``: the range check,
    cast and hash then cost a few numpy calls per block instead of per document. Ids are checked
    against the vocabulary before the cast: numpy would wrap 70000 to 4464 in uint16.
    """
    out: BinaryIO
    dtype: type
    vocab_size: int
    block_tokens: int = 1 << 20
    lengths: list[int] = field(default_factory=list)
    n_bytes: int = 0
    bin_sha: "hashlib._Hash" = field(default_factory=hashlib.sha256)
    _pending: list[np.ndarray] = field(default_factory=list)
    _pending_tokens: int = 0

    def add(self, ids: np.ndarray | list[int]) -> None:
        arr = np.asarray(ids)
        if arr.size and arr.dtype.kind not in "iu":
            raise TokenRangeError(f"token ids must be integers, got {arr.dtype}")
        self._pending.append(arr)
        self._pending_tokens += arr.size
        self.lengths.append(int(arr.size))
        if self._pending_tokens >= self.block_tokens:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        block = np.concatenate(self._pending)
        if block.size:
            lo, hi = int(block.min()), int(block.max())
            if lo < 0 or hi >= self.vocab_size:
                raise TokenRangeError(f"token id out of range [0, {self.vocab_size}): min {lo}, max {hi}")
        data = block.astype(self.dtype, copy=False).tobytes()
        self.out.write(data)
        self.bin_sha.update(data)
        self.n_bytes += len(data)
        self._pending, self._pending_tokens = [], 0

    @property
    def n_tokens(self) -> int:
        return sum(self.lengths)

    @property
    def size_bytes(self) -> int:
        """Bytes of the .bin so far, including what is still buffered."""
        return self.n_bytes + self._pending_tokens * np.dtype(self.dtype).itemsize

    def finish(self) -> bytes:
        self.flush()
        return index_bytes(np.asarray(self.lengths, dtype=np.int32), self.dtype)


@dataclass
class IndexInfo:
    dtype: type
    lengths: np.ndarray
    offsets: np.ndarray
    doc_idx: np.ndarray


def read_index(data: bytes) -> IndexInfo:
    """Parse ``.idx`` bytes (used by validation; trainers use their own readers)."""
    if data[:9] != MAGIC:
        raise ValueError("not a Megatron MMIDIDX index (bad magic)")
    (version,) = struct.unpack("<Q", data[9:17])
    if version != 1:
        raise ValueError(f"unsupported MMIDIDX version {version}")
    dtype = CODE_DTYPES[data[17]]
    s, d = struct.unpack("<QQ", data[18:34])
    pos = 34
    lengths = np.frombuffer(data, np.int32, s, pos)
    pos += 4 * s
    offsets = np.frombuffer(data, np.int64, s, pos)
    pos += 8 * s
    doc_idx = np.frombuffer(data, np.int64, d, pos)
    return IndexInfo(dtype, lengths, offsets, doc_idx)
