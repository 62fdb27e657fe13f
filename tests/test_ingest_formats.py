"""Parquet sources, metadata fields and big files read as byte ranges: readers on files written by
pyarrow / by hand, and the ingest stage on Sail, whose doc_ids must not depend on the splitting."""
from __future__ import annotations

import io
import json
import pathlib

import deltalake
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tokenlake import storage
from tokenlake.config import from_dict
from tokenlake.demo import demo_config
from tokenlake.pipeline import run_pipeline
from tokenlake.readers.records import Doc, Quarantine, ReadOptions, read_file, read_jsonl
from tokenlake.stages.ingest import already_ingested, byte_ranges, split_size

from test_fuzz_inputs import good_docs


def recs(path, opts, start=0, end=None):
    return list(read_file(str(path), opts, None, None, start, end))


def key(r):
    if isinstance(r, Doc):
        return ("doc", r.offset, r.text, r.source_id, r.url, r.decode_errors, json.dumps(r.metadata, sort_keys=True))
    return ("q", r.offset, r.reason)


def ranged(path, opts, split):
    out = []
    for start, end in byte_ranges(pathlib.Path(path).stat().st_size, split):
        out += recs(path, opts, start, None if end < 0 else end)
    return out


PQ_OPTS = ReadOptions("parquet", text_field="body", id_field="doc_key", url_field="link",
                      metadata_fields=("lang", "score", "tags", "absent"))


def write_parquet(path, n=50, row_group_size=8):
    bodies = [f"parquet document {i} " * 5 for i in range(n)]
    bodies[3], bodies[11] = None, "   "
    table = pa.table({"body": bodies, "doc_key": pa.array(range(1000, 1000 + n), pa.int64()),
                      "link": [f"https://example.org/{i}" for i in range(n)],
                      "lang": ["en" if i % 2 else "de" for i in range(n)],
                      "score": [i / 4 for i in range(n)], "tags": [["a", str(i)] for i in range(n)],
                      "unused": ["x" * 100] * n})
    pq.write_table(table, path, row_group_size=row_group_size)
    return bodies


def test_parquet_rows_are_documents_with_row_index_offsets(tmp_path):
    bodies = write_parquet(tmp_path / "p.parquet")
    out = recs(tmp_path / "p.parquet", PQ_OPTS)
    docs = [r for r in out if isinstance(r, Doc)]
    assert [(q.offset, q.reason) for q in out if isinstance(q, Quarantine)] == [(3, "parquet_bad_schema"),
                                                                              (11, "empty_text")]
    assert [d.offset for d in docs] == [i for i in range(50) if i not in (3, 11)]
    assert [d.text for d in docs] == [b for i, b in enumerate(bodies) if i not in (3, 11)]
    d = docs[4]  # row 5
    assert (d.source_id, d.url) == ("1005", "https://example.org/5")
    assert d.metadata == {"lang": "en", "score": "1.25", "tags": '["a", "5"]'}


def test_parquet_bad_schema_and_not_parquet_are_quarantined(tmp_path):
    pq.write_table(pa.table({"body": [1, 2, 3]}), tmp_path / "int.parquet")
    assert [(r.offset, r.reason) for r in recs(tmp_path / "int.parquet", PQ_OPTS)] == \
        [(0, "parquet_bad_schema"), (1, "parquet_bad_schema"), (2, "parquet_bad_schema")]
    pq.write_table(pa.table({"other": ["a", "b"]}), tmp_path / "missing.parquet")
    missing = recs(tmp_path / "missing.parquet", PQ_OPTS)
    assert [r.reason for r in missing] == ["parquet_bad_schema"] * 2 and "no column 'body'" in missing[0].detail
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 this is not parquet at all " * 100)
    (tmp_path / "empty.parquet").write_bytes(b"")
    assert [r.reason for r in recs(tmp_path / "junk.parquet", PQ_OPTS)] == ["parquet_parse_error"]
    assert [r.reason for r in recs(tmp_path / "empty.parquet", PQ_OPTS)] == ["parquet_parse_error"]
    pq.write_table(pa.table({"body": pa.array([], pa.string())}), tmp_path / "zero.parquet")
    assert [r.reason for r in recs(tmp_path / "zero.parquet", PQ_OPTS)] == ["empty_file"]
    # a binary text column is decoded like JSONL bytes, invalid UTF-8 counted
    pq.write_table(pa.table({"body": pa.array([b"caf\xe9 au lait"], pa.binary())}), tmp_path / "bin.parquet")
    (doc,) = recs(tmp_path / "bin.parquet", PQ_OPTS)
    assert doc.text == "caf\ufffd au lait" and doc.decode_errors == 1


@pytest.mark.parametrize("split", [1, 100, 700, 1500, 10**9])
def test_parquet_row_group_ranges_tile_the_file(tmp_path, split):
    write_parquet(tmp_path / "p.parquet", n=50, row_group_size=8)  # 7 row groups
    whole = recs(tmp_path / "p.parquet", PQ_OPTS)
    assert [key(r) for r in ranged(tmp_path / "p.parquet", PQ_OPTS, split)] == [key(r) for r in whole]


def jsonl_body() -> bytes:
    lines = [json.dumps({"text": f"line {i} " + "é" * (i % 7) + "x" * (i * 13 % 40), "id": i, "lang": "fr",
                         "n": {"a": i}}, ensure_ascii=False).encode() for i in range(60)]
    lines[5] = b"{not json"
    lines[9] = b""  # blank line
    lines[20] = lines[20] + b"\r"  # CRLF
    lines[30] = b'{"text": "bad utf8 \xff\xfe here"}'
    return b"\n".join(lines) + b"\n" + b'{"text": "last line, no newline"}'


@pytest.mark.parametrize("split", [1, 2, 3, 17, 64, 100, 333, 1000, 10**9])
def test_jsonl_byte_ranges_read_each_line_once(tmp_path, split):
    p = tmp_path / "a.jsonl"
    p.write_bytes(jsonl_body())
    opts = ReadOptions("jsonl", metadata_fields=("lang", "n"))
    whole = recs(p, opts)
    assert len([r for r in whole if isinstance(r, Doc)]) == 59 and whole[0].metadata == {"lang": "fr", "n": '{"a": 0}'}
    assert [key(r) for r in ranged(p, opts, split)] == [key(r) for r in whole]


class CountingRaw(io.RawIOBase):
    """A seekable in-memory raw stream that counts the bytes read from it."""

    def __init__(self, data: bytes):
        self._b, self.n_read = io.BytesIO(data), 0

    def readinto(self, buf) -> int:
        n = self._b.readinto(buf)
        self.n_read += n
        return n

    def seek(self, pos, whence=0):
        return self._b.seek(pos, whence)

    def seekable(self):
        return True

    def readable(self):
        return True


def test_ranges_inside_a_long_line_read_only_their_own_bytes():
    """The tasks whose range lies inside one long line find no line start there and stop at their
    range's end: all ranges together read the file a few times over, not once per range (what a
    readline() to the next newline would cost)."""
    lines = [json.dumps({"text": f"short {i}"}) for i in range(5)]
    lines.insert(2, json.dumps({"text": "long " * 800_000}))  # one 4 MB line
    data = ("\n".join(lines) + "\n").encode()
    opts = ReadOptions("jsonl", max_doc_chars=10 ** 8)
    whole = [key(r) for r in read_jsonl(io.BufferedReader(CountingRaw(data)), opts)]
    got, n_read = [], 0
    for start, end in byte_ranges(len(data), 64 << 10):
        raw = CountingRaw(data)
        got += [key(r) for r in read_jsonl(io.BufferedReader(raw), opts, start, None if end < 0 else end)]
        n_read += raw.n_read
    assert got == whole and len(whole) == 6
    assert len(byte_ranges(len(data), 64 << 10)) > 60 and n_read < 4 * len(data)


def test_ranges_are_refused_for_compressed_files(tmp_path):
    (tmp_path / "a.jsonl.gz").write_bytes(b"")
    with pytest.raises(ValueError, match="byte range"):
        recs(tmp_path / "a.jsonl.gz", ReadOptions("jsonl"), 10, 20)


def test_byte_ranges_and_log_matching():
    assert byte_ranges(10, 10) == [(0, -1)]
    assert byte_ranges(25, 10) == [(0, 8), (8, 16), (16, 25)]  # as few as fit, of equal length
    assert byte_ranges(21, 10) == [(0, 7), (7, 14), (14, 21)]
    assert byte_ranges(20, 10) == [(0, 10), (10, 20)]
    e = storage.FileEntry("s3://b/k", 100, 5, "abc")
    assert already_ingested([(100, 1, "abc")], e)  # same bytes re-uploaded: new mtime, same ETag
    assert not already_ingested([(100, 5, "xyz")], e)  # same size and mtime, other content
    assert not already_ingested([(99, 5, "abc")], e)
    assert already_ingested([(100, 5, None)], e)  # logged before ETags: mtime decides
    assert not already_ingested([(100, 6, None)], e)
    assert already_ingested([(100, 5, None)], storage.FileEntry("/x", 100, 5))


def test_split_size_is_sparks_max_split_bytes_rule():
    mb = 1 << 20
    # min(split_bytes, max(min_split_bytes, total / (tasks_per_partition x partitions)))
    assert split_size(132 * mb, 256 * mb, 1 * mb, 2, 4) == 132 * mb // 8  # ~4 tasks per partition
    assert split_size(132 * mb, 256 * mb, 1 * mb, 2, 32) == 132 * mb // 64  # ~32 per partition
    assert split_size(10 * mb, 256 * mb, 8 * mb, 2, 32) == 8 * mb  # not under min_split_bytes
    assert split_size(1_000_000 * mb, 256 * mb, 8 * mb, 16, 32) == 256 * mb  # not over split_bytes
    assert split_size(0, 256 * mb, 8 * mb, 4, 32) == 8 * mb
    assert split_size(10, 2000, 8 * mb, 4, 32) == 2000  # split_bytes under min_split_bytes wins
    assert split_size(0, 256, 1, 4, 32) == 1


def table(cfg, name):
    return deltalake.DeltaTable(str(pathlib.Path(cfg.lake.root) / name)).to_pyarrow_table().to_pylist()


def write_sources(src: pathlib.Path) -> None:
    src.mkdir()
    rows = good_docs(40)
    body = b"".join(json.dumps(dict(r, lang="en", rank=i), ensure_ascii=False).encode() + b"\n"
                    for i, r in enumerate(rows))
    (src / "docs.jsonl").write_bytes(body + b"{broken\n")
    pq.write_table(pa.table({"text": [r["text"] for r in rows], "id": [r["id"] for r in rows],
                             "url": [r["url"] for r in rows], "lang": ["de"] * len(rows)}),
                   src / "docs.parquet", row_group_size=6)


def ingest(engine, tmp_path, name, src, split_bytes):
    data = demo_config(tmp_path / name)
    data["sources"] = [{"name": "mixed-j", "uri": str(src / "docs.jsonl"), "format": "jsonl",
                        "metadata_fields": ["lang", "rank"]},
                       {"name": "mixed-p", "uri": str(src / "docs.parquet"), "format": "parquet",
                        "metadata_fields": ["lang"]}]
    data["ingest"] = {"split_bytes": split_bytes}
    cfg = from_dict(data)
    return cfg, lambda: run_pipeline(cfg, stages=["ingest"], engine=engine, quiet=True, force=True).results[0]


def test_split_ingest_gives_the_same_rows_as_whole_files(engine, tmp_path):
    src = tmp_path / "src"
    write_sources(src)
    whole_cfg, whole_run = ingest(engine, tmp_path, "whole", src, 256 << 20)
    split_cfg, split_run = ingest(engine, tmp_path, "split", src, 2000)
    whole, split = whole_run(), split_run()
    assert (whole.detail["files"], whole.detail["tasks"]) == (2, 2)
    assert split.detail["files"] == 2 and split.detail["tasks"] > 10
    assert (split.n_in, split.n_kept, split.n_rejected) == (whole.n_in, whole.n_kept, whole.n_rejected) == (81, 80, 1)

    def rows(cfg):
        return sorted((r["doc_id"], r["source"], r["record_offset"], r["text"], r["source_id"],
                       json.dumps(r["metadata"])) for r in table(cfg, "bronze/documents"))

    assert rows(split_cfg) == rows(whole_cfg)
    by_source = {}
    for r in table(split_cfg, "bronze/documents"):
        by_source.setdefault(r["source"], []).append(r)
    assert sorted(r["record_offset"] for r in by_source["mixed-p"]) == list(range(40))  # row index
    assert sorted(dict(r["metadata"])["rank"] for r in by_source["mixed-j"]) == sorted(str(i) for i in range(40))
    assert {dict(r["metadata"])["lang"] for r in by_source["mixed-p"]} == {"de"}
    log = table(split_cfg, "_ingest_log")
    assert sorted((r["file_uri"].rsplit("/", 1)[-1], r["n_records"], r["n_docs"], r["n_quarantined"]) for r in log) \
        == [("docs.jsonl", 41, 40, 1), ("docs.parquet", 40, 40, 0)]
    assert [q["record_offset"] for q in table(split_cfg, "bronze/quarantine")] == \
        [(src / "docs.jsonl").read_bytes().index(b"{broken")]
    again = split_run()
    assert (again.n_in, again.detail["files"]) == (0, 0)
    assert len(table(split_cfg, "bronze/documents")) == 80 and len(table(split_cfg, "_ingest_log")) == 2
