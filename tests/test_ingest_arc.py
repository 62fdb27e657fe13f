"""ARC v1 crawls (format: arc), written by hand from the spec's header line
``URL IP-address Archive-date Content-type Archive-length`` around Debian's HTML documentation;
expected texts come from Resiliparse run on the same HTML."""
from __future__ import annotations

import gzip
import pathlib
from collections import Counter

import deltalake
import pytest

from tokenlake.config import from_dict
from tokenlake.demo import demo_config
from tokenlake.pipeline import run_pipeline
from tokenlake.readers.records import Doc, Quarantine, ReadOptions, read_file

from test_ingest_warc import doc_pages, expected

DATE = "20260102030405"


def arc_record(url: str, ctype: str, body: bytes, ip: str = "127.0.0.1") -> bytes:
    return f"{url} {ip} {DATE} {ctype} {len(body)}\n".encode() + body + b"\n"


def http(status: str, ctype: str, body: bytes) -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def arc_records(pages) -> list[bytes]:
    """The version block, one response per page, a 404, a PNG and a dns: capture."""
    version = b"1 0 tokenlake\nURL IP-address Archive-date Content-type Archive-length\n"
    recs = [arc_record("filedesc://test.arc", "text/plain", version, ip="0.0.0.0")]
    for url, html in pages:
        recs.append(arc_record(url, "text/html", http("200 OK", "text/html; charset=utf-8", html)))
    recs.append(arc_record("http://127.0.0.1/missing", "text/html", http("404 Not Found", "text/html", b"<p>gone</p>")))
    recs.append(arc_record("http://127.0.0.1/x.png", "image/png", http("200 OK", "image/png", b"\x89PNG" + b"\0" * 64)))
    recs.append(arc_record("dns:127.0.0.1", "text/dns", b"20260102030405\n127.0.0.1. 3600 IN A 127.0.0.1\n"))
    return recs


def write_arc(path: pathlib.Path, pages, gz: str | None) -> None:
    recs = arc_records(pages)
    if gz == "record":
        path.write_bytes(b"".join(gzip.compress(r, mtime=0) for r in recs))
    elif gz == "file":
        path.write_bytes(gzip.compress(b"".join(recs), mtime=0))
    else:
        path.write_bytes(b"".join(recs))


def read(path):
    skipped = Counter()
    recs = list(read_file(str(path), ReadOptions("arc"), None, skipped))
    return [r for r in recs if isinstance(r, Doc)], [r for r in recs if isinstance(r, Quarantine)], skipped


@pytest.mark.parametrize("gz", [None, "record", "file"])
def test_arc_html_responses_become_resiliparse_text(tmp_path, gz):
    pages = doc_pages()
    path = tmp_path / ("crawl.arc.gz" if gz else "crawl.arc")
    write_arc(path, pages, gz)
    docs, quarantine, skipped = read(path)
    assert quarantine == []
    assert [d.text for d in docs] == expected(pages)
    assert [d.url for d in docs] == [u for u, _ in pages]
    assert all(d.crawl_date == "2026-01-02T03:04:05Z" and d.http_status == 200 and d.content_type == "text/html"
               and d.charset == "utf-8" and d.warc_record_id is None for d in docs)
    plain = b"".join(arc_records(pages))
    assert [d.offset for d in docs] == [plain.index(f"{u} 127.0.0.1".encode()) for u, _ in pages]
    assert skipped == {"arc_warcinfo_record": 1, "http_not_200": 1, "not_html": 1, "warc_not_http": 1}


def test_truncated_and_garbage_arc(tmp_path):
    pages = doc_pages()
    data = b"".join(arc_records(pages))
    cut = data.index(pages[-1][1][:200]) + 100  # inside the last page's HTML
    (tmp_path / "cut.arc").write_bytes(data[:cut])
    docs, quarantine, _ = read(tmp_path / "cut.arc")
    assert [d.text for d in docs] == expected(pages)[:-1]
    assert [q.reason for q in quarantine] == ["arc_truncated_record"]
    (tmp_path / "junk.arc").write_bytes(b"this is not an arc file\n" * 10)
    assert [q.reason for q in read(tmp_path / "junk.arc")[1]] == ["arc_parse_error"]
    (tmp_path / "empty.arc").write_bytes(b"")
    assert [q.reason for q in read(tmp_path / "empty.arc")[1]] == ["arc_no_records"]
    (tmp_path / "bad.arc.gz").write_bytes(gzip.compress(data)[:-300])  # whole-file gzip cut in the last page
    docs, quarantine, _ = read(tmp_path / "bad.arc.gz")
    assert [d.text for d in docs] == expected(pages)[:-1] and [q.reason for q in quarantine] == ["read_error"]


def test_ingest_stage_arc(engine, tmp_path):
    pages = doc_pages()
    src = tmp_path / "crawl"
    src.mkdir()
    write_arc(src / "a.arc.gz", pages, "record")
    data = demo_config(tmp_path)
    data["sources"] = [{"name": "old-crawl", "uri": str(src), "format": "arc"}]
    cfg = from_dict(data)
    result = run_pipeline(cfg, stages=["ingest"], engine=engine, quiet=True).results[0]
    assert (result.n_kept, result.n_rejected) == (len(pages), 0)
    assert result.detail["skipped_records"] == {"arc_warcinfo_record": 1, "http_not_200": 1, "not_html": 1,
                                                "warc_not_http": 1}
    rows = deltalake.DeltaTable(str(pathlib.Path(cfg.lake.root) / "bronze/documents")).to_pyarrow_table().to_pylist()
    assert sorted(r["text"] for r in rows) == sorted(expected(pages))
    assert run_pipeline(cfg, stages=["ingest"], engine=engine, quiet=True, force=True).results[0].n_kept == 0
