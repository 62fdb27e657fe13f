"""Parquet shards of packed sequences (``parquet/<dataset>_<NNNNN>.parquet``): one row per
sequence, ``input_ids`` a fixed-size list of ``seq_len`` int32 (Hugging Face ``datasets`` reads
it as ``Sequence(int32, length=seq_len)``), plus ``n_tokens``, the ids that are not padding.
Row groups hold ``ROW_GROUP`` sequences whatever batches the packer produced, so the bytes depend
only on the sequences.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .sink import Sink

ROW_GROUP = 4096


def schema(seq_len: int) -> pa.Schema:
    return pa.schema([("input_ids", pa.list_(pa.int32(), seq_len)), ("n_tokens", pa.int32())])


class ParquetShard:
    def __init__(self, spec, shard: int):
        self.spec, self.shard = spec, shard
        self.path = f"parquet/{spec.name(shard)}.parquet"
        self.sink = Sink(spec.version_uri, self.path, spec.options)
        self.schema = schema(spec.seq_len)
        self.writer = pq.ParquetWriter(pa.PythonFile(self.sink, mode="w"), self.schema, compression="zstd")
        self._rows: list[np.ndarray] = []
        self._fill: list[np.ndarray] = []
        self._n = 0
        self.n_sequences = 0
        self.n_tokens = 0

    def add_sequences(self, seqs: np.ndarray, fill: np.ndarray) -> None:
        self._rows.append(np.asarray(seqs, dtype=np.int32))
        self._fill.append(np.asarray(fill, dtype=np.int32))
        self._n += len(seqs)
        while self._n >= ROW_GROUP:
            self._flush(ROW_GROUP)

    def _flush(self, n: int) -> None:
        rows, fill = np.concatenate(self._rows), np.concatenate(self._fill)
        ids = pa.FixedSizeListArray.from_arrays(pa.array(rows[:n].reshape(-1)), self.spec.seq_len)
        self.writer.write_table(pa.Table.from_arrays([ids, pa.array(fill[:n])], schema=self.schema), row_group_size=n)
        self.n_sequences += n
        self.n_tokens += int(fill[:n].sum())
        rest = rows[n:]
        self._rows, self._fill, self._n = ([rest], [fill[n:]], len(rest)) if len(rest) else ([], [], 0)

    def finish(self, n_docs: int, stats) -> list[dict]:
        from .writers import _row

        if self._n:
            self._flush(self._n)
        self.writer.close()
        entry = self.sink.close()
        return [_row(self.shard, "parquet", entry, n_docs, self.n_tokens, self.n_sequences,
                     self.n_sequences * self.spec.seq_len - self.n_tokens, stats.n_truncated)]

    def abort(self) -> None:
        self.sink.abort()
