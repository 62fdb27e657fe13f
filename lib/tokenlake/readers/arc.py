"""ARC (the Internet Archive's format before WARC) -> documents, through warcio.

FastWARC reads only WARC, so ``format: arc`` (.arc, .arc.gz: gzip per record or whole file,
gunzipped before warcio sees it) goes through warcio's ARC-to-WARC conversion; each response
then takes the WARC path (``http_response``): 200 HTML pages become text, the rest is counted.
Record offsets are byte offsets in the decompressed file.
"""
from __future__ import annotations

from collections import Counter
from typing import IO, Iterator

from .records import SAMPLE_CHARS, Doc, Quarantine, ReadOptions, decode
from .warc import http_response, media_type


def read_arc(stream: IO[bytes], opts: ReadOptions, skipped: Counter,
             extractor: str = "resiliparse") -> Iterator[Doc | Quarantine]:
    """Records of an (already decompressed) ARC stream. A record shorter than its declared length
    is ``arc_truncated_record``; an unparsable header ends the file with ``arc_parse_error``."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    it = ArchiveIterator(stream, arc2warc=True)
    n_seen, offset = 0, 0
    try:
        for rec in it:
            n_seen, offset = n_seen + 1, it.offset
            length = rec.rec_headers.get_header("Content-Length") or ""
            if not length.isdigit():  # warcio takes any line of 5+ words for an ARC header
                yield Quarantine(offset, "arc_parse_error", f"record {n_seen}: not an ARC header (length {length!r})")
                return
            if rec.rec_type != "response":  # the filedesc:// version block becomes a warcinfo record
                skipped[f"arc_{rec.rec_type}_record"] += 1
                continue
            url = rec.rec_headers.get_header("WARC-Target-URI")
            if rec.http_headers is None:  # dns: and other non-HTTP captures
                skipped["warc_not_http"] += 1
                continue
            payload = rec.content_stream().read()
            if getattr(rec.raw_stream, "limit", 0):  # bytes still owed: the file ended inside the record
                yield Quarantine(offset, "arc_truncated_record", f"{url}: {rec.length} bytes declared, file ends first",
                                 decode(payload[:SAMPLE_CHARS])[0])
                return
            status = rec.http_headers.get_statuscode()
            ctype, charset = media_type(rec.http_headers.get_header("Content-Type") or "")
            # ARC records have no id (warcio makes up a random one): only the date is kept
            meta = dict(warc_record_id=None, crawl_date=rec.rec_headers.get_header("WARC-Date"))
            yield from http_response(offset, int(status) if status and status.isdigit() else None, ctype, charset,
                                     payload, url, meta, opts, skipped, extractor)
    except ArchiveLoadFailed as exc:
        yield Quarantine(offset if n_seen else 0, "arc_parse_error", f"after {n_seen} records: {exc}".strip()[:300])
        return
    if n_seen == 0:
        yield Quarantine(-1, "arc_no_records", "no ARC records could be read")
