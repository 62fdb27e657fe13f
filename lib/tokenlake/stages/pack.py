"""Pack: gold/tokens -> shards/<dataset>/v<N>/ in every selected format + manifest.json (last).

How the work is split so that it runs on executors and still gives the same bytes everywhere:

1. Order: each document (and each repeat of an up-sampled one) gets the key sha256(seed, doc_id)
   (``#r`` appended for repeat r > 0); the global order is (key, doc_id, repeat) on every
   engine and partitioning.
2. Plan, on the narrow columns only (doc_id, source, n_tokens, key; never the token arrays): the
   first 3 hex digits of the key put each row in one of 4096 buckets, which are in key order. The
   driver collects the per-bucket token and document totals, turns them into bucket offsets, and
   a window partitioned by bucket gives each row its global token offset and position; a
   document belongs to shard floor(offset_bytes / shard_bytes), renumbered densely. The driver
   collects one row per (shard, source): documents, tokens, first offset and the (key, doc_id,
   repeat) of the shard's first document. Nothing per document goes through the driver.
3. Shards: each row with its token array gets its shard from those first documents through a
   broadcast table of the 4096 buckets (how many shards start in earlier buckets, and the few
   that start in its own, compared with its (key, doc_id)); no sort of wide rows, so token
   arrays cross one shuffle, ``repartition`` by shard, into the task that writes that
   shard in every format (``formats/writers.py``) and returns one stats row per file. Rows may
   reach the task in any order (no engine has to keep a sort into ``mapInArrow``): the task
   sorts the shard's narrow columns by (key, doc_id, repeat), checks the documents and tokens
   against the plan, and lays the ids out in that order.
4. The driver checks the files' counts against the plan and writes ``manifest.json`` last. A
   failed or killed run leaves no manifest; a version without one is never read.
"""
from __future__ import annotations

import numpy as np
from pyspark.sql import Window
from pyspark.sql import functions as F

from .. import manifest as mf
from .. import storage
from ..formats import writers
from ..formats.megatron import token_dtype
from ..tokenizer import load_latest
from ..worker_errors import worker_errors
from .base import StageContext, StageResult

BUCKET_HEX = 3  # 16**3 = 4096 buckets for the global offsets
ORDER_KEY = "sha256(f'{seed}:{doc_id}') for the first copy, sha256(f'{seed}:{doc_id}#{r}') for repeat r; then doc_id, r"


def olmo_dtype(vocab_size: int):
    """OLMo/dolma: the smallest unsigned type that holds every id."""
    return np.min_scalar_type(max(vocab_size - 1, 0))


def mixed(tokens, seed: int, weights: dict[str, float]):
    """Rows repeated or sampled per source weight, with their repeat number ``rep``.

    A weight w keeps floor(w) copies of each document, plus one more when a uniform number drawn
    from sha256(seed, 'mix', doc_id) is below w - floor(w): deterministic per document."""
    w = F.lit(1.0)
    for src in sorted(weights):
        w = F.when(F.col("source") == src, F.lit(float(weights[src]))).otherwise(w)
    u = F.conv(F.substring(F.sha2(F.concat(F.lit(f"{seed}:mix:"), F.col("doc_id")), 256), 1, 13), 16, 10) \
        .cast("bigint") / F.lit(float(1 << 52))
    whole = F.floor(w).cast("int")
    copies = whole + F.when(u < (w - whole), F.lit(1)).otherwise(F.lit(0))
    out = tokens.withColumn("_copies", copies).filter(F.col("_copies") > 0)
    if all(float(weights[s]) <= 1.0 for s in weights):  # at most one copy: no explode (it copies every row)
        return out.withColumn("rep", F.lit(0)).drop("_copies")
    return out.withColumn("rep", F.explode(F.sequence(F.lit(0), F.col("_copies") - 1))).drop("_copies")


def ordered(tokens, seed: int, weights: dict[str, float]):
    rows = mixed(tokens, seed, weights)
    first = F.sha2(F.concat(F.lit(f"{seed}:"), F.col("doc_id")), 256)
    again = F.sha2(F.concat(F.lit(f"{seed}:"), F.col("doc_id"), F.lit("#"), F.col("rep").cast("string")), 256)
    rows = rows.withColumn("_key", F.when(F.col("rep") == 0, first).otherwise(again))
    return rows.withColumn("_bucket", F.conv(F.substring("_key", 1, BUCKET_HEX), 16, 10).cast("int"))


def plan(spark, rows, itemsize: int, shard_bytes: int):
    """(rows with global ``pos``, token ``start`` and raw ``_shard``, documents, tokens) using
    bucket offsets from the driver. ``rows`` need only the narrow columns: nothing here
    moves token arrays."""
    totals = rows.groupBy("_bucket").agg(F.count(F.lit(1)).alias("d"), F.sum("n_tokens").alias("t")).collect()
    offsets, doc_off, tok_off = [], 0, 0
    for r in sorted(totals, key=lambda r: r["_bucket"]):
        offsets.append((int(r["_bucket"]), doc_off, tok_off))
        doc_off += int(r["d"])
        tok_off += int(r["t"] or 0)
    if not offsets:
        offsets.append((0, 0, 0))
    off_df = spark.createDataFrame(offsets, "_bucket int, _doc_off bigint, _tok_off bigint")
    w = Window.partitionBy("_bucket").orderBy("_key", "doc_id", "rep")
    cum = F.sum("n_tokens").over(w.rowsBetween(Window.unboundedPreceding, Window.currentRow))
    planned = (rows.join(F.broadcast(off_df), "_bucket")
               .withColumn("_cum", cum).withColumn("_rn", F.row_number().over(w))
               .withColumn("start", F.col("_tok_off") + F.col("_cum") - F.col("n_tokens"))
               .withColumn("pos", F.col("_doc_off") + F.col("_rn") - 1)
               .withColumn("_shard", F.floor(F.col("start") * itemsize / F.lit(shard_bytes)).cast("bigint")))
    return planned, doc_off, tok_off


def shard_router(spark, starts: list[tuple[str, str]]):
    """(bucket table, shard column) that give each row its dense shard from the (key, doc_id) of every
    shard's first document but the first (in order): the shard is the number of those a row is at
    or after in the global order, i.e. those in earlier buckets (``_before``, per bucket) plus
    those in its own bucket it is at or after (``_start<j>``, at most a few per bucket). The table
    has one small row per bucket and is broadcast (Sail collects it too), so the rows carrying
    token arrays are not shuffled for it. (key, doc_id) determines a row (each repeat has its
    own key) and the key has a fixed 64 characters, so the string key || doc_id (column ``_ord``)
    sorts exactly as (key, doc_id, rep)."""
    inner: dict[int, list[str]] = {}
    for key, doc in starts:
        inner.setdefault(int(key[:BUCKET_HEX], 16), []).append(key + doc)
    m = max((len(v) for v in inner.values()), default=0)
    rows, before = [], 0
    for b in range(16 ** BUCKET_HEX):
        here = inner.get(b, [])
        rows.append((b, before, *here, *([None] * (m - len(here)))))
        before += len(here)
    table = spark.createDataFrame(rows, "_bucket int, _before int" + "".join(f", _start{j} string" for j in range(m)))
    shard = F.col("_before")
    for j in range(m):
        shard = shard + F.when(F.col(f"_start{j}") <= F.col("_ord"), 1).otherwise(0)
    return table, shard


def run(ctx: StageContext) -> StageResult:
    cfg, lake, spark = ctx.cfg, ctx.lake, ctx.spark
    pc = cfg.pack
    opts = cfg.lake.storage_options
    art = load_latest(lake.root, cfg.tokenizer.name, cfg.tokenizer.eos, cfg.tokenize.bos, opts)
    current = lake.version("gold/tokens")
    in_version = pc.input_version if pc.input_version is not None else current
    if pc.input_version is not None and lake.table_format != "delta":
        raise ValueError("pack.input_version (time travel) needs table_format: delta")
    if pc.input_version is not None and current is not None and pc.input_version > current:
        raise ValueError(f"pack.input_version {pc.input_version} is newer than gold/tokens (version {current})")
    tokens = lake.read("gold/tokens", version=in_version)
    # one pass over the narrow columns: per-source totals and rows made with another tokenizer
    per_source = tokens.groupBy("source").agg(
        F.count(F.lit(1)).alias("d"), F.sum("n_tokens").alias("t"),
        F.sum(F.when(F.col("tokenizer_sha256") != art.sha256, 1).otherwise(0)).alias("stale")).collect()
    if any(int(r["stale"] or 0) for r in per_source):
        raise ValueError(f"gold/tokens has rows made with another tokenizer than {art.sha256[:12]}: "
                         "re-run the tokenize stage")
    per_source_in = {r["source"]: (int(r["d"]), int(r["t"] or 0)) for r in per_source}
    unknown = sorted(set(pc.mixing) - set(per_source_in))
    if unknown:
        ctx.progress("pack", f"mixing weights for sources with no tokens: {unknown}")
    dtype = token_dtype(art.vocab_size)
    itemsize = np.dtype(dtype).itemsize
    dataset = pc.dataset
    version = mf.next_version(lake.root, dataset, opts)
    version_uri = storage.join(mf.dataset_uri(lake.root, dataset), f"v{version}")
    ctx.progress("pack", f"planning {version_uri} (gold/tokens version {in_version}, {np.dtype(dtype).name}, "
                         f"target {pc.shard_bytes} bytes/shard, formats {','.join(pc.formats)})")

    narrow = ordered(tokens.select("doc_id", "source", "n_tokens"), pc.seed, pc.mixing)
    planned, n_out_docs, n_out_tokens = plan(spark, narrow, itemsize, pc.shard_bytes)
    first_doc = F.min_by(F.struct("_key", "doc_id", "rep"), "pos")
    shard_rows = sorted(planned.groupBy("_shard", "source").agg(
        F.count(F.lit(1)).alias("d"), F.sum("n_tokens").alias("t"), F.min("start").alias("first"),
        F.min("pos").alias("first_pos"), first_doc.alias("first_row")).collect(),
                        key=lambda r: (r["_shard"], r["source"]))
    raw_ids = sorted({int(r["_shard"]) for r in shard_rows})
    dense = {raw: i for i, raw in enumerate(raw_ids)}
    expected: dict[int, list[int]] = {}
    first: dict[int, int] = {}
    first_row: dict[int, tuple[int, tuple[str, str, int]]] = {}  # shard -> (pos, (key, doc_id, rep)) of its first
    per_source_out: dict[str, list[int]] = {}
    for r in shard_rows:
        k = dense[int(r["_shard"])]
        e = expected.setdefault(k, [0, 0])
        e[0] += int(r["d"])
        e[1] += int(r["t"] or 0)
        first[k] = min(first.get(k, int(r["first"])), int(r["first"]))
        row = (int(r["first_pos"]), (r["first_row"]["_key"], r["first_row"]["doc_id"], int(r["first_row"]["rep"])))
        first_row[k] = min(first_row.get(k, row), row)
        o = per_source_out.setdefault(r["source"], [0, 0])
        o[0] += int(r["d"])
        o[1] += int(r["t"] or 0)

    spec = writers.ShardSpec(
        version_uri=version_uri, dataset=dataset, formats=tuple(pc.formats), vocab_size=art.vocab_size,
        megatron_dtype=np.dtype(dtype).name, olmo_dtype=olmo_dtype(art.vocab_size).name, seq_len=pc.seq_len,
        packing=pc.packing, pad_id=pc.pad_id if pc.pad_id is not None else art.eos_id,
        plan={k: (first[k], expected[k][1], expected[k][0]) for k in expected}, options=dict(opts or {}))
    stats = []
    if raw_ids:
        ctx.progress("pack", f"writing {len(raw_ids)} shard(s) of {n_out_docs} documents, {n_out_tokens} tokens")
        # Token arrays cross one shuffle: each row gets its shard from the shards' first rows through a
        # broadcast bucket table (no sort of wide rows); the task puts its rows in order itself.
        table, shard = shard_router(spark, [first_row[k][1][:2] for k in range(1, len(raw_ids))])
        to_write = (ordered(tokens.select("doc_id", "source", "n_tokens", "input_ids"), pc.seed, pc.mixing)
                    .withColumn("_ord", F.concat("_key", "doc_id"))
                    .join(F.broadcast(table), "_bucket")
                    .withColumn("shard", shard.cast("int"))
                    .select("shard", *writers.NARROW, "input_ids")
                    .repartition(len(raw_ids), "shard"))
        with worker_errors():
            stats = [r.asDict() for r in to_write.mapInArrow(writers.shard_writer(spec), writers.STATS_DDL).collect()]
    _check_against_plan(stats, expected, pc.formats)

    from ..formats import layout
    manifest = {
        "dataset": dataset, "version": version, "format": pc.formats[0], "formats": list(pc.formats),
        "files": layout.manifest_files(stats, pc.formats),
        "n_docs": sum(d for d, _ in per_source_in.values()),
        "n_tokens": sum(t for _, t in per_source_in.values()),
        "output": {"n_docs": n_out_docs, "n_tokens": n_out_tokens, "n_shards": len(raw_ids)},
        "tokenizer": {"name": cfg.tokenizer.name, "sha256": art.sha256, "vocab_size": art.vocab_size,
                      "eos_id": art.eos_id, "bos_id": art.bos_id, "dtype": np.dtype(dtype).name},
        "inputs": [{"table": "gold/tokens", "format": lake.table_format, "version": in_version,
                    "uri": lake.uri("gold/tokens")}],
        "order": {"key": ORDER_KEY, "seed": pc.seed},
        "mixing": {"weights": {s: float(pc.mixing.get(s, 1.0)) for s in sorted(set(per_source_in) | set(pc.mixing))},
                   "sources": {s: {"in_docs": per_source_in.get(s, (0, 0))[0],
                                   "in_tokens": per_source_in.get(s, (0, 0))[1],
                                   "out_docs": per_source_out.get(s, [0, 0])[0],
                                   "out_tokens": per_source_out.get(s, [0, 0])[1]}
                               for s in sorted(set(per_source_in) | set(per_source_out))}},
        "shard_bytes": pc.shard_bytes,
        "config_sha256": cfg.output_sha256(),
        "created_at": mf.now_utc(),
        "code_version": mf.code_version(),
    }
    manifest.update(layout.format_sections(spec, stats, len(raw_ids)))
    # Format-level index files (MDS/LitData index.json) are written before the manifest.
    manifest["files"] += layout.write_indexes(spec, stats)
    uri = mf.write_manifest(version_uri, manifest, opts)
    ctx.progress("pack", f"{n_out_docs} documents, {n_out_tokens} tokens in {len(raw_ids)} shard(s); {uri}")
    n_in = manifest["n_docs"]
    return StageResult("pack", n_in, n_in, 0, detail={"version": version, "uri": version_uri, "n_tokens": n_out_tokens,
                                                      "shards": len(raw_ids), "input_version": in_version,
                                                      "out_docs": n_out_docs})


def _check_against_plan(stats: list[dict], expected: dict[int, list[int]], formats) -> None:
    """Every shard written exactly once per format, with the documents and tokens the plan gave it."""
    for fmt in formats:
        got: dict[int, list[int]] = {}
        for s in stats:
            if s["format"] != fmt or s["path"].endswith((".idx", ".csv.gz")):
                continue
            g = got.setdefault(s["shard"], [0, 0])
            g[0] += s["n_docs"]
            g[1] += s["n_tokens"]
        if fmt in writers.PACKED_FORMATS:
            got = {k: v for k, v in got.items()}
            if set(got) != set(expected):
                raise RuntimeError(f"{fmt}: shards written {sorted(got)} differ from the plan {sorted(expected)}")
            continue
        if got != {k: list(v) for k, v in expected.items()}:
            diff = {k: (got.get(k), expected.get(k)) for k in set(got) | set(expected) if got.get(k) != expected.get(k)}
            raise RuntimeError(f"{fmt}: written shards differ from the plan (shard: (written, planned)): "
                               f"{dict(list(diff.items())[:5])}")
