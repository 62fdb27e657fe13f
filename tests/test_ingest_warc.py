"""WARC ingest against real WARC files written with warcio from Debian's own HTML documentation
(/usr/share/doc, installed by apt), plus corrupted variants. Expected texts come from Resiliparse
itself (the reference extractor) run on the same HTML, not from our code."""
from __future__ import annotations

import io
import pathlib
from collections import Counter

import deltalake
import pytest
from resiliparse.extract.html2text import extract_plain_text
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tokenlake.config import from_dict
from tokenlake.demo import demo_config
from tokenlake.pipeline import run_pipeline
from tokenlake.readers.records import Doc, Quarantine, ReadOptions, read_file


def doc_pages(n: int = 4) -> list[tuple[str, bytes]]:
    pages = sorted(p for p in pathlib.Path("/usr/share/doc").rglob("*.html") if p.is_file() and p.stat().st_size > 1500)
    assert len(pages) >= n, "needs HTML documentation under /usr/share/doc (Debian packages)"
    return [(f"http://127.0.0.1/{p.relative_to('/usr/share/doc')}", p.read_bytes()) for p in pages[:n]]


def write_warc(path: pathlib.Path, pages, gz: bool, wget_style_uri: bool = False) -> list[tuple[str, bytes]]:
    """request + response per page, a 404, a PNG response and a metadata record."""
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=gz)
        for url, html in pages:
            w.write_record(w.create_warc_record(url, "request", payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n")))
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            rec = w.create_warc_record(url, "response", payload=io.BytesIO(html), http_headers=http)
            if wget_style_uri:
                rec.rec_headers.replace_header("WARC-Target-URI", f"<{url}>")
            w.write_record(rec)
        w.write_record(w.create_warc_record(
            "http://127.0.0.1/missing", "response", payload=io.BytesIO(b"<html>gone</html>"),
            http_headers=StatusAndHeaders("404 Not Found", [("Content-Type", "text/html")], protocol="HTTP/1.1")))
        w.write_record(w.create_warc_record(
            "http://127.0.0.1/x.png", "response", payload=io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\0" * 64),
            http_headers=StatusAndHeaders("200 OK", [("Content-Type", "image/png")], protocol="HTTP/1.1")))
        w.write_record(w.create_warc_record("http://127.0.0.1/", "metadata", payload=io.BytesIO(b"via: test\r\n"),
                                            warc_content_type="application/warc-fields"))
    return pages


def expected(pages) -> list[str]:
    return [extract_plain_text(html.decode("utf-8"), main_content=True) for _, html in pages]


def read(path, fmt="warc"):
    skipped = Counter()
    recs = list(read_file(str(path), ReadOptions(fmt), None, skipped))
    return [r for r in recs if isinstance(r, Doc)], [r for r in recs if isinstance(r, Quarantine)], skipped


@pytest.mark.parametrize("gz", [False, True])
def test_warc_html_responses_become_resiliparse_text(tmp_path, gz):
    pages = doc_pages()
    path = tmp_path / ("crawl.warc.gz" if gz else "crawl.warc")
    write_warc(path, pages, gz)
    docs, quarantine, skipped = read(path)
    assert quarantine == []
    assert [d.text for d in docs] == [t for t in expected(pages)]
    assert [d.url for d in docs] == [u for u, _ in pages]
    assert all(d.warc_record_id.startswith("<urn:uuid:") and d.http_status == 200 for d in docs)
    assert all(d.content_type == "text/html" and d.charset == "utf-8" and d.crawl_date for d in docs)
    assert skipped == {"warc_request_record": len(pages), "http_not_200": 1, "not_html": 1,
                       "warc_metadata_record": 1}


def test_wget_bracketed_target_uri(tmp_path):
    pages = doc_pages(2)
    write_warc(tmp_path / "w.warc", pages, gz=False, wget_style_uri=True)
    docs, _, _ = read(tmp_path / "w.warc")
    assert [d.url for d in docs] == [u for u, _ in pages]


def test_truncated_record_keeps_earlier_records(tmp_path):
    pages = doc_pages()
    full = tmp_path / "full.warc"
    write_warc(full, pages, gz=False)
    data = full.read_bytes()
    # cut in the middle of the last page's HTML
    cut = data.index(pages[-1][1][:200]) + 100
    (tmp_path / "cut.warc").write_bytes(data[:cut])
    docs, quarantine, _ = read(tmp_path / "cut.warc")
    assert [d.text for d in docs] == expected(pages)[:-1]
    assert [q.reason for q in quarantine] == ["warc_truncated_record"]


def test_corrupt_gzip_member_quarantines_rest_of_file(tmp_path):
    pages = doc_pages()
    write_warc(tmp_path / "ok.warc.gz", pages, gz=True)
    data = bytearray((tmp_path / "ok.warc.gz").read_bytes())
    # members: request0, response0, request1, response1, ...; corrupt the deflate data of response 2
    starts = [i for i in range(len(data) - 1) if data[i:i + 3] == b"\x1f\x8b\x08"]
    bad = starts[5]
    data[bad + 30:bad + 60] = b"\xff" * 30
    (tmp_path / "bad.warc.gz").write_bytes(bytes(data))
    docs, quarantine, _ = read(tmp_path / "bad.warc.gz")
    assert [d.text for d in docs] == expected(pages)[:2]
    assert [q.reason for q in quarantine] == ["warc_parse_error"]


def test_empty_and_garbage_warc(tmp_path):
    (tmp_path / "empty.warc").write_bytes(b"")
    (tmp_path / "junk.warc").write_bytes(b"this is not a warc file\n" * 10)
    assert [q.reason for q in read(tmp_path / "empty.warc")[1]] == ["warc_no_records"]
    assert [q.reason for q in read(tmp_path / "junk.warc")[1]] == ["warc_parse_error"]


def test_ingest_stage_warc_exactly_once(engine, tmp_path):
    pages = doc_pages()
    src = tmp_path / "crawl"
    src.mkdir()
    write_warc(src / "a.warc.gz", pages[:2], gz=True)
    data = demo_config(tmp_path)
    data["sources"] = [{"name": "crawl", "uri": str(src), "format": "warc"}]
    cfg = from_dict(data)
    first = run_pipeline(cfg, stages=["ingest"], engine=engine, quiet=True).results[0]
    assert first.n_kept == 2
    assert first.detail["skipped_records"] == {"warc_request_record": 2, "http_not_200": 1, "not_html": 1,
                                               "warc_metadata_record": 1}
    rows = deltalake.DeltaTable(str(pathlib.Path(cfg.lake.root) / "bronze/documents")).to_pyarrow_table().to_pylist()
    assert sorted(r["text"] for r in rows) == sorted(expected(pages[:2]))
    assert {r["http_status"] for r in rows} == {200} and all(r["warc_record_id"] for r in rows)
    # re-run: nothing new; a new file is picked up alone
    again = run_pipeline(cfg, stages=["ingest"], engine=engine, quiet=True, force=True).results[0]
    assert again.n_kept == 0
    write_warc(src / "b.warc", pages[2:], gz=False)
    third = run_pipeline(cfg, stages=["ingest"], engine=engine, quiet=True).results[0]
    assert third.n_kept == len(pages) - 2
    rows = deltalake.DeltaTable(str(pathlib.Path(cfg.lake.root) / "bronze/documents")).to_pyarrow_table().to_pylist()
    assert len(rows) == len(pages)


def test_wet_conversion_records_are_documents(tmp_path):
    """WET: conversion records hold text already; their payload is the document as is."""
    texts = expected(doc_pages(3))
    with open(tmp_path / "c.warc.wet.gz", "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        w.write_record(w.create_warcinfo_record("c.warc.wet.gz", {"software": "test"}))
        for i, text in enumerate(texts):
            w.write_record(w.create_warc_record(f"http://127.0.0.1/{i}", "conversion",
                                                payload=io.BytesIO(text.encode("utf-8")),
                                                warc_content_type="text/plain"))
    docs, quarantine, skipped = read(tmp_path / "c.warc.wet.gz", "wet")
    assert [d.text for d in docs] == texts and quarantine == []
    assert [d.url for d in docs] == [f"http://127.0.0.1/{i}" for i in range(3)]
    assert skipped == {"warc_warcinfo_record": 1}


def test_trafilatura_extractor_gives_its_own_main_text(engine, tmp_path):
    """ingest.html_extractor: trafilatura: each page's text is trafilatura's own extract of it,
    tag-free and different from the raw HTML and from Resiliparse's text."""
    import re

    import trafilatura

    pages = doc_pages()
    write_warc(tmp_path / "t.warc.gz", pages, gz=True)
    skipped = Counter()
    recs = list(read_file(str(tmp_path / "t.warc.gz"), ReadOptions("warc", html_extractor="trafilatura"), None, skipped))
    docs = [r for r in recs if isinstance(r, Doc)]
    assert len(docs) == len(pages) and not [r for r in recs if isinstance(r, Quarantine)]
    for doc, (_, html), resiliparse_text in zip(docs, pages, expected(pages)):
        assert doc.text == trafilatura.extract(html.decode("utf-8"))
        assert len(doc.text) > 1000 and not re.search(r"<(html|head|body|div|span|a|p|table)\b", doc.text, re.I)
        assert doc.text != html.decode("utf-8") and doc.text != resiliparse_text
    data = demo_config(tmp_path)  # the same through the stage, selected in the config
    data["sources"] = [{"name": "crawl", "uri": str(tmp_path / "t.warc.gz"), "format": "warc"}]
    data["ingest"] = {"html_extractor": "trafilatura"}
    cfg = from_dict(data)
    assert run_pipeline(cfg, stages=["ingest"], engine=engine, quiet=True).results[0].n_kept == len(pages)
    rows = deltalake.DeltaTable(str(pathlib.Path(cfg.lake.root) / "bronze/documents")).to_pyarrow_table().to_pylist()
    assert sorted(r["text"] for r in rows) == sorted(d.text for d in docs)


def test_trafilatura_selected_but_missing_is_a_config_error(engine, tmp_path, monkeypatch):
    import sys

    from tokenlake.config import ConfigError
    from tokenlake.readers.records import MissingDependency

    src = tmp_path / "crawl"
    src.mkdir()
    write_warc(src / "a.warc", doc_pages(2), gz=False)
    data = demo_config(tmp_path)
    data["sources"] = [{"name": "crawl", "uri": str(src), "format": "warc"}]
    data["ingest"] = {"html_extractor": "trafilatura"}
    monkeypatch.setitem(sys.modules, "trafilatura", None)  # import trafilatura now raises ImportError
    with pytest.raises(ConfigError, match=r"trafilatura.*not installed.*tokenlake\[trafilatura\]"):
        run_pipeline(from_dict(data), stages=["ingest"], engine=engine, quiet=True)
    assert not (pathlib.Path(data["lake"]["root"]) / "bronze" / "documents").exists()
    # a worker without it fails the file loudly instead of quarantining every page
    with pytest.raises(MissingDependency, match="not installed"):
        list(read_file(str(src / "a.warc"), ReadOptions("warc", html_extractor="trafilatura")))
