"""WARC / WET records -> documents, streaming through FastWARC.

HTTP 200 HTML responses become text via Resiliparse main-content extraction (or trafilatura when
configured); WET conversion records are already text. Everything else (requests, metadata,
non-200, non-HTML) is counted per reason in ``skipped`` and not kept. A stream that stops before
its end (truncated record, corrupt gzip member) yields one quarantine entry at the last good
offset, so the records before it still land.
"""
from __future__ import annotations

from collections import Counter
from typing import IO, Iterator

from .records import SAMPLE_CHARS, Doc, MissingDependency, Quarantine, ReadOptions, checked, decode

HTML_TYPES = ("text/html", "application/xhtml+xml")


def _target_uri(headers) -> str | None:
    """WARC-Target-URI; WARC 1.0 writers such as wget wrap it in <...>."""
    uri = headers.get("WARC-Target-URI")
    if uri and uri.startswith("<") and uri.endswith(">"):
        uri = uri[1:-1]
    return uri or None


def _to_text(body: bytes, charset: str | None) -> tuple[str, str, int]:
    """(text, charset used, invalid bytes). UTF-8 goes through ``decode`` so invalid bytes are counted."""
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    enc = (charset or "").strip().lower() or detect_encoding(body)
    if enc in ("utf-8", "utf8", "ascii", "us-ascii"):
        text, errors = decode(body)
        return text, "utf-8", errors
    return bytes_to_str(body, enc), enc, 0


def extract_html(html: str, extractor: str = "resiliparse") -> str:
    if extractor == "trafilatura":
        try:
            import trafilatura  # optional dependency (extra "trafilatura"), only when configured
        except ImportError as exc:
            raise MissingDependency("ingest.html_extractor is 'trafilatura' but it is not installed: "
                                    "pip install 'tokenlake[trafilatura]'") from exc
        return trafilatura.extract(html) or ""
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, main_content=True)


def _http_split(block: bytes) -> tuple[int | None, str, str | None, bytes]:
    """(status, content type, charset, payload) of an HTTP response block; status None when unparsable."""
    head, sep, payload = block.partition(b"\r\n\r\n")
    if not sep:
        head, sep, payload = block.partition(b"\n\n")
    lines = head.decode("latin-1").splitlines()
    parts = lines[0].split() if lines else []
    if len(parts) < 2 or not parts[0].upper().startswith("HTTP/") or not parts[1].isdigit():
        return None, "", None, payload
    ctype, charset = "", None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-type":
            ctype, charset = media_type(value)
    return int(parts[1]), ctype, charset, payload


def media_type(content_type: str) -> tuple[str, str | None]:
    """(lower-cased media type, charset or None) of a Content-Type header value."""
    fields = [f.strip() for f in content_type.split(";")]
    charset = None
    for f in fields[1:]:
        if f.lower().startswith("charset="):
            charset = f[8:].strip("\"' ") or None
    return fields[0].lower(), charset


def _type_name(rtype) -> str:
    from fastwarc.warc import WarcRecordType

    for name in ("request", "metadata", "warcinfo", "revisit", "continuation", "unknown"):
        if rtype == getattr(WarcRecordType, name):
            return name
    return "other"


class _Tell:
    """A forward-only stream whose tell() counts bytes read (FastWARC asks; pyarrow and gzip
    streams over object stores cannot answer it)."""

    def __init__(self, stream: IO[bytes]):
        self._s, self._pos = stream, 0
        self.error: Exception | None = None

    def read(self, n: int = -1) -> bytes:
        # A read error (corrupt gzip member, I/O) ends the stream here so FastWARC still hands out
        # the records it already buffered; the error is reported after them.
        try:
            # read1: one underlying read, so bytes decoded before an error are not thrown away
            data = self._s.read1(n) if hasattr(self._s, "read1") else self._s.read(n)
        except Exception as exc:  # noqa: BLE001
            self.error = exc
            return b""
        self._pos += len(data)
        return data

    def tell(self) -> int:
        return self._pos

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


def _record(rec, opts: ReadOptions, skipped: Counter, extractor: str) -> Iterator[Doc | Quarantine]:
    from fastwarc.warc import WarcRecordType

    offset = rec.stream_pos
    rtype = rec.record_type
    if rtype not in (WarcRecordType.response, WarcRecordType.conversion, WarcRecordType.resource):
        skipped[f"warc_{_type_name(rtype)}_record"] += 1
        return
    block = rec.reader.read()
    if len(block) < rec.content_length:
        yield Quarantine(offset, "warc_truncated_record",
                         f"record {rec.record_id}: {len(block)} of {rec.content_length} bytes",
                         decode(block[:SAMPLE_CHARS])[0])
        return
    url = _target_uri(rec.headers)
    meta = dict(warc_record_id=rec.record_id, crawl_date=rec.headers.get("WARC-Date"))
    if rtype == WarcRecordType.conversion:
        text, errors = decode(block)
        yield from checked(Doc(offset, text, rec.record_id, url, errors, content_type="text/plain",
                               charset="utf-8", **meta), opts, text[:SAMPLE_CHARS])
        return
    status, ctype, charset, payload = _http_split(block)
    yield from http_response(offset, status, ctype, charset, payload, url, meta, opts, skipped, extractor)


def http_response(offset: int, status: int | None, ctype: str, charset: str | None, payload: bytes, url: str | None,
                  meta: dict, opts: ReadOptions, skipped: Counter, extractor: str) -> Iterator[Doc | Quarantine]:
    """An HTTP response (from a WARC or ARC record): a document when it is a 200 HTML page, else
    counted in ``skipped`` by reason. ``meta``: warc_record_id and crawl_date."""
    if status is None:
        skipped["warc_not_http"] += 1
        return
    if status != 200:
        skipped["http_not_200"] += 1
        return
    if not ctype.startswith(HTML_TYPES):
        skipped["not_html"] += 1
        return
    html, charset, errors = _to_text(payload, charset)
    try:
        text = extract_html(html, extractor)
    except MissingDependency:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad page loses one page
        yield Quarantine(offset, "html_extract_error", f"{type(exc).__name__}: {exc}"[:300], html[:SAMPLE_CHARS])
        return
    yield from checked(Doc(offset, text, meta.get("warc_record_id"), url, errors, content_type=ctype,
                           http_status=status, charset=charset, **meta), opts, html[:SAMPLE_CHARS])


def read_warc(stream: IO[bytes], opts: ReadOptions, skipped: Counter,
              extractor: str = "resiliparse") -> Iterator[Doc | Quarantine]:
    """Records of a WARC / WET byte stream (plain, gzip/zstd/lz4 detected and decoded by FastWARC,
    streaming). A block shorter than its Content-Length is a truncated record; an unparsable header
    or damaged compressed member ends the file with ``warc_parse_error`` after the good records."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    n_seen = 0
    src = _Tell(stream)
    it = ArchiveIterator(src, record_types=WarcRecordType.any_type, parse_http=False, stream_detect=True,
                         fsspec_args=False)
    try:
        for rec in it:
            n_seen += 1
            yield from _record(rec, opts, skipped, extractor)
    except OSError as exc:  # FastWARC: unparsable WARC header
        if src.error is None:
            yield Quarantine(src.tell() if n_seen else 0, "warc_parse_error", f"after {n_seen} records: {exc}"[:300])
            return
    if src.error is not None:
        raise src.error
    if n_seen == 0:
        yield Quarantine(-1, "warc_no_records", "no WARC records could be read")
