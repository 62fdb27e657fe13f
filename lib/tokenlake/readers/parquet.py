"""Parquet files -> documents, a row group at a time, through pyarrow.parquet.

Rows are checked like JSONL objects (``from_record``): a null or non-string text, or an id/url of
an odd type, is a ``parquet_bad_schema`` quarantine entry for that row. The record offset is the
row's index in the file, so doc_ids do not depend on how the file is split. A file whose footer
cannot be read is one ``parquet_parse_error`` entry.
"""
from __future__ import annotations

import json
from typing import Iterator

from .records import SAMPLE_CHARS, Doc, Quarantine, ReadOptions, from_record

BATCH_ROWS = 1024


def row_group_start(rg) -> int:
    """Byte offset where a row group's data begins (its first column chunk's first page)."""
    col = rg.column(0)
    offsets = [o for o in (col.dictionary_page_offset if col.has_dictionary_page else None, col.data_page_offset)
               if o is not None and o > 0]
    return min(offsets) if offsets else col.file_offset


def read_parquet(source, opts: ReadOptions, start: int = 0, end: int | None = None) -> Iterator[Doc | Quarantine]:
    """Rows of the row groups that begin in [start, end) (all when ``end`` is None); ``source`` is a
    seekable file. Only the configured text/id/url/metadata columns are read."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(source)
    except Exception as exc:  # noqa: BLE001 - not Parquet, or a damaged footer
        yield Quarantine(-1, "parquet_parse_error", f"{type(exc).__name__}: {exc}"[:300])
        return
    names = set(pf.schema_arrow.names)
    wanted = [c for c in dict.fromkeys([opts.text_field, opts.id_field, opts.url_field, *opts.metadata_fields])
              if c and c in names]
    row = 0
    for i in range(pf.metadata.num_row_groups):
        rg = pf.metadata.row_group(i)
        first, row = row, row + rg.num_rows
        if not start <= row_group_start(rg) < (end if end is not None else float("inf")):
            continue
        if opts.text_field not in names:  # every row fails alike: no need to read any column
            detail = f"no column {opts.text_field!r} (columns: {sorted(names)[:20]})"
            for r in range(first, row):
                yield Quarantine(r, "parquet_bad_schema", detail)
            continue
        r = first
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=[i], columns=wanted, use_threads=False):
            for record in batch.to_pylist():
                sample = json.dumps(record, ensure_ascii=False, default=str)[:SAMPLE_CHARS]
                yield from from_record(record, opts, r, sample, "parquet")
                r += 1
