"""Quality: bronze/documents -> silver/annotated -> silver/documents + silver/rejected (stage 'quality').

Signals (language, Gopher, C4, FineWeb, URL block lists, PII counts) are computed once per document
and per signal parameters into ``silver/annotated`` by a pure Arrow function; a later run computes
them only for new documents. The keep/drop decision is a separate, cheap step: every rule is a
Column condition over the stored signals and a threshold from config, so changing a threshold
re-decides without recomputing a signal. A dropped document keeps all its failing rules, the first
one as ``reason``; the funnel (documents and characters per rule) goes to ``stats/quality_funnel``.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..config import QualityConfig
from ..schemas_registry import spec
from ..signals.annotate import BASE, DDL, SignalParams, annotator
from ..signals.c4 import C4Params
from ..signals.urls import load_blocklist
from .base import StageContext, StageResult

ANNOTATED = "silver/annotated"
FUNNEL = "stats/quality_funnel"
ENGLISH_CENTRIC = ("gopher_quality", "gopher_repetition", "c4", "fineweb")


@dataclass(frozen=True)
class Rule:
    name: str      # the reason string a dropped document carries
    family: str
    drops: Column  # true when the document fails the rule


def _s(name: str) -> Column:
    return F.col("signals")[name]


def rules(cfg: QualityConfig) -> list[Rule]:
    """Every enabled rule, in the order they are checked (the first failing one is the reason)."""
    out = [Rule("too_short", "length", F.col("n_chars") < cfg.min_chars),
           Rule("too_long", "length", F.col("n_chars") > cfg.max_chars),
           Rule("too_few_words", "length", F.col("n_words") < cfg.min_words)]
    if cfg.lid.languages:
        out.append(Rule("language_not_allowed", "language",
                        F.col("lang").isNull() | ~F.col("lang").isin(*cfg.lid.languages)))
    if cfg.lid.min_score > 0:
        out.append(Rule("low_language_score", "language", F.col("lang_score") < cfg.lid.min_score))
    if cfg.url_blocklist.domain_files or cfg.url_blocklist.substring_files:
        out.append(Rule("url_blocklisted", "url", (_s("url_blocked_domain") > 0) | (_s("url_blocked_substring") > 0)))
    g = cfg.gopher_quality
    if g.enabled:
        out += [Rule(n, "gopher_quality", c) for n, c in [
            ("gopher_short_doc", _s("gopher_words") < g.min_words),
            ("gopher_long_doc", _s("gopher_words") > g.max_words),
            ("gopher_below_avg_word_length", _s("gopher_mean_word_length") < g.min_mean_word_length),
            ("gopher_above_avg_word_length", _s("gopher_mean_word_length") > g.max_mean_word_length),
            ("gopher_too_many_hashes", _s("gopher_hash_ratio") > g.max_symbol_word_ratio),
            ("gopher_too_many_ellipsis", _s("gopher_ellipsis_ratio") > g.max_symbol_word_ratio),
            ("gopher_too_many_bullets", _s("gopher_bullet_lines_ratio") > g.max_bullet_lines_ratio),
            ("gopher_too_many_end_ellipsis", _s("gopher_end_ellipsis_lines_ratio") > g.max_end_ellipsis_lines_ratio),
            ("gopher_below_alpha_threshold", _s("gopher_alpha_words_ratio") < g.min_alpha_words_ratio),
            ("gopher_too_few_stop_words", _s("gopher_stop_words") < g.min_stop_words)]]
    r = cfg.gopher_repetition
    if r.enabled:
        out += [Rule(n, "gopher_repetition", c) for n, c in [
            ("gopher_dup_para_frac", _s("gopher_dup_para_frac") > r.max_dup_para_frac),
            ("gopher_dup_para_char_frac", _s("gopher_dup_para_char_frac") > r.max_dup_para_char_frac),
            ("gopher_dup_line_frac", _s("gopher_dup_line_frac") > r.max_dup_line_frac),
            ("gopher_dup_line_char_frac", _s("gopher_dup_line_char_frac") > r.max_dup_line_char_frac)]]
        out += [Rule(f"gopher_top_{n}_gram", "gopher_repetition", _s(f"gopher_top_{n}_gram_char_frac") > t)
                for n, t in sorted(r.max_top_ngram_char_frac.items())]
        out += [Rule(f"gopher_dup_{n}_grams", "gopher_repetition", _s(f"gopher_dup_{n}_gram_char_frac") > t)
                for n, t in sorted(r.max_dup_ngram_char_frac.items())]
    c = cfg.c4
    if c.enabled:
        sfx = "" if c.terminal_punct else "_any_end"
        if c.lorem_ipsum:
            out.append(Rule("c4_lorem_ipsum", "c4", _s(f"c4_lorem_ipsum{sfx}") > 0))
        if c.curly_bracket:
            out.append(Rule("c4_curly_bracket", "c4", _s(f"c4_curly_bracket{sfx}") > 0))
        out.append(Rule("c4_too_few_sentences", "c4", _s(f"c4_sentences{sfx}") < c.min_sentences))
    f = cfg.fineweb
    if f.enabled:
        out += [Rule(n, "fineweb", cond) for n, cond in [
            ("fineweb_line_punct_ratio", _s("fineweb_line_punct_ratio") < f.min_line_punct_ratio),
            ("fineweb_short_line_ratio", _s("fineweb_short_line_ratio") > f.max_short_line_ratio),
            ("fineweb_char_dup_ratio", _s("fineweb_char_dup_ratio") > f.max_char_dup_ratio),
            ("fineweb_list_ratio", _s("fineweb_list_ratio") > f.max_list_ratio)]]
    if cfg.rule_languages:  # the English-centric families judge only the languages they were made for
        in_scope = F.col("lang").isin(*cfg.rule_languages)
        out = [Rule(x.name, x.family, in_scope & x.drops) if x.family in ENGLISH_CENTRIC else x for x in out]
    return out


def signal_params(cfg: QualityConfig, options: dict[str, str] | None = None) -> SignalParams:
    bl = cfg.url_blocklist
    return SignalParams(lid_model_uri=cfg.lid.model_uri,
                        c4=C4Params(cfg.c4.min_words_per_line, cfg.c4.max_word_length),
                        short_line_length=cfg.fineweb.short_line_length,
                        blocklist=load_blocklist(bl.domain_files, bl.substring_files, options),
                        redact_pii=cfg.redact_pii, options=dict(options or {}))


def decide(annotated: DataFrame, cfg: QualityConfig) -> DataFrame:
    """Add ``reasons``: every failing rule in check order; an empty array means keep."""
    failing = [F.when(F.coalesce(r.drops, F.lit(False)), F.lit(r.name)) for r in rules(cfg)]
    return annotated.withColumn("reasons", F.array_compact(F.array(*failing)) if failing else F.array().cast("array<string>"))


def rejected_rows(decided: DataFrame, stage: str) -> DataFrame:
    extra = F.create_map(*[x for s in ("n_chars", "n_words", "n_lines", "lang_score", "quality_score")
                           for x in (F.lit(s), F.col(s).cast("double"))])
    return decided.filter(F.size("reasons") > 0).select(
        "doc_id", "source", F.lit(stage).alias("stage"), F.get(F.col("reasons"), 0).alias("reason"), "reasons",
        F.map_concat(F.col("signals"), extra).alias("signals"), F.lit(None).cast("string").alias("kept_doc_id"), "text")


def funnel(decided: DataFrame, cfg: QualityConfig) -> list[dict]:
    """Per rule: documents and characters it removed first, and that fail it at all (one pass)."""
    rs = rules(cfg)
    aggs = [F.count(F.lit(1)).alias("docs_in")]
    for i, r in enumerate(rs):
        first = F.coalesce(F.get(F.col("reasons"), 0) == r.name, F.lit(False))
        anyr = F.array_contains("reasons", r.name)
        aggs += [F.sum(F.when(first, 1).otherwise(0)).alias(f"df{i}"),
                 F.sum(F.when(first, F.col("n_chars")).otherwise(0)).alias(f"cf{i}"),
                 F.sum(F.when(anyr, 1).otherwise(0)).alias(f"da{i}"),
                 F.sum(F.when(anyr, F.col("n_chars")).otherwise(0)).alias(f"ca{i}")]
    row = decided.agg(*aggs).collect()[0]
    n_in = int(row["docs_in"] or 0)
    return [{"rule": r.name, "family": r.family, "position": i, "docs_first": int(row[f"df{i}"] or 0),
             "chars_first": int(row[f"cf{i}"] or 0), "docs_any": int(row[f"da{i}"] or 0),
             "chars_any": int(row[f"ca{i}"] or 0), "docs_in": n_in} for i, r in enumerate(rs)]


def annotate(ctx: StageContext, params: SignalParams) -> int:
    """Bring silver/annotated up to date with bronze; returns how many documents were annotated."""
    lake = ctx.lake
    bronze = lake.read("bronze/documents").select(*BASE)
    stored = lake.read(ANNOTATED)
    stale = stored.filter(F.col("signal_params") != F.lit(params.key)).limit(1).count() > 0
    todo = bronze if stale else bronze.join(stored.select("doc_id"), "doc_id", "left_anti")
    n = todo.count()
    if n or stale:
        ctx.progress("quality", f"computing signals of {n} documents" + (" (signal parameters changed)" if stale else ""))
        # Spread the documents first: engines keep the input's partitioning (Sail reads a few files, or
        # the result of an anti-join, as one partition), and signals are the expensive part.
        spread = todo.repartition(ctx.cfg.engine.partitions)
        lake.write(spread.mapInArrow(annotator(params), DDL), ANNOTATED, mode="overwrite" if stale else "append")
    return n


def run(ctx: StageContext) -> StageResult:
    lake, qc = ctx.lake, ctx.cfg.quality
    params = signal_params(qc, ctx.cfg.lake.storage_options)
    n_signed = annotate(ctx, params)
    bronze_ids = lake.read("bronze/documents").select("doc_id")
    annotated = lake.read(ANNOTATED).join(bronze_ids, "doc_id", "left_semi")
    n_in = bronze_ids.count()
    decided = decide(annotated, qc)
    kept = decided.filter(F.size("reasons") == 0).select(*spec("silver/documents").names)
    lake.write(kept, "silver/documents", mode="overwrite")
    lake.write(rejected_rows(decided, "quality"), "silver/rejected", replace_stage="quality")
    rows = funnel(decided, qc)
    if rows and rows[0]["docs_in"] != n_in:
        raise RuntimeError(f"quality: {rows[0]['docs_in']} annotated documents for {n_in} in bronze/documents")
    if rows:
        stats = ctx.spark.createDataFrame([dict(r, run_id=ctx.run_id) for r in rows], spec(FUNNEL).spark_schema)
        lake.write(stats.select(*spec(FUNNEL).names), FUNNEL, mode="append")
    for r in rows:
        if r["docs_any"]:
            ctx.progress("quality", f"{r['rule']:<32} first {r['docs_first']:>8} docs {r['chars_first']:>12} chars"
                                    f"   any {r['docs_any']:>8} docs")
    n_kept = lake.read("silver/documents").count()
    n_rej = lake.read("silver/rejected").filter(F.col("stage") == "quality").count()
    reasons = {r["rule"]: r["docs_first"] for r in rows if r["docs_first"]}
    return StageResult("quality", n_in, n_kept, n_rej,
                       detail={"reasons": reasons, "signals_computed": n_signed, "signal_params": params.key,
                               "funnel": rows})
