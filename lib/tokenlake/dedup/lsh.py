"""Candidate edges from shared buckets (LSH bands, exact text hashes), skew-safe; optional verification.

Why stars, not pairs: a bucket shared by k documents (boilerplate pages, templated text) has
k(k-1)/2 pairs. Connecting every member to the bucket's smallest doc_id gives k-1 edges and the
same connected components. It is a group-by (partial aggregation, one row per bucket) and a join
against that one-row-per-bucket side, so a huge bucket streams instead of being held or sorted.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from . import minhash

BAND_DDL = "doc_id string, band int, bucket bigint"
EDGE_DDL = "src string, dst string, jaccard double"


def band_rows(params: minhash.MinHashParams):
    """mapInArrow body: (doc_id, signature) -> one (doc_id, band, bucket) row per band; null signatures skipped."""

    def body(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            valid = batch.column("signature").is_valid()
            batch = batch.filter(valid)
            if batch.num_rows == 0:
                continue
            keys = minhash.band_keys(minhash.from_binary(batch.column("signature"), params.num_hashes), params)
            n = batch.num_rows
            take = pa.array(np.repeat(np.arange(n), params.bands))
            yield pa.RecordBatch.from_arrays(
                [batch.column("doc_id").take(take),
                 pa.array(np.tile(np.arange(params.bands, dtype=np.int32), n)),
                 pa.array(keys.reshape(-1))], names=["doc_id", "band", "bucket"])

    return body


def star_edges(keyed: DataFrame, keys: list[str]) -> DataFrame:
    """(doc_id, *keys) -> (src, dst): each member of a bucket with >= 2 members -> the bucket's smallest doc_id."""
    smallest = keyed.groupBy(*keys).agg(F.min("doc_id").alias("dst"), F.count(F.lit(1)).alias("members"))
    smallest = smallest.filter(F.col("members") > 1).drop("members")
    return (keyed.join(smallest, keys).filter(F.col("doc_id") != F.col("dst"))
            .select(F.col("doc_id").alias("src"), "dst"))


def jaccard_of_pairs(params: minhash.MinHashParams):
    """mapInArrow body: (src, dst, src_text, dst_text) -> (src, dst, exact Jaccard of their shingle sets)."""

    def body(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            a = minhash.shingle_sets(batch.column("src_text"), params)
            b = minhash.shingle_sets(batch.column("dst_text"), params)
            sims = [minhash.jaccard(x, y) for x, y in zip(a, b)]  # one call per candidate pair
            yield pa.RecordBatch.from_arrays([batch.column("src"), batch.column("dst"), pa.array(sims, pa.float64())],
                                             names=["src", "dst", "jaccard"])

    return body


def verify(edges: DataFrame, texts: DataFrame, params: minhash.MinHashParams, threshold: float) -> DataFrame:
    """Keep the candidate edges whose exact n-gram Jaccard is >= threshold (texts: doc_id, text)."""
    pairs = (edges.join(texts.select(F.col("doc_id").alias("src"), F.col("text").alias("src_text")), "src")
             .join(texts.select(F.col("doc_id").alias("dst"), F.col("text").alias("dst_text")), "dst")
             .select("src", "dst", "src_text", "dst_text"))
    scored = pairs.mapInArrow(jaccard_of_pairs(params), EDGE_DDL)
    return scored.filter(F.col("jaccard") >= F.lit(threshold)).select("src", "dst")
