"""WARC / WET records -> documents, streaming through FastWARC.

HTTP 200 HTML responses become text via Resiliparse main-content extraction (or trafilatura when
configured); WET conversion records are already text. Everything else (requests, metadata,
non-200, non-HTML) is counted per reason in ``skipped`` and not kept. A stream that stops before
its end (truncated record, corrupt gzip member) yields one quarantine entry at the last good
offset, so the records before it still land.

A WARC/WET gzipped per record (one gzip member per record, as Common Crawl and wget write them)
can also be read by byte range: a task [start, end) seeks to the first member boundary at or
after ``start`` (``next_member``) and reads the records whose member starts before ``end``, the
last one whole. Record offsets are the members' absolute compressed offsets, the same as in a
whole-file read. ``gzip_per_record`` tells such files from whole-file gzip, which cannot be split.
"""
from __future__ import annotations

import codecs
import re
import zlib
import collections
from collections import Counter
from typing import IO, Iterator

from .http_body import BodyError, decode_body
from .records import SAMPLE_CHARS, Doc, MissingDependency, Quarantine, ReadOptions, checked, decode

HTML_TYPES = ("text/html", "application/xhtml+xml")


def _target_uri(headers) -> str | None:
    """WARC-Target-URI; WARC 1.0 writers such as wget wrap it in <...>."""
    uri = headers.get("WARC-Target-URI")
    if uri and uri.startswith("<") and uri.endswith(">"):
        uri = uri[1:-1]
    return uri or None


def _to_text(body: bytes, charset: str | None) -> tuple[str, str, int]:
    """(text, charset used, invalid bytes). UTF-8 goes through ``decode`` so invalid bytes are
    counted. A declared charset no codec knows (``none``, ``x-user-defined``, typos: common in real
    crawls) is ignored and the encoding detected, as a browser would; one bad page header must not
    cost the rest of the file."""
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    enc = known_charset(charset) or detect_encoding(body)
    if enc in ("utf-8", "utf8", "ascii", "us-ascii"):
        text, errors = decode(body)
        return text, "utf-8", errors
    try:
        return bytes_to_str(body, enc), enc, 0
    except (LookupError, ValueError):
        text, errors = decode(body)
        return text, "utf-8", errors


def known_charset(name: str | None) -> str | None:
    """The lower-cased charset name when Python has a codec for it, else None."""
    name = (name or "").strip().strip("\"'").lower()
    if not name:
        return None
    try:
        codecs.lookup(name)
    except LookupError:
        return None
    return name


MAX_HTML_DEPTH = 10_000  # real pages nest tens of elements deep; extraction at this depth takes ~4 s
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]{0,15})")
# void elements and elements whose end tag may be left out: they do not add depth
_FLAT = frozenset("area base br col embed hr img input link meta source track wbr p li dt dd tr td th option "
                  "optgroup thead tbody tfoot colgroup rb rt rtc rp caption".split())


def html_depth_over(html: str, limit: int = MAX_HTML_DEPTH) -> int | None:
    """The element nesting depth once it passes ``limit``, else None. Resiliparse's main-content
    extraction takes time quadratic in depth (16,000 nested <div>s: 11 s; 100,000: many minutes),
    so one hostile page would hold a task. A page with fewer tags than ``limit``, or whose
    per-chunk bound (``_depth_bound``) stays under it, costs only C-speed counts; the rest a
    linear scan of their tags."""
    if html.count("<") <= limit or _depth_bound(html) <= limit:
        return None
    depth = 0
    for m in _TAG.finditer(html):
        if m.group(2).lower() in _FLAT:
            continue
        depth = depth - 1 if m.group(1) else depth + 1
        if depth > limit:
            return depth
    return None


def _depth_bound(html: str, chunks: int = 32) -> int:
    """An upper bound of the nesting depth from C-speed counts per chunk: the depth at a chunk's
    start (opens minus closes before it, every open tag counted) plus the chunk's open tags."""
    step = -(-len(html) // chunks)
    depth = bound = 0
    for i in range(0, len(html), step):
        part = html[i:i + step]
        closes = part.count("</")
        opens = part.count("<") - closes - part.count("<!")
        bound = max(bound, depth + opens)
        depth += opens - closes
    return bound


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


def _http_split(block: bytes) -> tuple[int | None, str, str | None, bytes, tuple[str, str]]:
    """(status, content type, charset, payload, (transfer encoding, content encoding)) of an HTTP
    response block; status None when unparsable. The payload is as stored (see http_body)."""
    head, sep, payload = block.partition(b"\r\n\r\n")
    if not sep:
        head, sep, payload = block.partition(b"\n\n")
    lines = head.decode("latin-1").splitlines()
    parts = lines[0].split() if lines else []
    if len(parts) < 2 or not parts[0].upper().startswith("HTTP/") or not parts[1].isdigit():
        return None, "", None, payload, ("", "")
    ctype, charset, transfer, content = "", None, "", ""
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-type":
            ctype, charset = media_type(value)
        elif name == "transfer-encoding":
            transfer = value.strip()
        elif name == "content-encoding":
            content = value.strip()
    return int(parts[1]), ctype, charset, payload, (transfer, content)


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
    """A forward-only stream whose tell() counts bytes read from ``pos``, the stream's offset in
    its file (FastWARC asks, and takes record offsets from it; pyarrow and gzip streams over
    object stores cannot answer it)."""

    TAIL_BYTES = 2 << 20  # the last bytes read are kept for end-of-file checks (``tail``)

    def __init__(self, stream: IO[bytes], pos: int = 0):
        self._s, self._pos = stream, pos
        self.error: Exception | None = None
        self._tail: collections.deque[bytes] = collections.deque()
        self._tail_len = 0

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
        if data:
            self._tail.append(data)
            self._tail_len += len(data)
            while self._tail_len - len(self._tail[0]) >= self.TAIL_BYTES:
                self._tail_len -= len(self._tail.popleft())
        return data

    def tell(self) -> int:
        return self._pos

    def tail(self) -> tuple[int, bytes]:
        """(file offset, bytes) of the last bytes read, at least TAIL_BYTES of them when there were."""
        return self._pos - self._tail_len, b"".join(self._tail)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


GZIP_MAGIC = b"\x1f\x8b\x08"  # gzip ID1 ID2 and CM=deflate: how every gzip member begins
_PROBE_BYTES = 4096  # compressed bytes tried to validate a member start (a deflate block header is < 300)
HEAD_BYTES = 1 << 20  # gzip_per_record: the first member must end within this


def member_holds_warc(data: bytes) -> bool:
    """Whether ``data`` (the bytes from a candidate offset on) begins a gzip member whose
    decompressed bytes start with ``WARC/``: tells a real member boundary from the same three
    bytes occurring inside compressed data."""
    if not data.startswith(GZIP_MAGIC):
        return False
    d, out = zlib.decompressobj(31), b""
    try:
        for i in range(0, min(len(data), _PROBE_BYTES), 512):
            out += d.decompress(data[i:i + 512])
            if len(out) >= 5 or d.eof:
                break
    except zlib.error:
        return False
    return out.startswith(b"WARC/")


def next_member(stream: IO[bytes], start: int, end: int | None, chunk: int = 1 << 20) -> int | None:
    """The offset of the first gzip member holding a WARC record that starts in [start, end)
    (``end`` None: up to the end of the file), or None; ``stream`` is seekable. A false candidate
    (the magic bytes inside compressed data) is skipped and the scan goes on. Not caught: a record
    whose payload is itself a gzipped WARC that deflate stored verbatim (an archive of archives)."""
    stream.seek(start)
    buf, buf_pos, eof, i = b"", start, False, 0  # buf: the file's bytes from buf_pos; i: search from
    tail = len(GZIP_MAGIC) - 1
    while True:
        j = buf.find(GZIP_MAGIC, i)
        if j >= 0:
            if end is not None and buf_pos + j >= end:
                return None
            if len(buf) - j >= _PROBE_BYTES or eof:
                if member_holds_warc(buf[j:j + _PROBE_BYTES]):
                    return buf_pos + j
                i = j + 1
                continue
            keep = j  # too few bytes to probe it yet
        else:
            if eof or (end is not None and buf_pos + len(buf) - tail >= end):
                return None
            keep = max(i, len(buf) - tail)
        buf, buf_pos, i = buf[keep:], buf_pos + keep, 0
        data = stream.read(chunk)
        eof = not data
        buf += data


def member_end(stream: IO[bytes], pos: int) -> int | None:
    """The offset just past the gzip member at ``pos``, or None when it does not decompress."""
    stream.seek(pos)
    d = zlib.decompressobj(31)
    try:
        while not d.eof:
            data = stream.read(1 << 20)
            if not data:
                return None
            d.decompress(data)
            pos += len(data)
    except zlib.error:
        return None
    return pos - len(d.unused_data)


def gzip_per_record(stream: IO[bytes]) -> bool:
    """Whether a seekable ``.warc.gz`` / ``.wet.gz`` is gzipped per record (splittable by byte
    range): its first gzip member ends within HEAD_BYTES and another member holding a WARC record
    follows. A whole-file gzip (one member) or anything unreadable is not. Reads the first 64 KB
    (one ranged read; Common Crawl's first member, the warcinfo record, is under 1 KB), the rest of
    the first MB only when the first member is longer."""
    stream.seek(0)
    head = stream.read(1 << 16)
    if len(head) == 1 << 16:
        found = _first_member_end(head)
        if found is None or len(head) - found < _PROBE_BYTES:
            head += stream.read(HEAD_BYTES + _PROBE_BYTES - len(head))
    if not member_holds_warc(head):
        return False
    found = _first_member_end(head[:HEAD_BYTES])
    return found is not None and member_holds_warc(head[found:])


def _first_member_end(data: bytes) -> int | None:
    """Where the gzip member at the start of ``data`` ends, None when it does not end in ``data``."""
    d = zlib.decompressobj(31)
    rest = data
    try:
        while rest and not d.eof:
            d.decompress(rest, 1 << 20)  # output discarded, bounded
            rest = d.unconsumed_tail
    except zlib.error:
        return None
    return len(data) - len(d.unused_data) if d.eof else None


def _cut_member_after(src: _Tell, last: int) -> int | None:
    """Where a gzip member that FastWARC dropped without a word begins (a file cut inside the
    gzip header or first bytes of its last member), or None. Checked only when the last record's
    member is within the kept tail and decompresses whole; whole-file gzip and plain WARCs pass."""
    tail_pos, tail = src.tail()
    if last < tail_pos:
        return None
    data = tail[last - tail_pos:]
    end = _first_member_end(data)
    return None if end is None or end == len(data) else last + end


def _record(rec, opts: ReadOptions, skipped: Counter, extractor: str) -> Iterator[Doc | Quarantine]:
    from fastwarc.warc import WarcRecordType

    offset = rec.stream_pos
    if rec.headers.get("Content-Length") is None:  # mandatory: the file ends inside this header
        yield Quarantine(offset, "warc_truncated_record", f"record {rec.record_id}: header without Content-Length")
        return
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
    status, ctype, charset, payload, encodings = _http_split(block)
    yield from http_response(offset, status, ctype, charset, payload, url, meta, opts, skipped, extractor, encodings)


def http_response(offset: int, status: int | None, ctype: str, charset: str | None, payload: bytes, url: str | None,
                  meta: dict, opts: ReadOptions, skipped: Counter, extractor: str,
                  encodings: tuple[str, str] = ("", "")) -> Iterator[Doc | Quarantine]:
    """An HTTP response (from a WARC or ARC record): a document when it is a 200 HTML page, else
    counted in ``skipped`` by reason. ``meta``: warc_record_id and crawl_date. ``encodings``: the
    Transfer-Encoding and Content-Encoding of a body stored raw (undone only for pages we keep)."""
    if status is None:
        skipped["warc_not_http"] += 1
        return
    if status != 200:
        skipped["http_not_200"] += 1
        return
    if not ctype.startswith(HTML_TYPES):
        skipped["not_html"] += 1
        return
    if any(encodings):
        try:
            payload = decode_body(payload, *encodings)
        except BodyError as exc:
            yield Quarantine(offset, exc.reason, f"{url}: {exc}"[:300], decode(payload[:SAMPLE_CHARS])[0])
            return
    html, charset, errors = _to_text(payload, charset)
    if html_depth_over(html):
        yield Quarantine(offset, "html_too_deep", f"{url}: elements nested over {MAX_HTML_DEPTH} deep",
                         html[:SAMPLE_CHARS])
        return
    try:
        text = extract_html(html, extractor)
    except MissingDependency:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad page loses one page
        yield Quarantine(offset, "html_extract_error", f"{type(exc).__name__}: {exc}"[:300], html[:SAMPLE_CHARS])
        return
    yield from checked(Doc(offset, text, meta.get("warc_record_id"), url, errors, content_type=ctype,
                           http_status=status, charset=charset, **meta), opts, html[:SAMPLE_CHARS])


def read_warc(stream: IO[bytes], opts: ReadOptions, skipped: Counter, extractor: str = "resiliparse",
              start: int = 0, end: int | None = None) -> Iterator[Doc | Quarantine]:
    """Records of a WARC / WET byte stream (plain, gzip/zstd/lz4 detected and decoded by FastWARC,
    streaming). A block shorter than its Content-Length is a truncated record; an unparsable header
    or damaged compressed member ends the file with ``warc_parse_error`` after the good records.

    With a byte range (a seekable file gzipped per record): the records whose gzip member starts
    in [start, end), from the first member boundary at or after ``start``; a range after the first
    that holds no member start yields nothing. A damaged member ends the range it is met in (not
    the file) and is reported once, at its offset, by one of the ranges."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    ranged = start > 0 or end is not None
    first = 0
    if start > 0:
        first = next_member(stream, start, end)
        if first is None:
            return
        stream.seek(first)
    n_seen, last, inside = 0, first, False
    src = _Tell(stream, first)
    it = ArchiveIterator(src, record_types=WarcRecordType.any_type, parse_http=False, stream_detect=True,
                         fsspec_args=False)
    at_end = True
    try:
        for rec in it:
            if end is not None and rec.stream_pos >= end:
                at_end = False
                break  # the next range's
            n_seen, last, inside = n_seen + 1, rec.stream_pos, True
            try:
                yield from _record(rec, opts, skipped, extractor)
            except (OSError, MissingDependency):
                raise
            except Exception as exc:  # noqa: BLE001 - a record we cannot handle loses that record only
                yield Quarantine(rec.stream_pos, "warc_record_error", f"{type(exc).__name__}: {exc}"[:300])
            inside = False
    except OSError as exc:  # FastWARC: unparsable WARC header, damaged gzip member
        if src.error is None:
            where = src.tell() if n_seen else first
            if ranged and inside:
                where = last
            elif ranged and n_seen:
                # FastWARC failed on the member after the last record, which starts where that
                # one's member ends (None: that member itself is damaged).
                after = member_end(stream, last)
                where = last if after is None else after
                if after is not None and end is not None and after >= end:
                    stream.seek(after)
                    if member_holds_warc(stream.read(_PROBE_BYTES)):
                        return  # the range holding it starts there and reports it
                    # else that range's scan skips it as no member: reported here
            yield Quarantine(where, "warc_parse_error", f"after {n_seen} records: {exc}"[:300])
            return
    if src.error is not None:
        raise src.error
    if at_end and n_seen:
        cut = _cut_member_after(src, last)
        if cut is not None:
            yield Quarantine(cut, "warc_truncated_record", "the file ends inside a gzip member after the last record")
    if n_seen == 0 and start == 0:
        yield Quarantine(-1, "warc_no_records", "no WARC records could be read")
