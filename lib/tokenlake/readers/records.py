"""Turn one input file, or a byte range of one (``splittable``), into documents and quarantine
entries, streaming.

A reader never raises for bad content: it yields a ``Quarantine`` with a machine-readable
reason and goes on with the rest of the file, so one corrupt record loses one record.
"""
from __future__ import annotations

import gzip
import io
import json
import re
from dataclasses import dataclass
from typing import IO, Iterator

from .. import storage

_SURROGATE = re.compile("[\udc80-\udcff]")
SAMPLE_CHARS = 500


@dataclass
class Doc:
    offset: int
    text: str
    source_id: str | None
    url: str | None
    decode_errors: int
    warc_record_id: str | None = None
    crawl_date: str | None = None
    content_type: str | None = None
    http_status: int | None = None
    charset: str | None = None
    metadata: dict[str, str] | None = None


@dataclass
class Quarantine:
    offset: int
    reason: str
    detail: str
    sample: str = ""


@dataclass
class ReadOptions:
    format: str
    text_field: str = "text"
    id_field: str | None = "id"
    url_field: str | None = "url"
    max_doc_chars: int = 1_000_000
    html_extractor: str = "resiliparse"
    metadata_fields: tuple[str, ...] = ()


class MissingDependency(RuntimeError):
    """An optional package the configuration selects is not installed: fails the task, never
    quarantines records (every record would fail the same way)."""


def decode(raw: bytes) -> tuple[str, int]:
    """UTF-8 decode with U+FFFD for invalid bytes; returns (text, number of invalid bytes)."""
    try:
        return raw.decode("utf-8"), 0
    except UnicodeDecodeError:
        escaped = raw.decode("utf-8", "surrogateescape")
        return raw.decode("utf-8", "replace"), len(_SURROGATE.findall(escaped))


def open_decompressed(uri: str, options: dict[str, str] | None = None) -> IO[bytes]:
    """A streaming reader of the file's bytes, gunzipped / unzstd'ed by extension."""
    raw = storage.open_input(uri, options)
    name = uri.lower()
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if name.endswith((".zst", ".zstd")):
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True))
    return raw


def _field(record: dict, name: str | None) -> tuple[str | None, str | None]:
    """(value as str or None, error) for an optional id/url field."""
    if not name or name not in record or record[name] is None:
        return None, None
    value = record[name]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None, f"field {name!r} is {type(value).__name__}, expected string"
    return str(value), None


def metadata_of(record: dict, fields: tuple[str, ...]) -> dict[str, str] | None:
    """The configured metadata fields present in a record; non-strings JSON-encoded. None when
    no fields are configured, so bronze tells "not asked" from "asked, none there"."""
    if not fields:
        return None
    return {f: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)
            for f in fields if (v := record.get(f)) is not None}


def from_record(record: dict, opts: ReadOptions, offset: int, sample: str, kind: str) -> Iterator[Doc | Quarantine]:
    """A JSON object or Parquet row -> a document, or ``<kind>_bad_schema`` naming the field."""
    text, errors = record.get(opts.text_field), 0
    if isinstance(text, bytes):  # Parquet binary column
        text, errors = decode(text)
    if not isinstance(text, str):
        got = "missing" if text is None else type(text).__name__
        yield Quarantine(offset, f"{kind}_bad_schema", f"field {opts.text_field!r} is {got}, expected string", sample)
        return
    source_id, err1 = _field(record, opts.id_field)
    url, err2 = _field(record, opts.url_field)
    if err1 or err2:
        yield Quarantine(offset, f"{kind}_bad_schema", err1 or err2 or "", sample)
        return
    yield from checked(Doc(offset, text, source_id, url, errors, metadata=metadata_of(record, opts.metadata_fields)),
                       opts, sample)


def read_jsonl(stream: IO[bytes], opts: ReadOptions, start: int = 0, end: int | None = None) -> Iterator[Doc | Quarantine]:
    """Lines of a JSONL stream. With a byte range (a seekable uncompressed file): only the lines
    that start in [start, end), the last one read past ``end``; so ranges that tile a file read
    each line exactly once, with the same offsets as a whole-file read."""
    offset = 0
    if start > 0:
        offset = _next_line_start(stream, start, end)
        if offset is None:
            return
    for raw in stream:
        if end is not None and offset >= end:
            break
        pos, offset = offset, offset + len(raw)
        if not raw.strip():
            continue
        line, errors = decode(raw.rstrip(b"\r\n"))
        sample = line[:SAMPLE_CHARS]
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            yield Quarantine(pos, "jsonl_parse_error", f"not valid JSON: {type(exc).__name__}: {str(exc)[:200]}", sample)
            continue
        if not isinstance(record, dict):
            yield Quarantine(pos, "jsonl_bad_schema", f"top level is {type(record).__name__}, expected object", sample)
            continue
        for rec in from_record(record, opts, pos, sample, "jsonl"):
            if isinstance(rec, Doc):
                rec.decode_errors += errors
            yield rec


def _next_line_start(stream: IO[bytes], start: int, end: int | None, chunk: int = 1 << 20) -> int | None:
    """The offset of the first line that starts in [start, end), the stream left there; None when
    none does. Scans in chunks and stops at ``end``, so a range inside one long line costs its own
    length, not the rest of the line (readline() would read, and hold, all of it)."""
    pos = start - 1  # the byte before: a newline there means a line starts at ``start``
    stream.seek(pos)
    while end is None or pos < end:
        data = stream.read(chunk if end is None else min(chunk, end - pos))
        if not data:
            return None
        i = data.find(b"\n")
        if i >= 0:
            pos += i + 1
            if end is not None and pos >= end:
                return None
            stream.seek(pos)
            return pos
        pos += len(data)
    return None


def read_text(stream: IO[bytes], opts: ReadOptions, uri: str) -> Iterator[Doc | Quarantine]:
    """A plain text file is one document. Reading stops past the cap, so a huge file costs no more."""
    limit = opts.max_doc_chars * 4 + 4  # UTF-8 is at most 4 bytes a character
    raw = stream.read(limit + 1)
    if not raw:
        yield Quarantine(-1, "empty_file", "the file is empty")
        return
    text, errors = decode(raw[:limit] if len(raw) > limit else raw)
    if len(raw) > limit:
        yield Quarantine(0, "doc_too_large", f"file is over {limit} bytes, cap is {opts.max_doc_chars} characters",
                         text[:SAMPLE_CHARS])
        return
    yield from checked(Doc(0, text, None, uri, errors), opts, text[:SAMPLE_CHARS])


def checked(doc: Doc, opts: ReadOptions, sample: str) -> Iterator[Doc | Quarantine]:
    if not doc.text.strip():
        yield Quarantine(doc.offset, "empty_text", "text is empty or only whitespace", sample)
    elif len(doc.text) > opts.max_doc_chars:
        yield Quarantine(doc.offset, "doc_too_large", f"{len(doc.text)} characters, cap is {opts.max_doc_chars}", sample)
    else:
        yield doc


def splittable(fmt: str, uri: str) -> bool:
    """Formats a task can read from a byte range: uncompressed JSONL (by line), Parquet (by row
    group) and gzipped WARC/WET (by gzip member). For WARC/WET that holds only when the file is
    gzipped per record, which the name cannot tell: the planner also asks ``warc_splittable``."""
    name = uri.lower()
    return fmt == "parquet" or (fmt == "jsonl" and not name.endswith((".gz", ".zst", ".zstd"))) or \
        (fmt in ("warc", "wet") and name.endswith(".gz"))


def warc_splittable(uri: str, options: dict[str, str] | None = None) -> bool:
    """Whether a ``.warc.gz`` / ``.wet.gz`` is gzipped per record, so byte ranges can be read
    (one ranged read of its head; see ``warc.gzip_per_record``). False when the head cannot be read."""
    from .warc import gzip_per_record

    try:
        with storage.open_random(uri, options) as f:
            return gzip_per_record(f)
    except Exception:  # noqa: BLE001 - unreadable: read whole, and let that task report the error
        return False


def _records(stream: IO[bytes], opts: ReadOptions, uri: str, skipped, start: int, end: int | None):
    if opts.format == "jsonl":
        return read_jsonl(stream, opts, start, end)
    if opts.format == "parquet":
        from .parquet import read_parquet

        return read_parquet(stream, opts, start, end)
    if opts.format in ("warc", "wet"):
        from .warc import read_warc

        return read_warc(stream, opts, skipped, opts.html_extractor, start, end)
    if opts.format == "arc":
        from .arc import read_arc

        return read_arc(stream, opts, skipped, opts.html_extractor)
    return read_text(stream, opts, uri)


def _open(uri: str, opts: ReadOptions, options: dict[str, str] | None, ranged: bool):
    if opts.format == "parquet":
        return storage.open_random(uri, options)
    if ranged:
        return io.BufferedReader(storage.open_random(uri, options), buffer_size=1 << 20)
    if opts.format in ("warc", "wet"):  # FastWARC decodes gzip members itself, faster
        return storage.open_input(uri, options)
    return open_decompressed(uri, options)


def read_file(uri: str, opts: ReadOptions, options: dict[str, str] | None = None,
              skipped=None, start: int = 0, end: int | None = None) -> Iterator[Doc | Quarantine]:
    """Every record of a file (or of the byte range [start, end) of a ``splittable`` one); a read
    failure (corrupt compression, I/O) ends the file with one ``read_error`` entry after the
    records read so far. Records a format deliberately skips (e.g. WARC requests) are counted per
    reason in ``skipped`` (a Counter). A range that holds no record start yields nothing."""
    from collections import Counter

    skipped = Counter() if skipped is None else skipped
    ranged = start > 0 or end is not None
    if ranged and not splittable(opts.format, uri):
        raise ValueError(f"{opts.format} file {uri} cannot be read by byte range")
    produced = False
    pos = start
    try:
        with _open(uri, opts, options, ranged) as stream:
            for rec in _records(stream, opts, uri, skipped, start, end):
                produced = True
                pos = rec.offset
                yield rec
    except MissingDependency:
        raise
    except Exception as exc:  # noqa: BLE001 - any read failure quarantines the rest of the file
        yield Quarantine(pos, "read_error", f"{type(exc).__name__}: {exc}")
        return
    if not produced and not skipped and not ranged:
        yield Quarantine(-1, "empty_file", "the file has no records")
