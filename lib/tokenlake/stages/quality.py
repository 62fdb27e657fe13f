"""Quality: bronze/documents -> silver/documents + silver/rejected (stage = 'quality').

Signals are computed once (a pure Arrow function) and materialized; the keep/drop decision is a
separate, cheap step from thresholds in config, so changing a threshold never recomputes signals.
"""
from __future__ import annotations

from typing import Iterator

import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..config import QualityConfig
from ..schemas_registry import spec
from ..signals.text_stats import text_stats
from .base import StageContext, StageResult

SIGNALS = ("n_chars", "n_words", "n_lines")
_BASE = ["doc_id", "source", "source_id", "url", "text"]


def add_signals(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: the document columns plus one column per signal."""
    for batch in batches:
        stats = text_stats(batch.column("text"))
        yield pa.RecordBatch.from_arrays([batch.column(n) for n in _BASE] + [stats[s] for s in SIGNALS],
                                         names=_BASE + list(SIGNALS))


def rules(cfg: QualityConfig) -> list[tuple[str, Column]]:
    """(reason, condition that drops the document), in the order reasons are reported."""
    return [
        ("too_short", F.col("n_chars") < F.lit(cfg.min_chars)),
        ("too_long", F.col("n_chars") > F.lit(cfg.max_chars)),
        ("too_few_words", F.col("n_words") < F.lit(cfg.min_words)),
    ]


def decide(signals: DataFrame, cfg: QualityConfig) -> DataFrame:
    """Add ``reasons`` (all failing rules, in rule order); an empty array means keep."""
    failing = [F.when(cond, F.lit(name)) for name, cond in rules(cfg)]
    return signals.withColumn("reasons", F.array_compact(F.array(*failing)))


def rejected_rows(decided: DataFrame, stage: str) -> DataFrame:
    signal_map = F.create_map(*[x for s in SIGNALS for x in (F.lit(s), F.col(s).cast("double"))])
    return decided.filter(F.size("reasons") > 0).select(
        "doc_id", "source", F.lit(stage).alias("stage"), F.col("reasons")[0].alias("reason"), "reasons",
        signal_map.alias("signals"), F.lit(None).cast("string").alias("kept_doc_id"), "text")


def run(ctx: StageContext) -> StageResult:
    lake = ctx.lake
    bronze = lake.read("bronze/documents").select(*_BASE)
    ddl = ", ".join([f"{n} string" for n in _BASE] + [f"{s} bigint" for s in SIGNALS])
    signals, scratch = lake.materialize(bronze.mapInArrow(add_signals, ddl), "quality")
    try:
        decided = decide(signals, ctx.cfg.quality)
        kept = decided.filter(F.size("reasons") == 0).select(*spec("silver/documents").names)
        lake.write(kept, "silver/documents", mode="overwrite")
        lake.write(rejected_rows(decided, "quality"), "silver/rejected", replace_stage="quality")
        n_in = signals.count()
        reasons = {r["reason"]: r["count"] for r in
                   decided.filter(F.size("reasons") > 0).groupBy(F.col("reasons")[0].alias("reason")).count().collect()}
    finally:
        lake.drop_scratch(scratch)
    n_kept = lake.read("silver/documents").count()
    n_rej = lake.read("silver/rejected").filter(F.col("stage") == "quality").count()
    return StageResult("quality", n_in, n_kept, n_rej, detail={"reasons": reasons})
