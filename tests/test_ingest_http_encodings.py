"""WARC responses stored raw, as wget and warcio's capture store them: chunked framing and gzip or
deflate content codings are undone before HTML extraction. The oracle for the bytes is warcio's own
decoding of the same records; the oracle for the text is Resiliparse on the original page."""
from __future__ import annotations

import gzip
import io
import zlib

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from test_ingest_warc import doc_pages, expected, read


def chunked(data: bytes, size: int = 1000) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + size]), data[i:i + size])
                    for i in range(0, len(data), size)) + b"0\r\n\r\n"


CODINGS = {
    "chunked": (lambda b: chunked(b), [("Transfer-Encoding", "chunked")]),
    "gzip": (lambda b: gzip.compress(b), [("Content-Encoding", "gzip")]),
    "chunked+gzip": (lambda b: chunked(gzip.compress(b), 777), [("Transfer-Encoding", "chunked"),
                                                               ("Content-Encoding", "gzip")]),
    "deflate": (lambda b: zlib.compress(b), [("Content-Encoding", "deflate")]),
}


def write_encoded_warc(path, pages, broken: bool = False):
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        for (url, html), (encode, headers) in zip(pages, CODINGS.values()):
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"), *headers],
                                    protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(encode(html)), http_headers=http,
                                                length=None))
        if broken:
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
                                    protocol="HTTP/1.1")
            w.write_record(w.create_warc_record("http://127.0.0.1/broken", "response", http_headers=http,
                                                payload=io.BytesIO(b"\x1f\x8b\x08\x00" + b"not deflate data" * 50)))


def test_chunked_and_compressed_responses_become_the_page_text(tmp_path):
    pages = doc_pages(len(CODINGS))
    path = tmp_path / "raw.warc.gz"
    write_encoded_warc(path, pages)
    with open(path, "rb") as fh:  # warcio decodes framing and codings itself: the bytes we must reach
        oracle = [r.content_stream().read() for r in ArchiveIterator(fh) if r.rec_type == "response"]
    assert oracle == [html for _, html in pages]
    docs, quarantine, _ = read(path)
    assert quarantine == []
    assert [d.text for d in docs] == expected(pages)
    assert [d.url for d in docs] == [u for u, _ in pages]


def test_a_body_that_cannot_be_decoded_is_quarantined_with_a_reason(tmp_path):
    pages = doc_pages(len(CODINGS))
    path = tmp_path / "raw.warc.gz"
    write_encoded_warc(path, pages, broken=True)
    docs, quarantine, _ = read(path)
    assert [d.text for d in docs] == expected(pages)
    assert [q.reason for q in quarantine] == ["http_content_decode_error"]
    assert "gzip" in quarantine[0].detail


def test_unknown_declared_charsets_are_detected_instead(tmp_path):
    """`charset=none`, `x-user-defined` and typos are common in real crawls: the page is decoded
    with the detected encoding, and the pages after it are still read."""
    html = "<html><body><p>Ærø, Škoda, naïve café: déjà vu. Straße und Grüße.</p></body></html>"
    pages = [("http://127.0.0.1/a", "none", html.encode("cp1252")),
             ("http://127.0.0.1/b", "x-user-defined", html.encode("utf-8")),
             ("http://127.0.0.1/c", '"utf-8"', html.encode("utf-8")),
             ("http://127.0.0.1/d", "utf8mb4", html.encode("utf-8"))]
    path = tmp_path / "charsets.warc.gz"
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        for url, charset, body in pages:
            http = StatusAndHeaders("200 OK", [("Content-Type", f"text/html; charset={charset}")], protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http))
    docs, quarantine, _ = read(path)
    assert quarantine == []
    assert [d.url for d in docs] == [u for u, _, _ in pages]
    assert all("Straße und Grüße" in d.text and "Škoda" in d.text for d in docs[1:]), [d.text for d in docs]
    assert "Straße und Grüße" in docs[0].text  # cp1252 bytes, detected (Š is not in every single-byte guess)
    assert docs[2].charset == "utf-8" and docs[1].charset not in ("x-user-defined", None)
