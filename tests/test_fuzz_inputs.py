"""A generated corpus of broken inputs runs through every stage: the pipeline finishes, every bad
item is quarantined or rejected with a reason, counts balance at every stage, nothing good is lost."""
from __future__ import annotations

import gzip
import json
import pathlib
import random

import deltalake
import pytest

from tokenlake.config import from_dict
from tokenlake.demo import CORPUS, demo_config
from tokenlake.pipeline import run_pipeline

from test_ingest_warc import doc_pages, expected, write_warc

BIG = 50 * 1024 * 1024


def good_docs(n: int, skip: int = 0) -> list[dict]:
    rows = []
    for line in (CORPUS / "web" / "part-0.jsonl").read_text(encoding="utf-8").splitlines():
        if line.startswith("{") and '"text": "' in line:  # the demo corpus has bad lines of its own
            rows.append(json.loads(line))
    rows = [r for r in rows if len(r["text"]) > 200]
    return [{"id": f"{r['id']}-{skip}", "url": r["url"], "text": r["text"]} for r in rows[skip:skip + n]]


def jsonl(rows) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)


def build(src: pathlib.Path) -> dict[str, list[str]]:
    """Write the corpus; returns the texts of the good documents, by file, that must all survive."""
    rng = random.Random(0)
    src.mkdir(parents=True)
    good = {}
    g = good_docs(20)
    (src / "good.jsonl").write_bytes(jsonl(g))
    good["good.jsonl"] = [d["text"] for d in g]
    many = jsonl(good_docs(40, skip=20) * 5)
    (src / "truncated.jsonl.gz").write_bytes(gzip.compress(many, mtime=0)[: len(gzip.compress(many, mtime=0)) * 3 // 5])
    first = good_docs(5, skip=60)
    member2 = bytearray(gzip.compress(jsonl(good_docs(5, skip=65)), mtime=0))
    member2[len(member2) // 2: len(member2) // 2 + 16] = bytes(rng.randrange(256) for _ in range(16))
    (src / "corrupt_member.jsonl.gz").write_bytes(gzip.compress(jsonl(first), mtime=0) + bytes(member2))
    good["corrupt_member.jsonl.gz"] = [d["text"] for d in first]
    (src / "random.jsonl.gz").write_bytes(bytes(rng.randrange(256) for _ in range(50_000)))
    (src / "random.jsonl").write_bytes(bytes(rng.randrange(256) for _ in range(20_000)))
    (src / "wrong_types.jsonl").write_bytes(jsonl([{"text": ["a"]}, {"text": {"b": 1}}, {"text": None}, {"text": 3.5},
                                                   {"text": "fine but id is odd", "id": {"x": 1}}, [1, 2], "just a string",
                                                   {"no_text": "here"}]))
    (src / "invalid_utf8.jsonl").write_bytes(b'{"text": "valid start \xc3\x28 then \xff\xfe and more text ' + b"x" * 300
                                             + b'"}\n')
    nul_ok = {"text": "escaped NUL \u0000 inside a document that is otherwise fine " * 5}
    (src / "nul.jsonl").write_bytes(jsonl([nul_ok]) + b'{"text": "raw NUL \x00 byte"}\n')
    good["nul.jsonl"] = [nul_ok["text"]]
    (src / "huge_line.jsonl").write_bytes(b'{"text": "' + b"a" * BIG + b'"}\n' + jsonl(good_docs(1, skip=70)))
    good["huge_line.jsonl"] = [good_docs(1, skip=70)[0]["text"]]
    (src / "huge.txt").write_bytes(b"word " * (BIG // 5))
    (src / "empty.jsonl").write_bytes(b"")
    (src / "empty.txt").write_bytes(b"")
    after_nested = good_docs(1, skip=71)
    (src / "nested.jsonl").write_bytes(b'{"text": "deep", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n" + jsonl(after_nested))
    good["nested.jsonl"] = [after_nested[0]["text"]]
    (src / "binary.txt").write_bytes(bytes(rng.randrange(256) for _ in range(5_000)))
    return good


def warc_record(headers: dict[str, str], block: bytes) -> bytes:
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode() + block + b"\r\n\r\n"


def http_page(html: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html


def build_warc(src: pathlib.Path) -> dict[str, list[str]]:
    """Broken crawls: random bytes named .warc.gz, WARC headers with bad lengths, a WARC cut in the
    middle of a record, deeply nested HTML; each next to good records that must survive."""
    rng = random.Random(1)
    src.mkdir(parents=True)
    pages = doc_pages(6)
    write_warc(src / "good.warc.gz", pages[:2], gz=True)
    good = {"good.warc.gz": expected(pages[:2])}
    (src / "random.warc.gz").write_bytes(bytes(rng.randrange(256) for _ in range(30_000)))
    (src / "random_gzip.warc.gz").write_bytes(gzip.compress(bytes(rng.randrange(256) for _ in range(30_000)), mtime=0))

    def rec(i: int, block: bytes, length: int | str | None = None) -> bytes:
        return warc_record({"WARC-Type": "response", "WARC-Record-ID": f"<urn:uuid:00000000-0000-0000-0000-{i:012d}>",
                            "WARC-Date": "2025-01-01T00:00:00Z", "WARC-Target-URI": f"http://127.0.0.1/{i}",
                            "Content-Type": "application/http; msgtype=response",
                            "Content-Length": str(len(block) if length is None else length)}, block)

    ok = http_page(pages[2][1])
    good["bad_lengths.warc"] = expected(pages[2:3])
    (src / "bad_lengths.warc").write_bytes(rec(1, ok) + rec(2, http_page(b"<p>short</p>" * 50), length=40)
                                           + rec(3, ok, length="many") + rec(4, ok, length=10 ** 12))
    cut = rec(5, http_page(pages[3][1]))
    good["cut.warc.gz"] = expected(pages[4:5])
    (src / "cut.warc.gz").write_bytes(gzip.compress(rec(6, http_page(pages[4][1])), mtime=0)
                                      + gzip.compress(cut, mtime=0)[: len(gzip.compress(cut, mtime=0)) // 2])
    nested = b"<html><body>" + b"<div>" * 100_000 + b"deep text " * 20 + b"</div>" * 100_000 + b"</body></html>"
    (src / "nested.warc.gz").write_bytes(gzip.compress(rec(7, http_page(nested)) + rec(8, http_page(pages[5][1])),
                                                       mtime=0))
    good["nested.warc.gz"] = expected(pages[5:6])
    return good


@pytest.fixture(scope="module")
def fuzz_run(engine, tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz")
    good = build(base / "src")
    data = demo_config(base)
    data["sources"] = [{"name": "fuzz", "uri": str(base / "src"), "format": "jsonl"}]
    data["tokenizer"]["vocab_size"] = 500
    data["ingest"] = {"max_error_rate": 1.0}
    # text files are their own source (one document per file)
    txt = base / "txt"
    txt.mkdir()
    for p in (base / "src").glob("*.txt"):
        p.rename(txt / p.name)
    data["sources"].append({"name": "fuzz-text", "uri": str(txt), "format": "text"})
    good.update(build_warc(base / "warc"))
    data["sources"].append({"name": "fuzz-warc", "uri": str(base / "warc"), "format": "warc"})
    cfg = from_dict(data)
    return cfg, run_pipeline(cfg, engine=engine, quiet=True), good


def table(cfg, name):
    return deltalake.DeltaTable(str(pathlib.Path(cfg.lake.root) / name)).to_pyarrow_table().to_pylist()


def test_pipeline_finishes_and_counts_balance(fuzz_run):
    cfg, outcome, _ = fuzz_run
    assert [r.stage for r in outcome.results][-1] == "validate"
    for r in outcome.results:
        assert r.n_in == r.n_kept + r.n_rejected, r
    log = table(cfg, "_ingest_log")
    docs, quarantine = table(cfg, "bronze/documents"), table(cfg, "bronze/quarantine")
    for entry in log:  # per file: records read = documents + quarantine rows
        n_docs = sum(d["file_uri"] == entry["file_uri"] for d in docs)
        n_q = sum(q["file_uri"] == entry["file_uri"] for q in quarantine)
        assert (n_docs, n_q) == (entry["n_docs"], entry["n_quarantined"]) and entry["n_records"] == n_docs + n_q


def test_every_bad_item_has_a_reason(fuzz_run):
    cfg, _, _ = fuzz_run
    by_file: dict[str, set[str]] = {}
    for q in table(cfg, "bronze/quarantine"):
        by_file.setdefault(q["file_uri"].rsplit("/", 1)[-1], set()).add(q["reason"])
    assert by_file["truncated.jsonl.gz"] == {"read_error"}
    assert "read_error" in by_file["corrupt_member.jsonl.gz"]
    assert by_file["random.jsonl.gz"] == {"read_error"}
    assert by_file["random.jsonl"] <= {"jsonl_parse_error", "jsonl_bad_schema"} and by_file["random.jsonl"]
    assert by_file["wrong_types.jsonl"] == {"jsonl_bad_schema"}
    assert by_file["nul.jsonl"] == {"jsonl_parse_error"}
    assert by_file["huge_line.jsonl"] == {"doc_too_large"} and by_file["huge.txt"] == {"doc_too_large"}
    assert by_file["empty.jsonl"] == by_file["empty.txt"] == {"empty_file"}
    assert by_file["nested.jsonl"] == {"jsonl_parse_error"}
    assert by_file["nested.warc.gz"] == {"html_too_deep"}  # extraction would take minutes
    assert by_file["random.warc.gz"] and by_file["random.warc.gz"] <= {"warc_parse_error", "warc_no_records", "read_error"}
    assert by_file["random_gzip.warc.gz"] and by_file["random_gzip.warc.gz"] <= {"warc_parse_error", "warc_no_records"}
    assert "warc_parse_error" in by_file["bad_lengths.warc"]  # a length that is not a number
    assert by_file["bad_lengths.warc"] <= {"warc_parse_error", "warc_truncated_record", "empty_text"}
    assert by_file["cut.warc.gz"] and by_file["cut.warc.gz"] <= {"warc_parse_error", "warc_truncated_record", "read_error"}
    wrong = [q for q in table(cfg, "bronze/quarantine") if q["file_uri"].endswith("wrong_types.jsonl")]
    assert len(wrong) == 8
    bronze = {d["file_uri"].rsplit("/", 1)[-1]: d for d in table(cfg, "bronze/documents")}
    assert bronze["invalid_utf8.jsonl"]["decode_errors"] >= 3
    rejected = {r["doc_id"] for r in table(cfg, "silver/rejected")}
    silver = {r["doc_id"] for r in table(cfg, "silver/documents")}
    assert {d["doc_id"] for d in table(cfg, "bronze/documents")} == silver | {r for r in rejected if r not in silver}


def test_nothing_good_is_lost(fuzz_run):
    cfg, _, good = fuzz_run
    bronze_ids = {d["text"]: d["doc_id"] for d in table(cfg, "bronze/documents")}
    for name, texts in good.items():
        for t in texts:
            assert t in bronze_ids, name
    # past bronze, every good document is published or rejected by a rule with its reason
    gold = {d["doc_id"] for d in table(cfg, "gold/documents")}
    rejected = {r["doc_id"]: r["reason"] for r in table(cfg, "silver/rejected")}
    good_ids = [bronze_ids[t] for texts in good.values() for t in texts]
    assert all(i in gold or rejected.get(i) for i in good_ids)
    assert sum(i in gold for i in good_ids) >= len(good_ids) // 2
