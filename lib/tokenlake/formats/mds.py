"""MosaicML MDS shards (``mds/``), as ``streaming.MDSWriter`` writes them, for llm-foundry and
any ``StreamingDataset`` reader.

One column, ``tokens``, encoded ``ndarray:<dtype>:<seq_len>`` (fixed size, so no per-sample size
header); files zstd-compressed (``.mds.zstd``) with sha1 and xxh64 of the raw and compressed
bytes in ``index.json``. A shard file is ``u32 N``, ``u32[N+1]`` byte offsets, the shard config
as JSON, then the samples; a new file starts when the next sample would pass ``SIZE_LIMIT``
(MDSWriter's rule and default), so offsets stay far below the u32 limit. Each pack task writes
its shard's files; the driver writes ``index.json`` from the entries they return.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import xxhash
import zstandard

from .sink import write_whole

SIZE_LIMIT = 1 << 26
HASHES = ["sha1", "xxh64"]
COMPRESSION = "zstd"
ZSTD_LEVEL = 3  # streaming's default level for "zstd"


def shard_config(dtype: str, seq_len: int) -> dict:
    return {"version": 2, "format": "mds", "compression": COMPRESSION, "hashes": HASHES, "size_limit": SIZE_LIMIT,
            "column_names": ["tokens"], "column_encodings": [f"ndarray:{dtype}:{seq_len}"],
            "column_sizes": [seq_len * np.dtype(dtype).itemsize]}


def _hashes(data: bytes) -> dict:
    return {"sha1": hashlib.sha1(data).hexdigest(), "xxh64": xxhash.xxh64(data).hexdigest()}


def encode_shard(samples: list[bytes], config_data: bytes) -> bytes:
    n = len(samples)
    sizes = np.array([0] + [len(s) for s in samples], dtype=np.int64).cumsum()
    offsets = (sizes + 4 + 4 * (n + 1) + len(config_data)).astype(np.uint32)
    return b"".join([np.uint32(n).tobytes(), offsets.tobytes(), config_data, *samples])


def write_index(shards: list[dict]) -> bytes:
    return json.dumps({"version": 2, "shards": shards}, sort_keys=True).encode("utf-8")


class MDSShard:
    def __init__(self, spec, shard: int):
        self.spec, self.shard = spec, shard
        self.dtype = np.dtype(spec.olmo_dtype)
        self.config = shard_config(self.dtype.name, spec.seq_len)
        self.config_data = json.dumps(self.config, sort_keys=True).encode("utf-8")
        self.sample_bytes = spec.seq_len * self.dtype.itemsize
        self.files: list[tuple[dict, dict]] = []  # (manifest entry, index entry)
        self._samples: list[bytes] = []
        self._fill: list[int] = []
        self._size = 8 + len(self.config_data)

    def add_sequences(self, seqs: np.ndarray, fill: np.ndarray) -> None:
        data = np.ascontiguousarray(seqs, dtype=self.dtype)
        for row, f in zip(data, fill):
            if self._samples and SIZE_LIMIT < self._size + self.sample_bytes + 4:
                self._flush()
            self._samples.append(row.tobytes())
            self._fill.append(int(f))
            self._size += self.sample_bytes + 4

    def _flush(self) -> None:
        raw = encode_shard(self._samples, self.config_data)
        base = f"shard.{self.shard:05d}.{len(self.files):05d}.mds"
        zipped = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(raw)
        entry = write_whole(self.spec.version_uri, f"mds/{base}.zstd", zipped, self.spec.options)
        index = {"samples": len(self._samples),
                 "raw_data": {"basename": base, "bytes": len(raw), "hashes": _hashes(raw)},
                 "zip_data": {"basename": base + ".zstd", "bytes": len(zipped), "hashes": _hashes(zipped)}}
        index.update(self.config)
        entry["_sequences"], entry["_tokens"] = len(self._samples), sum(self._fill)
        self.files.append((entry, index))
        self._samples, self._fill, self._size = [], [], 8 + len(self.config_data)

    def finish(self, n_docs: int, stats) -> list[dict]:
        from .writers import packed_rows

        if self._samples:
            self._flush()
        return packed_rows("mds", self.spec, self.shard,
                           [(entry, index, entry.pop("_sequences"), entry.pop("_tokens")) for entry, index in self.files],
                           n_docs, stats)

    def abort(self) -> None:
        pass
