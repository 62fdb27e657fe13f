"""Readers turn every bad record into a quarantine entry with a reason and keep the rest."""
import gzip
import json

import zstandard

from tokenlake.readers.records import Doc, Quarantine, ReadOptions, read_file


def reasons(records):
    return [r.reason for r in records if isinstance(r, Quarantine)]


def docs(records):
    return [r for r in records if isinstance(r, Doc)]


def lines(*objs):
    return b"".join((o if isinstance(o, bytes) else json.dumps(o).encode()) + b"\n" for o in objs)


def test_jsonl_bad_lines_are_quarantined_with_reasons(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(lines({"text": "good one", "id": 7, "url": "u"}, b"{not json", [1, 2], {"text": 5},
                        {"txt": "wrong field"}, {"text": "x", "url": {"a": 1}}, {"text": "   "}, b"",
                        {"text": "good two"}))
    recs = list(read_file(str(p), ReadOptions("jsonl")))
    assert [d.text for d in docs(recs)] == ["good one", "good two"]
    assert docs(recs)[0].source_id == "7"
    assert reasons(recs) == ["jsonl_parse_error", "jsonl_bad_schema", "jsonl_bad_schema", "jsonl_bad_schema",
                             "jsonl_bad_schema", "empty_text"]


def test_offsets_are_byte_offsets(tmp_path):
    body = lines({"text": "é" * 3}, {"text": "b"})
    p = tmp_path / "o.jsonl"
    p.write_bytes(body)
    recs = docs(read_file(str(p), ReadOptions("jsonl")))
    assert recs[1].offset == body.index(b"\n") + 1


def test_invalid_utf8_is_replaced_and_counted(tmp_path):
    p = tmp_path / "u.jsonl"
    p.write_bytes(b'{"text": "caf\xe9 ok \xff\xfe"}\n')
    (doc,) = read_file(str(p), ReadOptions("jsonl"))
    assert doc.decode_errors == 3
    assert doc.text.count("\ufffd") == 3


def test_truncated_gzip_keeps_records_before_the_damage(tmp_path):
    body = lines(*[{"text": f"document number {i} " * 20} for i in range(2000)])
    good = gzip.compress(body)
    p = tmp_path / "t.jsonl.gz"
    p.write_bytes(good[: len(good) // 2])
    recs = list(read_file(str(p), ReadOptions("jsonl")))
    assert reasons(recs) == ["read_error"]
    assert 0 < len(docs(recs)) < 2000
    assert docs(recs)[-1].text.startswith(f"document number {len(docs(recs)) - 1} ")


def test_zstd_and_empty_files(tmp_path):
    z = tmp_path / "a.jsonl.zst"
    z.write_bytes(zstandard.ZstdCompressor().compress(lines({"text": "zstd text"})))
    assert [d.text for d in docs(read_file(str(z), ReadOptions("jsonl")))] == ["zstd text"]
    e = tmp_path / "e.jsonl"
    e.write_bytes(b"")
    assert reasons(read_file(str(e), ReadOptions("jsonl"))) == ["empty_file"]


def test_text_file_over_cap_is_quarantined_without_reading_it_all(tmp_path):
    p = tmp_path / "big.txt"
    p.write_text("word " * 100_000)
    recs = list(read_file(str(p), ReadOptions("text", max_doc_chars=1000)))
    assert reasons(recs) == ["doc_too_large"]
    ok = list(read_file(str(p), ReadOptions("text", max_doc_chars=1_000_000)))
    assert len(docs(ok)) == 1 and len(docs(ok)[0].text) == 500_000
