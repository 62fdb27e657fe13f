"""Dedup: silver/documents -> gold/documents + silver/rejected (stage = 'dedup').

Exact duplicates by a hash of the normalized text (NFC, case folding, whitespace collapsing, each
configurable). A cluster's id is its smallest doc_id, and that document is the one kept, so the
result does not depend on partitioning or engine.
"""
from __future__ import annotations

from typing import Iterator

import pyarrow as pa
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from .. import ids
from ..config import DedupConfig
from ..schemas_registry import spec
from .base import StageContext, StageResult


def hasher(cfg: DedupConfig):
    """A mapInArrow body adding ``text_hash`` to (doc_id, text) batches."""
    nfc, lower, ws = cfg.nfc, cfg.lowercase, cfg.collapse_whitespace

    def add_hash(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            hashes = [ids.text_hash(ids.normalize_text(t, nfc, lower, ws)) for t in batch.column("text").to_pylist()]
            yield pa.RecordBatch.from_arrays([batch.column("doc_id"), pa.array(hashes, pa.string())],
                                             names=["doc_id", "text_hash"])

    return add_hash


def exact_clusters(hashed: DataFrame) -> DataFrame:
    """(doc_id, text_hash) -> + cluster_id (smallest doc_id with that hash), cluster_size."""
    by_hash = Window.partitionBy("text_hash")
    return hashed.select("doc_id", "text_hash", F.min("doc_id").over(by_hash).alias("cluster_id"),
                         F.count(F.lit(1)).over(by_hash).alias("cluster_size"))


def run(ctx: StageContext) -> StageResult:
    lake = ctx.lake
    silver = lake.read("silver/documents")
    if not ctx.cfg.dedup.exact:
        hashed = silver.select("doc_id", F.col("doc_id").alias("text_hash"))
    else:
        hashed = silver.select("doc_id", "text").mapInArrow(hasher(ctx.cfg.dedup), "doc_id string, text_hash string")
    clusters, scratch = lake.materialize(exact_clusters(hashed), "dedup")
    try:
        joined = silver.join(clusters, "doc_id")
        kept = joined.filter(F.col("doc_id") == F.col("cluster_id")).select(*spec("gold/documents").names)
        lake.write(kept, "gold/documents", mode="overwrite")
        dropped = joined.filter(F.col("doc_id") != F.col("cluster_id")).select(
            "doc_id", "source", F.lit("dedup").alias("stage"), F.lit("exact_duplicate").alias("reason"),
            F.array(F.lit("exact_duplicate")).alias("reasons"),
            F.create_map(F.lit("cluster_size"), F.col("cluster_size").cast("double")).alias("signals"),
            F.col("cluster_id").alias("kept_doc_id"), "text")
        lake.write(dropped, "silver/rejected", replace_stage="dedup")
        n_in = clusters.count()
        n_clusters = clusters.filter(F.col("cluster_size") > 1).select("cluster_id").distinct().count()
    finally:
        lake.drop_scratch(scratch)
    n_kept = lake.read("gold/documents").count()
    n_rej = lake.read("silver/rejected").filter(F.col("stage") == "dedup").count()
    return StageResult("dedup", n_in, n_kept, n_rej, detail={"duplicate_clusters": n_clusters})
