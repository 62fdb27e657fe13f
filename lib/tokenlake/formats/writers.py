"""One shard, every selected format: the code that runs inside a Spark task.

The pack stage sends each shard's documents to exactly one task (a ``mapInArrow`` over a
DataFrame repartitioned by shard id), in any order, with each document's order key, repeat number
and length. The task puts them in the global order and lays their ids out in a flat token file,
then writes every format from it and returns one stats row per file written; the driver only
collects those rows and writes the manifest last.

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
import pyarrow.compute as pc

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
    """One shard, every format. The task gets the shard's documents in any order (an engine need
    not keep a sort into ``mapInArrow``: Sail drops it), each with its order key, repeat number and
    length. Ids are appended to a local spill file as they arrive (memory stays bounded by a
    batch, plus the narrow columns); ``finish`` sorts the narrow columns by the global order
    (key, doc_id, rep), checks the documents and tokens against the plan, copies the ids in that
    order into a flat token file (documents tile it from the shard's first token by construction)
    and derives every format from it, streaming."""

    SORT_KEYS = [("_key", "ascending", "at_start"), ("doc_id", "ascending", "at_start"),
                 ("rep", "ascending", "at_start")]

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
        fd, self.spill_path = tempfile.mkstemp(prefix="tokenlake-spill-", suffix=".bin")
        self.spill = os.fdopen(fd, "wb", buffering=0)
        self.spilled = 0  # tokens
        self.parts: list[pa.Table] = []
        self.flat_sha: str | None = None

    def add(self, rows: pa.RecordBatch, lens: np.ndarray, data: np.ndarray) -> None:
        """Documents of this shard (narrow columns in ``rows``), their ids concatenated in row order
        in ``data`` (range already checked, in the shard dtype)."""
        view = memoryview(data).cast("B")
        while view:
            view = view[self.spill.write(view):]
        at = self.spilled + np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
        self.spilled += int(lens.sum())
        # a copy: the batch's buffers (ids included) may be slices of one message
        narrow = pa.Table.from_batches([rows]).take(np.arange(rows.num_rows))
        self.parts.append(narrow.append_column("_at", pa.array(at, pa.int64())))

    def _resolve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Table | None]:
        """(spill offsets, lengths, row indices) of this shard's documents in global order."""
        table = pa.concat_tables(self.parts) if self.parts else None
        if table is None or table.num_rows == 0:
            at = lens = idx = np.zeros(0, np.int64)
        else:
            idx = pc.sort_indices(table, sort_keys=self.SORT_KEYS).to_numpy()
            lens = table.column("n_tokens").to_numpy()[idx].astype(np.int64)
            at = table.column("_at").to_numpy()[idx]
        if len(idx) != self.expected_docs or int(lens.sum()) != self.total:
            raise RuntimeError(f"shard {self.shard}: {len(idx)} documents / {int(lens.sum())} tokens arrived, the plan "
                               f"has {self.expected_docs} / {self.total}")
        return at, lens, idx, table

    def _write_flat(self, at: np.ndarray, lens: np.ndarray) -> None:
        """The shard's ids in order, from the spill file to the flat file: one sequential write."""
        self.spill.close()
        sha = hashlib.sha256() if self.direct else None
        with open(self.path, "wb", buffering=0) as out:
            if self.spilled:
                src = np.asarray(np.memmap(self.spill_path, dtype=self.dtype, mode="r")).view(np.ndarray)
                ends = np.cumsum(lens)
                step = max(COPY_BLOCK // self.dtype.itemsize, 1)
                lo = 0
                while lo < len(lens):
                    hi = int(np.searchsorted(ends, (int(ends[lo - 1]) if lo else 0) + step, side="right"))
                    hi = max(hi, lo + 1)
                    block = np.concatenate([src[a:a + m] for a, m in zip(at[lo:hi].tolist(), lens[lo:hi].tolist())])
                    view = memoryview(block).cast("B")
                    if sha is not None:
                        sha.update(view)
                    while view:
                        view = view[out.write(view):]
                    lo = hi
                del src
            if self.direct:
                os.fsync(out.fileno())
        os.unlink(self.spill_path)
        self.spill_path = None
        self.flat_sha = sha.hexdigest() if sha is not None else None

    def finish(self) -> list[dict]:
        at, lens, idx, table = self._resolve()
        self._write_flat(at, lens)
        flat = np.memmap(self.path, dtype=self.dtype, mode="r") if self.total else np.zeros(0, self.dtype)
        rows: list[dict] = []
        try:
            n_docs = len(lens)
            if "megatron" in self.spec.formats:
                rows += self._megatron(flat, lens)
            if "olmo" in self.spec.formats:
                from .olmo import write_olmo
                pick = pa.array(idx, pa.int64())
                names = table.column("doc_id").take(pick).to_pylist() if n_docs else []
                sources = table.column("source").take(pick).to_pylist() if n_docs else []
                rows += write_olmo(self.spec, self.shard, flat, lens, names, sources)
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
            bin_entry = {"path": self.name + ".bin", "sha256": self.flat_sha, "bytes": os.path.getsize(self.path)}
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
        if not self.spill.closed:
            self.spill.close()
        for path in (self.spill_path, None if self.direct else self.path):
            if path and os.path.exists(path):
                os.unlink(path)


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


NARROW = ["_key", "doc_id", "rep", "source", "n_tokens"]


def shard_writer(spec: ShardSpec):
    """The ``mapInArrow`` function: rows (shard, _key, doc_id, rep, source, n_tokens, input_ids) of
    some shards in, in any order; one stats row per file out."""

    dtype = np.dtype(spec.megatron_dtype)

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        open_shards: dict[int, ShardBuilder] = {}
        rows: list[dict] = []
        try:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                shards = batch.column("shard").to_numpy()
                ids_col = batch.column("input_ids")
                offsets = ids_col.offsets.to_numpy().astype(np.int64)
                values = ids_col.values.to_numpy(zero_copy_only=False)[offsets[0]:offsets[-1]]
                offsets = offsets - offsets[0]
                lens = np.diff(offsets)
                n_tokens = batch.column("n_tokens").to_numpy()
                if np.any(lens != n_tokens):
                    bad = int(np.flatnonzero(lens != n_tokens)[0])
                    raise RuntimeError(f"document {batch.column('doc_id')[bad].as_py()}: n_tokens {int(n_tokens[bad])} "
                                       f"but {int(lens[bad])} ids")
                try:
                    check_range(values, spec.vocab_size, "batch")
                except TokenRangeError:  # name the document
                    doc_ids = batch.column("doc_id").to_pylist()
                    for i in range(batch.num_rows):
                        check_range(values[offsets[i]:offsets[i + 1]], spec.vocab_size,
                                    f"shard {int(shards[i])}, document {doc_ids[i]}")
                    raise
                data = values.astype(dtype, copy=False)
                narrow = batch.select(NARROW)
                if shards.min() == shards.max():
                    groups = [(int(shards[0]), None)]
                else:
                    order = np.argsort(shards, kind="stable")
                    cut = np.flatnonzero(np.diff(shards[order])) + 1
                    groups = [(int(shards[g[0]]), g) for g in np.split(order, cut)]
                for s, g in groups:
                    b = open_shards.get(s)
                    if b is None:
                        b = open_shards[s] = ShardBuilder(spec, s)
                    if g is None:
                        b.add(narrow, lens, data)
                    else:
                        b.add(narrow.take(pa.array(g)), lens[g],
                              np.concatenate([data[offsets[i]:offsets[i + 1]] for i in g.tolist()]))
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
