"""Ingest: raw files -> bronze/documents (+ bronze/quarantine), exactly once per file.

The driver lists the sources once and drops files already in ``_ingest_log``; executors read
and parse the remaining files in parallel. The unit of work is a file, or a byte range of a file
over the run's split size that can be read by range (uncompressed JSONL, Parquet, a WARC/WET
gzipped per record): the split size follows Spark's maxSplitBytes rule (``split_size``), aiming
at ``ingest.tasks_per_partition`` tasks per partition, so one slow range cannot hold the stage. Rows land first and
the log (one row per file, the ranges' totals summed) last, so a file is only marked ingested once
its rows are in.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import pyarrow as pa
from pyspark.sql import functions as F

from .. import ids, storage
from ..config import ConfigError
from ..readers.records import Doc, ReadOptions, read_file, splittable, warc_splittable
from ..schemas_registry import spec
from .base import StageContext, StageResult

TASK_DDL = ("source string, file_uri string, rel_path string, size bigint, mtime_ns bigint, etag string, "
            "range_start bigint, range_end bigint, format string, text_field string, id_field string, "
            "url_field string, metadata_fields string, max_doc_chars bigint, html_extractor string, options string")

# One output schema for documents, quarantine entries and per-file totals ("kind" tells which), so
# each file is parsed once; the result is materialized and split into the three tables.
OUT_DDL = ("kind string, doc_id string, source string, source_id string, url string, text string, "
           "file_uri string, record_offset bigint, decode_errors int, warc_record_id string, crawl_date string, "
           "content_type string, http_status int, charset string, metadata map<string,string>, reason string, "
           "detail string, sample string, size bigint, mtime_ns bigint, etag string, n_records bigint, n_docs bigint, "
           "n_quarantined bigint")
_OUT_NAMES = [c.split()[0] for c in OUT_DDL.split(", ")]
BATCH_ROWS = 512
BATCH_CHARS = 32 << 20


def parse_task(task: dict) -> Iterator[pa.RecordBatch]:
    """One file or byte range: a row per document / quarantine entry, then the task's totals (a
    'file' row; a split file has one per range, summed into one _ingest_log row), in bounded batches."""
    rows: dict[str, list] = {n: [] for n in _OUT_NAMES}
    chars = 0

    def add(**values) -> None:
        for n in _OUT_NAMES:
            rows[n].append(values.get(n))

    def flush() -> pa.RecordBatch:
        nonlocal rows, chars
        batch = pa.RecordBatch.from_pydict(rows, schema=_out_schema())
        rows, chars = {n: [] for n in _OUT_NAMES}, 0
        return batch

    opts = ReadOptions(task["format"], task["text_field"], task["id_field"], task["url_field"],
                       task["max_doc_chars"], task["html_extractor"] or "resiliparse",
                       tuple(json.loads(task["metadata_fields"] or "[]")))
    n_docs = n_quarantined = invalid_bytes = 0
    skipped: Counter = Counter()
    reasons: Counter = Counter()
    end = task["range_end"] if task["range_end"] is not None and task["range_end"] >= 0 else None
    for rec in read_file(task["file_uri"], opts, json.loads(task["options"]), skipped, task["range_start"] or 0, end):
        common = dict(source=task["source"], file_uri=task["file_uri"], record_offset=rec.offset)
        if isinstance(rec, Doc):
            n_docs += 1
            chars += len(rec.text)
            invalid_bytes += rec.decode_errors or 0
            add(kind="doc", doc_id=ids.doc_id(task["source"], task["rel_path"], rec.offset), text=rec.text,
                source_id=rec.source_id, url=rec.url, decode_errors=rec.decode_errors,
                warc_record_id=rec.warc_record_id, crawl_date=rec.crawl_date, content_type=rec.content_type,
                http_status=rec.http_status, charset=rec.charset, metadata=rec.metadata, **common)
        else:
            n_quarantined += 1
            reasons[rec.reason] += 1
            add(kind="quarantine", reason=rec.reason, detail=rec.detail, sample=rec.sample, **common)
        if len(rows["kind"]) >= BATCH_ROWS or chars >= BATCH_CHARS:
            yield flush()
    add(kind="file", source=task["source"], file_uri=task["file_uri"], record_offset=-1, size=task["size"],
        mtime_ns=task["mtime_ns"], etag=task["etag"], n_records=n_docs + n_quarantined, n_docs=n_docs,
        n_quarantined=n_quarantined, detail=json.dumps({"skipped": dict(sorted(skipped.items())),
                                                        "reasons": dict(sorted(reasons.items())),
                                                        "invalid_utf8_bytes": invalid_bytes}))
    yield flush()


_STORE_ENV = ("AWS_", "AZURE_")


def parse_task_to_file(task: dict, env: dict[str, str]) -> str:
    """``parse_task`` in a worker process (see offload.py): its batches go to a local Arrow IPC
    stream file, so neither side holds a whole file's documents in memory. ``env`` carries the
    caller's object-store settings, which may have changed since the worker started."""
    for key in [k for k in os.environ if k.startswith(_STORE_ENV) and k not in env]:
        del os.environ[key]
    os.environ.update(env)
    fd, path = tempfile.mkstemp(prefix="tokenlake-ingest-", suffix=".arrows")
    os.close(fd)
    try:
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_stream(sink, _out_schema()) as writer:
            for batch in parse_task(task):
                writer.write_batch(batch)
    except BaseException:
        os.unlink(path)
        raise
    return path


def parse_files(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: file tasks in, one row per document / quarantine entry / file out."""
    from ..offload import active, offload

    for batch in batches:
        for task in batch.to_pylist():
            if not active():
                yield from parse_task(task)
                continue
            env = {k: v for k, v in os.environ.items() if k.startswith(_STORE_ENV)}
            path = offload(parse_task_to_file, task, env)
            try:
                with pa.OSFile(path, "rb") as src:
                    yield from pa.ipc.open_stream(src)
            finally:
                os.unlink(path)


def _out_schema() -> pa.Schema:
    types = {"bigint": pa.int64(), "int": pa.int32(), "string": pa.string(),
             "map<string,string>": pa.map_(pa.string(), pa.string())}
    return pa.schema([(c.split()[0], types[c.split()[1]]) for c in OUT_DDL.split(", ")])


def already_ingested(logged: list[tuple[int, int, str | None]], entry: storage.FileEntry) -> bool:
    """Whether a listed file is one of its logged versions (size, mtime_ns, etag): same size, and
    the same ETag when both sides have one (a re-upload of the same bytes is not a change), else
    the same mtime."""
    for size, mtime, etag in logged:
        if size == entry.size and (etag == entry.etag if etag and entry.etag else mtime == entry.mtime_ns):
            return True
    return False


def byte_ranges(size: int, split_bytes: int) -> list[tuple[int, int]]:
    """[start, end) ranges of equal length (at most ``split_bytes``) tiling a file; (0, -1) (the
    whole file) when it is not over ``split_bytes``."""
    if size <= split_bytes:
        return [(0, -1)]
    n = -(-size // split_bytes)
    bounds = [size * i // n for i in range(n + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def split_size(total_bytes: int, split_bytes: int, min_split_bytes: int, partitions: int,
               tasks_per_partition: int) -> int:
    """The byte-range length of this run, like Spark's maxSplitBytes: ``split_bytes`` at most,
    but small enough that the run has about ``tasks_per_partition`` tasks per partition, and not
    under ``min_split_bytes`` (a task has a fixed cost). Many tasks, because equal byte ranges are
    not equal work: a range of a crawl's images and archives is skipped in a tenth of the time a
    range of dense HTML takes, and the pool (or the scheduler) evens out only what is still queued."""
    per_run = max(partitions, 1) * max(tasks_per_partition, 1)
    return max(1, min(split_bytes, max(min_split_bytes, total_bytes // per_run)))


def _ranged_files(new: list, split: int, options: dict[str, str]) -> set[str]:
    """The URIs of the files over ``split`` that can be read by byte range. A big ``.warc.gz``
    only when it is gzipped per record (a whole-file gzip is one deflate stream, with no place to
    start but 0): one ranged read of its head each, 16 at a time (object-store latency)."""
    big = [(src.format, e.uri) for src, e, _ in new if e.size > split and splittable(src.format, e.uri)]
    warcs = [uri for fmt, uri in big if fmt in ("warc", "wet")]
    per_record = {}
    if warcs:
        with ThreadPoolExecutor(max_workers=min(16, len(warcs))) as pool:
            per_record = dict(zip(warcs, pool.map(lambda uri: warc_splittable(uri, options), warcs)))
    return {uri for fmt, uri in big if per_record.get(uri, True)}


def plan_files(ctx: StageContext) -> tuple[list[dict], list[dict]]:
    """(tasks, files that changed since they were ingested) for every source. A task is a file,
    or a byte range of a splittable file over the run's split size (``split_size``); the biggest
    come first."""
    logged: dict[str, list] = {}
    for r in ctx.lake.read("_ingest_log").select("file_uri", "size", "mtime_ns", "etag").collect():
        logged.setdefault(r.file_uri, []).append((r.size, r.mtime_ns, r.etag))
    new, changed = [], []
    for src in ctx.cfg.sources:
        base = src.uri.rstrip("/")
        for entry in storage.list_entries(src.uri, ctx.cfg.lake.storage_options):
            uri = entry.uri
            if uri in logged:
                if not already_ingested(logged[uri], entry):
                    changed.append({"file_uri": uri, "size": entry.size, "mtime_ns": entry.mtime_ns,
                                    "etag": entry.etag})
                continue
            rel = uri[len(base):].lstrip("/") if uri.startswith(base) else uri.rsplit("/", 1)[-1]
            new.append((src, entry, rel or uri.rsplit("/", 1)[-1]))
    ing = ctx.cfg.ingest
    split = split_size(sum(e.size for _, e, _ in new), ing.split_bytes, ing.min_split_bytes, ctx.cfg.engine.partitions,
                       ing.tasks_per_partition)
    ranged = _ranged_files(new, split, ctx.cfg.lake.storage_options)
    todo = []
    for src, entry, rel in new:
        for start, end in byte_ranges(entry.size, split) if entry.uri in ranged else [(0, -1)]:
            todo.append(dict(source=src.name, file_uri=entry.uri, rel_path=rel, size=entry.size,
                             mtime_ns=entry.mtime_ns, etag=entry.etag, range_start=start, range_end=end,
                             format=src.format, text_field=src.text_field, id_field=src.id_field,
                             url_field=src.url_field, metadata_fields=json.dumps(src.metadata_fields),
                             max_doc_chars=ing.max_doc_chars, html_extractor=ing.html_extractor,
                             options=json.dumps(ctx.cfg.lake.storage_options)))
    todo.sort(key=lambda t: -(t["range_end"] - t["range_start"] if t["range_end"] >= 0 else t["size"]))
    return todo, changed


def check_extractor(ctx: StageContext) -> None:
    """Fail before any work when the configured HTML extractor is not installed (otherwise every
    page of every crawl would fail the same way)."""
    if ctx.cfg.ingest.html_extractor != "trafilatura" or not any(s.format in ("warc", "arc") for s in ctx.cfg.sources):
        return
    try:
        import trafilatura  # noqa: F401
    except ImportError:
        raise ConfigError("ingest.html_extractor is 'trafilatura' but the trafilatura package is not installed: "
                          "pip install 'tokenlake[trafilatura]', or use html_extractor: resiliparse") from None


class IngestErrorRateExceeded(RuntimeError):
    pass


def run(ctx: StageContext) -> StageResult:
    lake = ctx.lake
    check_extractor(ctx)
    todo, changed = plan_files(ctx)
    for c in changed:
        ctx.progress("ingest", f"WARNING: {c['file_uri']} changed since it was ingested (size/etag/mtime differ); "
                               "not re-ingested")
    if not todo:
        ctx.progress("ingest", "nothing to do: every file is already in _ingest_log")
        return StageResult("ingest", 0, 0, 0, detail={"files": 0, "tasks": 0, "changed_files": changed})
    n_files = len({t["file_uri"] for t in todo})
    mb = sum(t["size"] for t in todo if t["range_start"] == 0) / 1e6
    ctx.progress("ingest", f"{n_files} new files ({mb:.1f} MB) in {len(todo)} tasks")
    tasks = ctx.spark.createDataFrame([tuple(t[c.split()[0]] for c in TASK_DDL.split(", ")) for t in todo], TASK_DDL)
    # More partitions than engine.partitions (up to 4x, one per task when fewer; the biggest tasks
    # come first and Sail deals rows out round-robin, so they land in different partitions): on
    # Sail all partitions run at once and their tasks queue for the offload pool, on JVM Spark the
    # scheduler hands partitions to free cores; a slow task holds up only its own partition.
    tasks = tasks.repartition(min(len(todo), 4 * max(ctx.cfg.engine.partitions, 1)))
    parsed, scratch = lake.materialize(tasks.mapInArrow(parse_files, OUT_DDL), "ingest")
    try:
        _clear_partial(ctx, sorted({t["file_uri"] for t in todo}))
        run_col = F.lit(ctx.run_id).alias("ingest_run")
        docs = parsed.filter(F.col("kind") == "doc")
        lake.write(docs.select(*[c for c in spec("bronze/documents").names if c != "ingest_run"], run_col),
                   "bronze/documents")
        quarantine = parsed.filter(F.col("kind") == "quarantine")
        lake.write(quarantine.select("source", "file_uri", "record_offset", "reason", "detail", "sample", run_col),
                   "bronze/quarantine")
        files = parsed.filter(F.col("kind") == "file")  # one row per task: summed per file
        lake.write(files.groupBy("source", "file_uri").agg(
            F.max("size").alias("size"), F.max("mtime_ns").alias("mtime_ns"), F.max("etag").alias("etag"),
            F.sum("n_records").alias("n_records"), F.sum("n_docs").alias("n_docs"),
            F.sum("n_quarantined").alias("n_quarantined"), run_col), "_ingest_log")
        # the run's counts from the tasks' totals rows (one small collect, not a query per count)
        n_in = n_docs = n_q = decode_errors = 0
        skipped, reasons = Counter(), Counter()
        for row in files.select("n_records", "n_docs", "n_quarantined", "detail").collect():
            n_in, n_docs, n_q = n_in + row["n_records"], n_docs + row["n_docs"], n_q + row["n_quarantined"]
            detail = json.loads(row["detail"])
            skipped.update(detail["skipped"])
            reasons.update(detail["reasons"])
            decode_errors += detail["invalid_utf8_bytes"]
    finally:
        lake.drop_scratch(scratch)
    result = StageResult("ingest", n_in, n_docs, n_q, detail={
        "files": n_files, "tasks": len(todo), "quarantine_reasons": dict(sorted(reasons.items())),
        "invalid_utf8_bytes": decode_errors, "skipped_records": dict(sorted(skipped.items())),
        "changed_files": changed})
    rate = n_q / n_in if n_in else 0.0
    if rate > ctx.cfg.ingest.max_error_rate:
        raise IngestErrorRateExceeded(
            f"ingest: {n_q} of {n_in} records quarantined ({rate:.1%}) > ingest.max_error_rate "
            f"{ctx.cfg.ingest.max_error_rate:.1%}; reasons {reasons}; see bronze/quarantine")
    return result


def _clear_partial(ctx: StageContext, uris: list[str]) -> None:
    """Remove rows an interrupted earlier run wrote for files it never logged (Delta only)."""
    lake = ctx.lake
    if lake.table_format != "delta":
        return
    for name in ("bronze/documents", "bronze/quarantine"):
        if not lake.exists(name):
            continue
        if lake.read(name).filter(F.col("file_uri").isin(uris)).limit(1).count() == 0:
            continue
        ctx.progress("ingest", f"removing rows of unlogged files from an interrupted run in {name}")
        for i in range(0, len(uris), 500):
            quoted = ", ".join("'" + u.replace("'", "''") + "'" for u in uris[i:i + 500])
            ctx.spark.sql(f"DELETE FROM delta.`{lake.uri(name)}` WHERE file_uri IN ({quoted})").collect()
