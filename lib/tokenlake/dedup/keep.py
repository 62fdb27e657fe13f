"""Which document of a duplicate cluster is kept: a configurable policy, ties broken by doc_id.

The choice is a group-by minimum of a struct of sort keys (no window sort, so a huge cluster is
aggregated, not sorted in one task). Keys, in order:
  1. ``keep_existing``: a document already in gold/documents wins, so a new batch never replaces a
     published document;
  2. the policy: ``earliest`` (smallest crawl date; documents without one come last; when no
     crawl date column exists at all, this key is skipped and the smallest doc_id is kept),
     ``longest`` (most characters), ``quality`` (highest value of the configured score column;
     missing scores come last; no such column: skipped);
  3. the smallest doc_id, so the choice is total and deterministic.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def sort_keys(columns: list[str], policy: str, date_column: str, quality_column: str,
              keep_existing: bool) -> tuple[list[Column], str]:
    """(sort key columns, a note on what the policy used) for documents with the given columns."""
    keys: list[Column] = []
    if keep_existing:
        keys.append(F.when(F.col("in_gold"), F.lit(0)).otherwise(F.lit(1)))
    note = policy
    if policy == "earliest":
        if date_column in columns:
            keys += [F.col(date_column).isNull(), F.coalesce(F.col(date_column).cast("string"), F.lit(""))]
        else:
            note = f"earliest: no {date_column!r} column, kept the smallest doc_id"
    elif policy == "longest":
        keys.append(-F.col("n_chars") if "n_chars" in columns else -F.length("text"))
    elif policy == "quality":
        if quality_column in columns:
            score = F.col(quality_column).cast("double")
            keys += [score.isNull(), -F.coalesce(score, F.lit(0.0))]
        else:
            note = f"quality: no {quality_column!r} column, kept the smallest doc_id"
    else:
        raise ValueError(f"unknown keep policy {policy!r}")
    keys.append(F.col("doc_id"))
    return keys, note


def kept_per_cluster(docs: DataFrame, keys: list[Column]) -> DataFrame:
    """docs (doc_id, cluster_id, key columns...) -> (cluster_id, kept_doc_id)."""
    fields = [k.alias(f"k{i}") for i, k in enumerate(keys)]
    best = docs.groupBy("cluster_id").agg(F.min(F.struct(*fields)).alias("best"))
    return best.select("cluster_id", F.col(f"best.k{len(keys) - 1}").alias("kept_doc_id"))
