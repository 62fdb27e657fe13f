"""Materialize an intermediate result, keeping its schema even when it has no rows.

Why: ``Lake.materialize`` writes Parquet and reads it back; on Sail an empty DataFrame writes no
file, so the re-read has no columns and the next step fails to resolve them. Dedup often has empty
intermediates (no duplicates, no candidate edges), so the declared schema is reapplied here.
"""
from __future__ import annotations

from pyspark.sql import DataFrame

from ..tables import Lake


def materialize(lake: Lake, df: DataFrame, label: str) -> tuple[DataFrame, str]:
    schema = df.schema
    out, uri = lake.materialize(df, label)
    if not out.columns:
        out = lake.spark.createDataFrame([], schema)
    return out, uri
