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


# --- byte ranges of WARC files gzipped per record -------------------------------------------------


def write_split_warc(path: pathlib.Path, n_pages: int = 12) -> list[tuple[str, bytes]]:
    """A per-record-gzip WARC (warcio: one gzip member per record) of real HTML pages, with in the
    middle an octet-stream response of incompressible bytes holding gzip's magic bytes (deflate
    stores it verbatim: false member starts a range scan must skip)."""
    import random

    pages = doc_pages(n_pages)
    rnd = random.Random(7)
    noise = bytearray(rnd.randbytes(100_000))  # past the first deflate block: stored blocks
    for at in (30_000, 60_000, 90_000):
        noise[at:at + 3] = b"\x1f\x8b\x08"
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        w.write_record(w.create_warcinfo_record(path.name, {"software": "test"}))
        for i, (url, html) in enumerate(pages):
            w.write_record(w.create_warc_record(url, "request", payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n")))
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(html), http_headers=http))
            if i == n_pages // 2:
                w.write_record(w.create_warc_record(
                    "http://127.0.0.1/blob", "response", payload=io.BytesIO(bytes(noise)),
                    http_headers=StatusAndHeaders("200 OK", [("Content-Type", "application/octet-stream")],
                                                  protocol="HTTP/1.1")))
    return pages


def members(path) -> list[int]:
    """Offsets of the file's records as FastWARC reports them (whole-file read)."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    with open(path, "rb") as fh:
        return [r.stream_pos for r in ArchiveIterator(fh, record_types=WarcRecordType.any_type, parse_http=False)]


def rkey(r):
    if isinstance(r, Doc):
        return ("doc", r.offset, r.text, r.url, r.warc_record_id, r.crawl_date, r.http_status)
    return ("q", r.offset, r.reason)


def read_ranges(path, split, fmt="warc"):
    """Every range of the file read as a task would: (records per range, summed skipped counts)."""
    from tokenlake.stages.ingest import byte_ranges

    skipped, per_range = Counter(), []
    for start, end in byte_ranges(pathlib.Path(path).stat().st_size, split):
        per_range.append(((start, end), list(read_file(str(path), ReadOptions(fmt), None, skipped, start,
                                                       None if end < 0 else end))))
    return per_range, skipped


@pytest.mark.parametrize("split", [97, 1500, 7000, 40000, 10**9])
def test_warc_byte_ranges_read_each_record_once(tmp_path, split):
    path = tmp_path / "crawl.warc.gz"
    pages = write_split_warc(path)
    raw = path.read_bytes()
    starts = members(path)
    assert all(raw[s:s + 3] == b"\x1f\x8b\x08" for s in starts)
    magic = [i for i in range(len(raw) - 2) if raw[i:i + 3] == b"\x1f\x8b\x08"]
    assert len(set(magic) - set(starts)) >= 2  # the false member starts are there
    skipped = Counter()
    whole = list(read_file(str(path), ReadOptions("warc"), None, skipped))
    assert [r.text for r in whole] == expected(pages)
    per_range, ranged_skipped = read_ranges(path, split)
    assert [rkey(r) for _, recs in per_range for r in recs] == [rkey(r) for r in whole]
    assert ranged_skipped == skipped == {"warc_warcinfo_record": 1, "warc_request_record": len(pages), "not_html": 1}
    for (start, end), recs in per_range:  # each range reads the records whose member starts in it
        hi = len(raw) if end < 0 else end
        assert [r.offset for r in recs] == [r.offset for r in whole if start <= r.offset < hi]
    if split == 1500:  # the cases the scan exists for
        inside = [(s, e) for (s, e), _ in per_range if s not in starts]
        assert inside and any(not any(s <= m < e for m in starts) for s, e in inside)  # a range with no start
        assert any(recs for (s, e), recs in per_range if s not in starts and s > 0)  # boundary inside a member
        assert any(s <= f < e for (s, e), _ in per_range for f in set(magic) - set(starts))


def test_warc_range_with_no_member_start_yields_nothing(tmp_path):
    path = tmp_path / "crawl.warc.gz"
    write_split_warc(path)
    starts = members(path)
    gap = max(zip(starts, starts[1:]), key=lambda p: p[1] - p[0])  # inside the biggest member
    assert gap[1] - gap[0] > 10_000
    skipped = Counter()
    assert list(read_file(str(path), ReadOptions("warc"), None, skipped, gap[0] + 1, gap[1])) == []
    assert skipped == {}  # and no warc_no_records / empty_file entry
    # one byte more holds the next member's start: that record (a request) is read, and skipped
    assert list(read_file(str(path), ReadOptions("warc"), None, skipped, gap[0] + 1, gap[1] + 1)) == []
    assert skipped == {"warc_request_record": 1}


def test_gzip_per_record_tells_splittable_warcs(tmp_path):
    import gzip

    from tokenlake.readers.records import splittable, warc_splittable

    per_record = tmp_path / "a.warc.gz"
    write_split_warc(per_record, 4)
    plain = tmp_path / "a.warc"
    write_warc(plain, doc_pages(4), gz=False)
    whole = tmp_path / "whole.warc.gz"
    whole.write_bytes(gzip.compress(plain.read_bytes()))
    import random

    def first_member_of(n_bytes: int) -> pathlib.Path:
        path = tmp_path / f"first-{n_bytes}.warc.gz"
        with open(path, "wb") as fh:
            w = WARCWriter(fh, gzip=True)
            w.write_record(w.create_warc_record("http://127.0.0.1/big", "resource",
                                                payload=io.BytesIO(random.Random(1).randbytes(n_bytes)),
                                                warc_content_type="application/octet-stream"))
            w.write_record(w.create_warc_record("http://127.0.0.1/", "metadata",
                                                payload=io.BytesIO(b"via: t\r\n"),
                                                warc_content_type="application/warc-fields"))
        return path

    assert warc_splittable(str(per_record)) and not warc_splittable(str(whole))
    # the first member ends past the first 64 KB read, or just before its end: the head is read on
    assert warc_splittable(str(first_member_of(200_000))) and warc_splittable(str(first_member_of(64_500)))
    # over 1 MB: not known to be per record, read whole
    assert not warc_splittable(str(first_member_of(1_200_000)))
    assert not warc_splittable(str(tmp_path / "missing.warc.gz"))
    assert not warc_splittable(str(plain))  # not gzip at all
    assert splittable("warc", "x.warc.gz") and splittable("wet", "x.warc.wet.gz")
    assert not splittable("warc", "x.warc") and not splittable("warc", "x.warc.zst")


def test_wet_byte_ranges(tmp_path):
    texts = expected(doc_pages(8))
    path = tmp_path / "c.warc.wet.gz"
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        w.write_record(w.create_warcinfo_record(path.name, {"software": "test"}))
        for i, text in enumerate(texts):
            w.write_record(w.create_warc_record(f"http://127.0.0.1/{i}", "conversion",
                                                payload=io.BytesIO(text.encode("utf-8")),
                                                warc_content_type="text/plain"))
    whole = list(read_file(str(path), ReadOptions("wet")))
    assert [d.text for d in whole] == texts
    for split in (200, 3000, 20000):
        per_range, skipped = read_ranges(path, split, "wet")
        assert [rkey(r) for _, recs in per_range for r in recs] == [rkey(r) for r in whole]
        assert skipped == {"warc_warcinfo_record": 1}


def test_truncated_last_member_quarantines_in_ranges(tmp_path):
    path = tmp_path / "crawl.warc.gz"
    pages = write_split_warc(path)
    raw = path.read_bytes()
    last_response = members(path)[-1]
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(raw[:last_response + (len(raw) - last_response) // 2])
    whole = list(read_file(str(cut), ReadOptions("warc"), None, Counter()))
    assert [r.text for r in whole if isinstance(r, Doc)] == expected(pages)[:-1]
    assert [(q.offset, q.reason) for q in whole if isinstance(q, Quarantine)] == \
        [(last_response, "warc_truncated_record")]
    for split in (300, 5000, 30000):
        per_range, _ = read_ranges(cut, split)
        assert [rkey(r) for _, recs in per_range for r in recs] == [rkey(r) for r in whole]


@pytest.mark.parametrize("damage_at", [12, 30, 2000])
def test_damaged_member_is_reported_once_by_ranges(tmp_path, damage_at):
    """A corrupt member ends the range it is met in (a whole-file read loses the rest of the file);
    whatever the split, exactly one warc_parse_error at the member's offset, and every document
    before it is kept."""
    path = tmp_path / "crawl.warc.gz"
    write_split_warc(path)
    raw = path.read_bytes()
    starts = members(path)
    bad = starts[8]  # a response's member
    data = raw[:bad + damage_at] + b"\xff" * 30 + raw[bad + damage_at + 30:]
    (tmp_path / "bad.warc.gz").write_bytes(data)
    whole = list(read_file(str(tmp_path / "bad.warc.gz"), ReadOptions("warc"), None, Counter()))
    before = [rkey(r) for r in whole if isinstance(r, Doc)]
    assert before and all(r.offset < bad for r in whole if isinstance(r, Doc))
    for split in (97, 1500, 7000, 40000):
        per_range, _ = read_ranges(tmp_path / "bad.warc.gz", split)
        recs = [r for _, rs in per_range for r in rs]
        assert [(q.offset, q.reason) for q in recs if isinstance(q, Quarantine)] == [(bad, "warc_parse_error")]
        docs = [rkey(r) for r in recs if isinstance(r, Doc)]
        assert docs[:len(before)] == before and len(docs) > len(before)
        assert bad not in [r.offset for r in recs if isinstance(r, Doc)]


def split_stage(engine, tmp_path, name, src, split_bytes, min_split_bytes):
    data = demo_config(tmp_path / name)
    data["sources"] = [{"name": "crawl", "uri": str(src), "format": "warc"}]
    data["ingest"] = {"split_bytes": split_bytes, "min_split_bytes": min_split_bytes, "tasks_per_partition": 1}
    cfg = from_dict(data)
    return cfg, lambda: run_pipeline(cfg, stages=["ingest"], engine=engine, quiet=True, force=True).results[0]


def test_split_warc_ingest_gives_the_same_rows_exactly_once(engine, tmp_path):
    """Through the stage: a per-record-gzip WARC over the split size becomes many tasks, a
    whole-file-gzip one stays one task; bronze rows, doc_ids and the log are those of a whole-file
    run, and a rerun adds nothing."""
    import gzip

    src = tmp_path / "src"
    src.mkdir()
    pages = write_split_warc(src / "a.warc.gz")
    write_warc(tmp_path / "b.warc", doc_pages(6)[3:], gz=False)
    (src / "b.warc.gz").write_bytes(gzip.compress((tmp_path / "b.warc").read_bytes()))
    size_b = (src / "b.warc.gz").stat().st_size
    assert size_b > 3000
    whole_cfg, whole_run = split_stage(engine, tmp_path, "whole", src, 256 << 20, 8 << 20)
    split_cfg, split_run = split_stage(engine, tmp_path, "split", src, 3000, 1)
    whole, split = whole_run(), split_run()
    assert (whole.detail["files"], whole.detail["tasks"]) == (2, 2)
    n_ranges = len(byte_ranges_of(src / "a.warc.gz", 3000))
    assert split.detail["files"] == 2 and split.detail["tasks"] == n_ranges + 1 and n_ranges > 20
    assert (split.n_in, split.n_kept, split.n_rejected) == (whole.n_in, whole.n_kept, whole.n_rejected) \
        == (len(pages) + 3, len(pages) + 3, 0)
    assert split.detail["skipped_records"] == whole.detail["skipped_records"]

    def rows(cfg):
        return sorted((r["doc_id"], r["file_uri"], r["record_offset"], r["text"], r["url"], r["warc_record_id"])
                      for r in table(cfg, "bronze/documents"))

    assert rows(split_cfg) == rows(whole_cfg)
    assert sorted(r[3] for r in rows(split_cfg)) == sorted(expected(pages) + expected(doc_pages(6)[3:]))

    def log(cfg):
        return sorted((r["file_uri"], r["size"], r["n_records"], r["n_docs"], r["n_quarantined"])
                      for r in table(cfg, "_ingest_log"))

    assert log(split_cfg) == log(whole_cfg) and len(log(split_cfg)) == 2
    again = split_run()
    assert (again.n_in, again.detail["files"], again.detail["tasks"]) == (0, 0, 0)
    assert len(table(split_cfg, "bronze/documents")) == len(pages) + 3 and len(table(split_cfg, "_ingest_log")) == 2


def test_split_size_aims_at_tasks_per_partition(engine, tmp_path):
    """With the defaults' rule, a run is cut into about tasks_per_partition x partitions ranges
    (equal byte ranges are not equal work, so balance needs many); fewer tasks per partition,
    longer ranges."""
    src = tmp_path / "src"
    src.mkdir()
    write_split_warc(src / "a.warc.gz")
    size = (src / "a.warc.gz").stat().st_size
    tasks = {}
    for per in (2, 8):
        data = demo_config(tmp_path / f"per{per}")
        data["sources"] = [{"name": "crawl", "uri": str(src), "format": "warc"}]
        data["ingest"] = {"min_split_bytes": 1, "tasks_per_partition": per}
        cfg = from_dict(data)
        result = run_pipeline(cfg, stages=["ingest"], engine=engine, quiet=True).results[0]
        tasks[per] = result.detail["tasks"]
        assert tasks[per] == len(byte_ranges_of(src / "a.warc.gz", size // (per * cfg.engine.partitions)))
    assert tasks[8] > tasks[2] >= 2


def byte_ranges_of(path, split):
    from tokenlake.stages.ingest import byte_ranges

    return byte_ranges(pathlib.Path(path).stat().st_size, split)


def table(cfg, name):
    return deltalake.DeltaTable(str(pathlib.Path(cfg.lake.root) / name)).to_pyarrow_table().to_pylist()


@pytest.mark.parametrize("into", [3, 10, 40])
def test_file_cut_inside_the_last_gzip_member_header_is_reported(tmp_path, into):
    """FastWARC drops a member cut within its first bytes without a word; the reader reports it
    at the member's offset, after every complete record."""
    pages = doc_pages(3)
    full = tmp_path / "full.warc.gz"
    write_warc(full, pages, gz=True)
    data = full.read_bytes()
    last = data.rindex(b"\x1f\x8b\x08")  # the last member (the metadata record) begins here
    (tmp_path / "cut.warc.gz").write_bytes(data[:last + into])
    docs, quarantine, skipped = read(tmp_path / "cut.warc.gz")
    assert [d.text for d in docs] == expected(pages)
    assert [(q.reason, q.offset) for q in quarantine] == [("warc_truncated_record", last)]
    assert "warc_metadata_record" not in skipped
    assert read(full)[1] == []  # the whole file: nothing to report


def test_file_cut_inside_a_record_header_is_reported(tmp_path):
    pages = doc_pages(3)
    full = tmp_path / "full.warc"
    write_warc(full, pages, gz=False)
    data = full.read_bytes()
    last = data.rindex(b"WARC/1.")
    (tmp_path / "cut.warc").write_bytes(data[:last + 60])  # inside the metadata record's header
    docs, quarantine, _ = read(tmp_path / "cut.warc")
    assert [d.text for d in docs] == expected(pages)
    assert [(q.reason, q.offset) for q in quarantine] == [("warc_truncated_record", last)]


def test_html_depth_guard_finds_deep_nesting_only():
    from tokenlake.readers.warc import html_depth_over

    deep = "<html><body>" + "<div>" * 20_000 + "x" + "</div>" * 20_000 + "</body></html>"
    assert html_depth_over(deep) == 10_001
    # many tags, but flat: closed siblings, unclosed <li>/<p>, void <br>
    flat = "<ul>" + "<li><a href='#'>x</a>" * 20_000 + "</ul>" + "<p>a<br>b" * 5_000 + "<div>y</div>" * 5_000
    assert html_depth_over(flat) is None
    assert html_depth_over("<div>" * 500) is None  # under the limit: counted, not scanned
