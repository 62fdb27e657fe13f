"""LitData chunks for ``litdata.StreamingDataset(..., item_loader=TokensLoader(block_size))``
(``litdata/``), in the layout litdata's own ``BinaryWriter`` gives a ``TokensLoader`` dataset.

Each chunk ``chunk-<shard>-<k>.bin`` is ``u32 N``, ``u32[N+1]`` byte offsets, then N packed
sequences of ``seq_len`` raw ids (``no_header_numpy`` dtype, no per-item header); ``index.json``
lists every chunk's items (``chunk_size``), tokens (``dim``) and bytes, and the config the reader
needs. TokensLoader then cuts the token stream of each chunk into ``block_size`` windows, so give
it ``block_size = seq_len`` (or write ``seq_len + 1`` for next-token windows, as litgpt does).
"""
from __future__ import annotations

import json

import numpy as np

from .sink import write_whole

CHUNK_BYTES = 1 << 26
# litdata's _NUMPY_DTYPES_MAPPING (litdata/constants.py): index in the serializer name.
NUMPY_DTYPE_INDEX = {"int8": 0, "int16": 1, "int32": 2, "int64": 3, "uint8": 4, "uint16": 5, "uint32": 6, "uint64": 7}
LEAF_SPEC = '[1, {"type": null, "context": null, "children_spec": []}]'


def items_per_chunk(seq_len: int, itemsize: int) -> int:
    return max(1, CHUNK_BYTES // (seq_len * itemsize))


def index_config(dtype: str, seq_len: int) -> dict:
    return {"chunk_bytes": None, "chunk_size": items_per_chunk(seq_len, np.dtype(dtype).itemsize) * seq_len,
            "compression": None, "compression_batch_size": None, "compression_level": None,
            "data_format": [f"no_header_numpy:{NUMPY_DTYPE_INDEX[dtype]}"], "data_spec": LEAF_SPEC,
            "encryption": None, "ipc_compression": None, "item_loader": "TokensLoader", "types": "json"}


def write_index(chunks: list[dict], dtype: str, seq_len: int) -> bytes:
    return json.dumps({"chunks": chunks, "config": index_config(dtype, seq_len)}, sort_keys=True).encode("utf-8")


def encode_chunk(items: np.ndarray) -> bytes:
    n, width = items.shape
    header = 4 + 4 * (n + 1)
    offsets = (header + np.arange(n + 1, dtype=np.int64) * width * items.itemsize).astype(np.uint32)
    return np.uint32(n).tobytes() + offsets.tobytes() + items.tobytes()


class LitDataShard:
    def __init__(self, spec, shard: int):
        self.spec, self.shard = spec, shard
        self.dtype = np.dtype(spec.olmo_dtype)
        self.per_chunk = items_per_chunk(spec.seq_len, self.dtype.itemsize)
        self.files: list[tuple[dict, dict, int]] = []
        self._rows: list[np.ndarray] = []
        self._fill: list[np.ndarray] = []
        self._n = 0

    def add_sequences(self, seqs: np.ndarray, fill: np.ndarray) -> None:
        self._rows.append(np.ascontiguousarray(seqs, dtype=self.dtype))
        self._fill.append(fill)
        self._n += len(seqs)
        while self._n >= self.per_chunk:
            self._flush(self.per_chunk)

    def _flush(self, n: int) -> None:
        rows, fill = np.concatenate(self._rows), np.concatenate(self._fill)
        items, rest = rows[:n], rows[n:]
        name = f"chunk-{self.shard}-{len(self.files)}.bin"
        data = encode_chunk(items)
        entry = write_whole(self.spec.version_uri, "litdata/" + name, data, self.spec.options)
        index = {"chunk_bytes": len(data), "chunk_size": n, "dim": n * self.spec.seq_len, "filename": name}
        self.files.append((entry, index, int(fill[:n].sum())))
        self._rows, self._fill, self._n = ([rest], [fill[n:]], len(rest)) if len(rest) else ([], [], 0)

    def finish(self, n_docs: int, stats) -> list[dict]:
        from .writers import packed_rows

        if self._n:
            self._flush(self._n)
        return packed_rows("litdata", self.spec, self.shard,
                           [(entry, index, index["chunk_size"], n_tok) for entry, index, n_tok in self.files],
                           n_docs, stats)

    def abort(self) -> None:
        pass
