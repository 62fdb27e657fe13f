"""Report statistics, computed with Spark (only small aggregates reach the driver)."""
from __future__ import annotations

from typing import Any

from pyspark.sql import Window
from pyspark.sql import functions as F


def log2_histogram(df, column: str) -> list[tuple[str, int]]:
    """Counts per power-of-two bucket [2^k, 2^(k+1)): lengths span orders of magnitude."""
    bucket = F.when(F.col(column) <= 0, F.lit(-1)).otherwise(F.floor(F.log2(F.col(column)))).cast("int")
    rows = df.select(bucket.alias("b")).groupBy("b").count().orderBy("b").collect()
    return [("0" if r.b < 0 else f"{2 ** r.b}-{2 ** (r.b + 1) - 1}", r["count"]) for r in rows]


def funnel(lake) -> list[dict[str, Any]]:
    """Documents and characters removed per stage and reason, ingest quarantine first."""
    out = [{"stage": "ingest", "reason": r.reason, "docs": r["count"], "chars": None}
           for r in lake.read("bronze/quarantine").groupBy("reason").count().orderBy(F.desc("count")).collect()]
    rows = (lake.read("silver/rejected").groupBy("stage", "reason")
            .agg(F.count(F.lit(1)).alias("docs"), F.sum(F.length("text")).alias("chars"))
            .orderBy("stage", F.desc("docs")).collect())
    order = {"quality": 0, "dedup": 1}
    out += sorted(({"stage": r.stage, "reason": r.reason, "docs": r.docs, "chars": r.chars} for r in rows),
                  key=lambda d: order.get(d["stage"], 9))
    return out


def samples(lake, per_reason: int) -> dict[str, list[dict[str, str]]]:
    w = Window.partitionBy("stage", "reason").orderBy("doc_id")
    rows = (lake.read("silver/rejected").withColumn("_n", F.row_number().over(w)).filter(F.col("_n") <= per_reason)
            .select("stage", "reason", "doc_id", F.substring("text", 1, 400).alias("text")).collect())
    out: dict[str, list[dict[str, str]]] = {}
    for r in sorted(rows, key=lambda r: (r.stage, r.reason, r.doc_id)):
        out.setdefault(f"{r.stage}: {r.reason}", []).append({"doc_id": r.doc_id, "text": r.text})
    return out


def collect(lake, manifest: dict | None, per_reason: int) -> dict[str, Any]:
    gold = lake.read("gold/documents")
    tokens = lake.read("gold/tokens")
    stats: dict[str, Any] = {
        "funnel": funnel(lake),
        "doc_chars_histogram": log2_histogram(gold, "n_chars"),
        "doc_tokens_histogram": log2_histogram(tokens, "n_tokens"),
        "cluster_sizes": [(str(r.cluster_size), r["count"]) for r in
                          gold.groupBy("cluster_size").count().orderBy("cluster_size").collect()],
        "tokens_per_source": [(r.source, int(r.t or 0)) for r in
                              tokens.groupBy("source").agg(F.sum("n_tokens").alias("t")).orderBy("source").collect()],
        "samples": samples(lake, per_reason),
        "languages": None,
    }
    if "lang" in gold.columns:
        stats["languages"] = [(r.lang or "?", r["count"]) for r in
                              gold.groupBy("lang").count().orderBy(F.desc("count"), "lang").collect()]
    stats["shards"] = manifest
    return stats
