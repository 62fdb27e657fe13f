"""One shard, every selected format: the code that runs inside a Spark task.

The pack stage sends each shard's documents to exactly one task (a ``mapInArrow`` over a
DataFrame repartitioned by shard id), with each document's global position and token offset.
The task places them in a flat token file, then writes every format from it and returns one
stats row per file written; the driver only collects those rows and writes the manifest last.

Document formats (Megatron, OLMo) keep documents as they are. Pre-packed formats (MDS, LitData,
Parquet) all take the same fixed-length sequences from one ``FlatPacker`` per shard.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import pyarrow as pa

from .. import storage
from . import packing
from .megatron import TokenRangeError, index_bytes
from .sink import Sink, write_whole

DOC_FORMATS = ("megatron", "olmo")
PACKED_FORMATS = ("mds", "litdata", "parquet")
FORMATS = DOC_FORMATS + PACKED_FORMATS

STATS_DDL = ("shard int, format string, path string, sha256 string, bytes bigint, n_docs bigint, n_tokens bigint, "
             "n_sequences bigint, n_pad bigint, n_truncated bigint, extra string")
STATS_NAMES = [f.split()[0] for f in STATS_DDL.split(", ")]


@dataclass(frozen=True)
class ShardSpec:
    """Everything a task needs (pickled into the ``mapInArrow`` closure)."""
    version_uri: str
    dataset: str
    formats: tuple[str, ...]
    vocab_size: int
    megatron_dtype: str
    olmo_dtype: str
    seq_len: int | None
    packing: str
    pad_id: int
    plan: dict = field(default_factory=dict)   # shard -> (first token offset, tokens, documents)
    options: dict = field(default_factory=dict)

    def name(self, shard: int) -> str:
        return f"{self.dataset}_{shard:05d}"


def check_range(arr: np.ndarray, vocab_size: int, where: str) -> None:
    """Ids are checked before any cast: numpy would silently wrap 70000 to 4464 in uint16."""
    if arr.size and (arr.dtype.kind not in "iu"):
        raise TokenRangeError(f"{where}: token ids must be integers, got {arr.dtype}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= vocab_size:
            raise TokenRangeError(f"{where}: token id out of range [0, {vocab_size}): min {lo}, max {hi}")


def _row(shard: int, fmt: str, entry: dict, n_docs: int, n_tokens: int, n_sequences: int = 0,
         n_pad: int = 0, n_truncated: int = 0, extra: dict | None = None) -> dict:
    return dict(entry, shard=shard, format=fmt, n_docs=n_docs, n_tokens=n_tokens, n_sequences=n_sequences,
                n_pad=n_pad, n_truncated=n_truncated, extra=json.dumps(extra or {}, sort_keys=True))


def packed_rows(fmt: str, spec: "ShardSpec", shard: int, files: list[tuple[dict, dict, int, int]],
                n_docs: int, stats) -> list[dict]:
    """Stats rows of a pre-packed format's files (entry, index, sequences, tokens) for one shard: the
    shard's documents and truncation counted once, on its first file; a shard with no full
    sequence still gets a row so it is accounted for."""
    rows = [_row(shard, fmt, entry, n_docs if i == 0 else 0, n_tok, n_seq, n_seq * spec.seq_len - n_tok,
                 stats.n_truncated if i == 0 else 0, {"index": index})
            for i, (entry, index, n_seq, n_tok) in enumerate(files)]
    if not rows:
        rows.append(_row(shard, fmt, {"path": "", "sha256": "", "bytes": 0}, n_docs, 0, 0, 0,
                         stats.n_truncated, {"empty": True}))
    return rows


class ShardBuilder:
    """One shard, every format. Rows may arrive in any order (an engine need not keep a sort into
    ``mapInArrow``: Sail drops it): each document's ids go straight to their place in a flat
    token file, at (start - shard start) * itemsize, and its (position, start, length) is kept.
    ``finish`` checks that the documents tile the shard exactly, then derives every format from
    that file in order, streaming."""

    def __init__(self, spec: ShardSpec, shard: int):
        self.spec, self.shard, self.name = spec, shard, spec.name(shard)
        self.first, self.total, self.expected_docs = spec.plan[shard]
        self.dtype = np.dtype(spec.megatron_dtype)
        self.direct = "megatron" in spec.formats and not storage.is_remote(spec.version_uri)
        if self.direct:  # the flat file is the Megatron .bin itself
            self.path = storage.join(spec.version_uri, self.name + ".bin")
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
        else:
            fd, self.path = tempfile.mkstemp(prefix="tokenlake-flat-", suffix=".bin")
            os.close(fd)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        os.ftruncate(self.fd, self.total * self.dtype.itemsize)
        self.pos: list[int] = []
        self.starts: list[int] = []
        self.lens: list[int] = []
        self.keep_names = "olmo" in spec.formats
        self.doc_ids: list[str] = []
        self.sources: list[str] = []

    def add_many(self, pos: np.ndarray, start: np.ndarray, lens: np.ndarray, ids: np.ndarray,
                 doc_ids: list[str] | None, sources: list[str] | None) -> None:
        """Documents of this shard sorted by ``start``, their ids concatenated (range already checked).
        Runs of documents that are adjacent in the shard go to the file in one write."""
        at = start - self.first
        if len(at) and (at[0] < 0 or at[-1] + lens[-1] > self.total):
            bad = int(np.flatnonzero((at < 0) | (at + lens > self.total))[0])
            name = doc_ids[bad] if doc_ids else f"at position {int(pos[bad])}"
            raise RuntimeError(f"shard {self.shard}: document {name} at tokens [{int(start[bad])}, "
                               f"{int(start[bad] + lens[bad])}) is outside the shard [{self.first}, {self.first + self.total})")
        data = ids.astype(self.dtype, copy=False)
        ends = np.cumsum(lens)
        breaks = np.flatnonzero(at[1:] != at[:-1] + lens[:-1]) + 1
        for lo, hi in zip(np.concatenate([[0], breaks]), np.concatenate([breaks, [len(at)]])):
            if hi <= lo:
                continue
            first_tok = int(ends[lo - 1]) if lo else 0
            chunk = data[first_tok:int(ends[hi - 1])].tobytes()
            if os.pwrite(self.fd, chunk, int(at[lo]) * self.dtype.itemsize) != len(chunk):
                raise OSError(f"short write to {self.path}")
        self.pos.extend(pos.tolist())
        self.starts.extend(start.tolist())
        self.lens.extend(lens.tolist())
        if self.keep_names:
            self.doc_ids.extend(doc_ids or [])
            self.sources.extend(sources or [])

    def _order(self) -> np.ndarray:
        pos, starts, lens = (np.asarray(x, dtype=np.int64) for x in (self.pos, self.starts, self.lens))
        order = np.argsort(pos, kind="stable")
        pos, starts, lens = pos[order], starts[order], lens[order]
        expect_starts = self.first + np.concatenate([[0], np.cumsum(lens)[:-1]]) if len(lens) else lens
        if (len(pos) != self.expected_docs or (len(pos) and (np.any(np.diff(pos) <= 0)
                                                              or np.any(starts != expect_starts)))
                or int(lens.sum()) != self.total):
            raise RuntimeError(f"shard {self.shard}: {len(pos)} documents / {int(lens.sum())} tokens arrived, the plan "
                               f"has {self.expected_docs} / {self.total}, or they do not tile the shard")
        return order

    def finish(self) -> list[dict]:
        os.fsync(self.fd) if self.direct else None
        os.close(self.fd)
        self.fd = None
        order = self._order()
        lens = np.asarray(self.lens, dtype=np.int64)[order]
        flat = np.memmap(self.path, dtype=self.dtype, mode="r") if self.total else np.zeros(0, self.dtype)
        rows: list[dict] = []
        try:
            n_docs = len(lens)
            if "megatron" in self.spec.formats:
                rows += self._megatron(flat, lens)
            if "olmo" in self.spec.formats:
                from .olmo import write_olmo
                rows += write_olmo(self.spec, self.shard, flat, lens,
                                   [self.doc_ids[i] for i in order], [self.sources[i] for i in order])
            packed = [f for f in self.spec.formats if f in PACKED_FORMATS]
            if packed:
                writers = [make_packed_writer(f, self.spec, self.shard) for f in packed]
                packer = packing.FlatPacker(self.spec.seq_len, self.spec.packing, self.spec.pad_id)
                for seqs, fill in packer.sequences(flat, lens):
                    for w in writers:
                        w.add_sequences(seqs, fill)
                for w in writers:
                    rows += w.finish(n_docs, packer.stats)
        finally:
            del flat
            if not self.direct:
                os.unlink(self.path)
        return rows

    def _megatron(self, flat: np.ndarray, lens: np.ndarray) -> list[dict]:
        if self.direct:
            sha = hashlib.sha256()
            with open(self.path, "rb") as fh:
                while block := fh.read(COPY_BLOCK):
                    sha.update(block)
            bin_entry = {"path": self.name + ".bin", "sha256": sha.hexdigest(), "bytes": os.path.getsize(self.path)}
        else:
            sink = Sink(self.spec.version_uri, self.name + ".bin", self.spec.options)
            copy_flat(flat, sink, self.dtype)
            bin_entry = sink.close()
        idx = index_bytes(lens.astype(np.int32), self.dtype.type)
        idx_entry = write_whole(self.spec.version_uri, self.name + ".idx", idx, self.spec.options)
        n_docs, n_tok = len(lens), int(lens.sum())
        return [_row(self.shard, "megatron", bin_entry, n_docs, n_tok, n_docs),
                _row(self.shard, "megatron", idx_entry, n_docs, n_tok, n_docs)]

    def abort(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if not self.direct and os.path.exists(self.path):
            os.unlink(self.path)


COPY_BLOCK = 16 << 20


def copy_flat(flat: np.ndarray, out, dtype) -> None:
    """Stream a flat token array into ``out`` in ``dtype``, in blocks."""
    dtype = np.dtype(dtype)
    step = max(COPY_BLOCK // max(flat.itemsize, 1), 1)
    for i in range(0, len(flat), step):
        out.write(np.ascontiguousarray(flat[i:i + step], dtype=dtype))


def make_packed_writer(fmt: str, spec: ShardSpec, shard: int):
    if fmt == "mds":
        from .mds import MDSShard
        return MDSShard(spec, shard)
    if fmt == "litdata":
        from .litdata import LitDataShard
        return LitDataShard(spec, shard)
    if fmt == "parquet":
        from .parquet import ParquetShard
        return ParquetShard(spec, shard)
    raise ValueError(fmt)


def shard_writer(spec: ShardSpec):
    """The ``mapInArrow`` function: the rows of some shards in, in any order; one stats row per file out."""

    spec_keeps_names = "olmo" in spec.formats

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        open_shards: dict[int, ShardBuilder] = {}
        rows: list[dict] = []
        try:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                shards = batch.column("shard").to_numpy()
                poss = batch.column("pos").to_numpy()
                starts = batch.column("start").to_numpy()
                ids_col = batch.column("input_ids")
                offsets = ids_col.offsets.to_numpy().astype(np.int64)
                values = ids_col.values.to_numpy(zero_copy_only=False)[offsets[0]:offsets[-1]]
                offsets = offsets - offsets[0]
                lens = np.diff(offsets)
                doc_ids = batch.column("doc_id").to_pylist()
                try:
                    check_range(values, spec.vocab_size, "batch")
                except TokenRangeError:  # name the document
                    for i in range(batch.num_rows):
                        check_range(values[offsets[i]:offsets[i + 1]], spec.vocab_size,
                                    f"shard {int(shards[i])}, document {doc_ids[i]}")
                    raise
                sources = batch.column("source").to_pylist() if spec_keeps_names else None
                order = np.lexsort((starts, shards))
                cut = np.flatnonzero(np.diff(shards[order])) + 1
                for rows_idx in np.split(order, cut):
                    s = int(shards[rows_idx[0]])
                    b = open_shards.get(s)
                    if b is None:
                        b = open_shards[s] = ShardBuilder(spec, s)
                    n = lens[rows_idx]
                    # the rows' ids, gathered in start order: one vectorized index, no per-row loop
                    gather = np.arange(int(n.sum()), dtype=np.int64) + np.repeat(
                        offsets[rows_idx] - np.concatenate([[0], np.cumsum(n)[:-1]]), n)
                    b.add_many(poss[rows_idx], starts[rows_idx], n, values[gather],
                               [doc_ids[i] for i in rows_idx], [sources[i] for i in rows_idx] if sources else None)
            for s in sorted(open_shards):
                rows += open_shards[s].finish()
                del open_shards[s]
        except BaseException:
            for b in open_shards.values():
                b.abort()
            raise
        if rows:
            yield pa.RecordBatch.from_pylist(rows, schema=stats_schema())

    return write


def stats_schema() -> pa.Schema:
    types = {"int": pa.int32(), "string": pa.string(), "bigint": pa.int64()}
    return pa.schema([(f.split()[0], types[f.split()[1]]) for f in STATS_DDL.split(", ")])


__all__ = ["FORMATS", "ShardSpec", "shard_writer", "STATS_DDL", "index_bytes"]
