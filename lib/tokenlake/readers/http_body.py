"""HTTP response bodies as the server sent them -> the bytes of the page.

WARC writers that store responses raw (wget, warcio's capture, Heritrix) keep
``Transfer-Encoding: chunked`` framing and ``Content-Encoding: gzip/deflate/br`` compression (br through the brotli package) in the
record; Common Crawl stores bodies already decoded but may keep the headers. So the headers only
say what *may* have been applied: chunk framing is undone only when the body really is framed,
and decompression only when the bytes really are compressed. Decompressed size is capped, so a
compression bomb costs no more than a big page.
"""
from __future__ import annotations

import zlib

MAX_BODY_BYTES = 64 << 20


class BodyError(ValueError):
    """The body claims an encoding it cannot be decoded from (reason in ``reason``)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def dechunk(body: bytes) -> bytes | None:
    """The payload of a chunked body, or None when ``body`` is not chunk-framed (then it is
    probably stored de-chunked already). A body cut short keeps the chunks before the cut."""
    out, pos, n = [], 0, len(body)
    while True:
        eol = body.find(b"\r\n", pos, pos + 1024)
        if eol < 0:
            return b"".join(out) if out else None
        size_field = body[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            return b"".join(out) if out and pos >= n else None
        if size_field.startswith((b"-", b"+", b"0x", b"0X")):
            return None
        if size == 0:
            return b"".join(out)
        start = eol + 2
        if start + size > n:  # truncated inside a chunk
            out.append(body[start:])
            return b"".join(out)
        out.append(body[start:start + size])
        pos = start + size
        if body[pos:pos + 2] == b"\r\n":
            pos += 2
        elif pos < n:
            return None  # framing broken: not chunked after all


def _inflate(data: bytes, wbits: int) -> bytes:
    d = zlib.decompressobj(wbits)
    out = d.decompress(data, MAX_BODY_BYTES + 1)
    if len(out) > MAX_BODY_BYTES:
        raise BodyError("doc_too_large", f"decompressed body over {MAX_BODY_BYTES} bytes")
    return out


def _unbrotli(body: bytes) -> bytes:
    import brotli

    d = brotli.Decompressor()
    try:
        out = d.process(body, output_buffer_limit=MAX_BODY_BYTES + 1)
    except brotli.error:
        return body  # not Brotli data: stored decoded
    if len(out) > MAX_BODY_BYTES:
        raise BodyError("doc_too_large", f"decompressed body over {MAX_BODY_BYTES} bytes")
    return out if d.is_finished() else body


def decompress(body: bytes, encoding: str) -> bytes:
    enc = encoding.strip().lower()
    if enc in ("", "identity", "none"):
        return body
    if enc in ("gzip", "x-gzip"):
        if not body.startswith(b"\x1f\x8b"):
            return body  # stored decoded
        try:
            return _inflate(body, 47)
        except zlib.error as exc:
            raise BodyError("http_content_decode_error", f"gzip body: {exc}") from None
    if enc == "deflate":
        for wbits in (15, -15):  # zlib-wrapped (the standard) or raw deflate (what many servers send)
            try:
                return _inflate(body, wbits)
            except zlib.error:
                continue
        return body  # not deflate data: stored decoded
    if enc == "br":
        return _unbrotli(body)
    raise BodyError("http_content_decode_error", f"unsupported Content-Encoding {encoding!r}")


def decode_body(body: bytes, transfer_encoding: str, content_encoding: str) -> bytes:
    """Undo chunking, then each content coding in reverse order of application."""
    if "chunked" in transfer_encoding.lower():
        plain = dechunk(body)
        if plain is not None:
            body = plain
    for enc in reversed([e for e in content_encoding.split(",") if e.strip()]):
        body = decompress(body, enc)
    return body
