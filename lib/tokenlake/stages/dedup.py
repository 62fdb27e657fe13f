"""Dedup: silver/documents -> gold/documents + silver/rejected (stage = 'dedup').

Exact duplicates share a hash of the normalized text; near duplicates share a MinHash LSH band
bucket (word n-gram shingles, ``bands x rows`` of ``num_hashes`` 64-bit permutations). Both kinds
of bucket become star edges (member -> smallest doc_id of the bucket), optionally verified by
exact n-gram Jaccard; connected components of those edges are the duplicate clusters, each with
``cluster_id`` = its smallest doc_id, so the result does not depend on partitioning or engine.
One document per cluster is kept by the keep policy (``dedup.keep``); every other one goes to
silver/rejected as ``exact_duplicate`` (same text hash as the kept one) or ``near_duplicate``,
with the kept doc_id.

Incremental: signatures are appended to ``dedup/signatures`` keyed by (doc_id, parameters, text
hash); a run signs only documents not there yet, and (``keep_existing``) documents already in
gold/documents win their clusters, so a new batch is deduplicated against what was published.
"""
from __future__ import annotations

from typing import Iterator

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from .. import ids
from ..config import DedupConfig
from ..dedup import components, keep, lsh, minhash
from ..dedup.scratch import materialize
from ..schemas_registry import spec
from .base import StageContext, StageResult

SIGNATURES = "dedup/signatures"


def params_of(cfg: DedupConfig) -> minhash.MinHashParams:
    return minhash.MinHashParams(ngram=cfg.ngram, num_hashes=cfg.num_hashes, bands=cfg.bands, rows=cfg.rows,
                                 seed=cfg.seed, nfc=cfg.nfc, lowercase=cfg.lowercase)


def hasher(cfg: DedupConfig):
    """A mapInArrow body adding ``text_hash`` to (doc_id, text) batches."""
    nfc, lower, ws = cfg.nfc, cfg.lowercase, cfg.collapse_whitespace

    def add_hash(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            hashes = [ids.text_hash(ids.normalize_text(t, nfc, lower, ws)) for t in batch.column("text").to_pylist()]
            yield pa.RecordBatch.from_arrays([batch.column("doc_id"), pa.array(hashes, pa.string())],
                                             names=["doc_id", "text_hash"])

    return add_hash


def signer(params: minhash.MinHashParams):
    """A mapInArrow body: (doc_id, text, text_hash) -> dedup/signatures rows."""
    key = params.key

    def sign(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            sig, n_sh = minhash.signatures(batch.column("text"), params)
            yield pa.RecordBatch.from_arrays(
                [batch.column("doc_id"), pa.array([key] * batch.num_rows, pa.string()), batch.column("text_hash"),
                 pa.array(n_sh, pa.int64()), minhash.to_binary(sig, n_sh)],
                names=["doc_id", "params", "text_hash", "n_shingles", "signature"])

    return sign


def _documents(ctx: StageContext, silver: DataFrame, cfg: DedupConfig) -> tuple[DataFrame, str]:
    """doc_id, scope, text_hash, in_gold and the keep-policy columns; and a note on the policy's source."""
    lake = ctx.lake
    cols = ["doc_id", "source", "n_chars"] + [c for c in (cfg.date_column, cfg.quality_column) if c in silver.columns]
    docs = silver.select(*cols)
    note = ""
    if cfg.keep == "earliest" and cfg.date_column not in silver.columns:
        bronze = lake.read("bronze/documents")
        if cfg.date_column in bronze.columns:
            docs = docs.join(bronze.select("doc_id", cfg.date_column), "doc_id", "left")
            note = f"{cfg.date_column} from bronze/documents"
    if cfg.scope == "snapshot":
        # (source, crawl snapshot): the snapshot is the part of the file's uri matching
        # snapshot_pattern (Common Crawl's CC-MAIN-YYYY-WW by default); no match -> the source alone.
        files = lake.read("bronze/documents").select(
            "doc_id", F.regexp_extract("file_uri", cfg.snapshot_pattern, 0).alias("_snapshot"))
        docs = docs.join(files, "doc_id", "left")
        scope = F.concat_ws("/", F.col("source"), F.coalesce(F.col("_snapshot"), F.lit("")))
    else:
        scope = F.col("source") if cfg.scope == "source" else F.lit("*")
    hashed = silver.select("doc_id", "text").mapInArrow(hasher(cfg), "doc_id string, text_hash string")
    prior = lake.read("gold/documents").select("doc_id", F.lit(True).alias("in_gold"))
    docs = (docs.join(hashed, "doc_id").join(prior, "doc_id", "left")
            .withColumn("in_gold", F.coalesce("in_gold", F.lit(False))).withColumn("scope", scope))
    return docs, note


def _signatures(ctx: StageContext, silver: DataFrame, docs: DataFrame, params: minhash.MinHashParams) -> tuple[DataFrame, int]:
    """(doc_id, signature) of every document, signing only those without a stored signature; and how many were signed."""
    lake = ctx.lake

    def stored() -> DataFrame:
        return lake.read(SIGNATURES).filter(F.col("params") == F.lit(params.key)).select(
            "doc_id", "text_hash", "signature")

    missing = docs.select("doc_id", "text_hash").join(stored().select("doc_id", "text_hash"),
                                                       ["doc_id", "text_hash"], "left_anti")
    n_new = missing.count()
    if n_new:
        ctx.progress("dedup", f"signing {n_new} documents")
        todo = silver.select("doc_id", "text").join(missing, "doc_id").select("doc_id", "text", "text_hash")
        lake.write(todo.mapInArrow(signer(params), spec(SIGNATURES).ddl), SIGNATURES, mode="append")
    sigs = docs.select("doc_id", "text_hash").join(stored(), ["doc_id", "text_hash"]).dropDuplicates(["doc_id"])
    return sigs.select("doc_id", "signature"), n_new


def run(ctx: StageContext) -> StageResult:
    lake, cfg = ctx.lake, ctx.cfg.dedup
    params = params_of(cfg)
    silver = lake.read("silver/documents")
    scratch: list[str] = []

    def keep_scratch(df: DataFrame, label: str) -> DataFrame:
        df, uri = materialize(lake, df, label)
        scratch.append(uri)
        return df

    try:
        docs, date_note = _documents(ctx, silver, cfg)
        docs = keep_scratch(docs, "dedup-docs")
        n_in = docs.count()
        n_signed = 0
        edges: list[DataFrame] = []
        if cfg.exact:
            edges.append(lsh.star_edges(docs.select("doc_id", "scope", "text_hash"), ["scope", "text_hash"]))
        if cfg.near:
            sigs, n_signed = _signatures(ctx, silver, docs, params)
            bands = sigs.mapInArrow(lsh.band_rows(params), lsh.BAND_DDL).join(docs.select("doc_id", "scope"), "doc_id")
            near = lsh.star_edges(bands, ["scope", "band", "bucket"])
            if cfg.verify_threshold is not None:
                near = lsh.verify(near.distinct(), silver.select("doc_id", "text"), params, cfg.verify_threshold)
            edges.append(near)
        rounds = 0
        n_edges = 0
        labels = None
        if edges:
            all_edges = edges[0]
            for more in edges[1:]:
                all_edges = all_edges.union(more)
            all_edges = keep_scratch(all_edges.distinct(), "dedup-candidates")
            n_edges = all_edges.count()
            ctx.progress("dedup", f"{n_edges} candidate edges; connected components")
            if n_edges:
                labels, cc_scratch, rounds = components.connected_components(lake, all_edges, cfg.max_rounds)
                scratch += cc_scratch
        if labels is None:
            labels = lake.spark.createDataFrame([], "node string, label string")
        assigned = (docs.join(labels, docs["doc_id"] == labels["node"], "left")
                    .withColumn("cluster_id", F.coalesce("label", "doc_id")).drop("node", "label"))
        sizes = assigned.groupBy("cluster_id").agg(F.count(F.lit(1)).alias("cluster_size"))
        keys, policy_note = keep.sort_keys(assigned.columns, cfg.keep, cfg.date_column, cfg.quality_column,
                                           cfg.keep_existing)
        kept = keep.kept_per_cluster(assigned, keys)
        kept_hash = docs.select(F.col("doc_id").alias("kept_doc_id"), F.col("text_hash").alias("kept_text_hash"))
        final = keep_scratch(
            assigned.join(sizes, "cluster_id").join(kept, "cluster_id").join(kept_hash, "kept_doc_id")
            .select("doc_id", "text_hash", "cluster_id", "cluster_size", "kept_doc_id", "kept_text_hash"),
            "dedup-final")

        joined = silver.join(final, "doc_id")
        lake.write(joined.filter(F.col("doc_id") == F.col("kept_doc_id")).select(*spec("gold/documents").names),
                   "gold/documents", mode="overwrite")
        reason = F.when(F.col("text_hash") == F.col("kept_text_hash"), F.lit("exact_duplicate")).otherwise(
            F.lit("near_duplicate"))
        dropped = joined.filter(F.col("doc_id") != F.col("kept_doc_id")).select(
            "doc_id", "source", F.lit("dedup").alias("stage"), reason.alias("reason"), F.array(reason).alias("reasons"),
            F.create_map(F.lit("cluster_size"), F.col("cluster_size").cast("double")).alias("signals"),
            "kept_doc_id", "text")
        lake.write(dropped, "silver/rejected", replace_stage="dedup")
        reasons = {r["reason"]: r["count"] for r in final.filter(F.col("doc_id") != F.col("kept_doc_id")).groupBy(
            reason.alias("reason")).count().collect()}
        n_clusters = final.filter(F.col("cluster_size") > 1).select("cluster_id").distinct().count()
    finally:
        for uri in scratch:
            lake.drop_scratch(uri)
    n_kept = lake.read("gold/documents").count()
    n_rej = lake.read("silver/rejected").filter(F.col("stage") == "dedup").count()
    note = policy_note + (f" ({date_note})" if date_note and cfg.keep == "earliest" else "")
    return StageResult("dedup", n_in, n_kept, n_rej, detail={
        "duplicate_clusters": n_clusters, "reasons": reasons, "candidate_edges": n_edges, "cc_rounds": rounds,
        "signatures_computed": n_signed, "scope": cfg.scope, "keep": note})
