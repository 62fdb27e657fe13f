"""Validate: run the expectation suites in schemas/expectations/ and write the run report.

GX expectations run on the engine's DataFrames; tokenlake checks (counts in = kept + rejected,
token ids below the vocabulary, the shard manifest against its files, language shares) are
computed with Spark. Results go to reports/<run_id>/ as JSON, GX Data Docs and one
self-contained index.html. An error-severity failure stops the pipeline with a one-screen summary.
"""
from __future__ import annotations

import json
import os
import shutil

from pyspark.sql import functions as F

from .. import manifest as mf
from .. import storage
from ..report.page import render
from ..report.stats import collect
from ..tokenizer import load_latest
from ..validation.checks import CHECKS, Facts
from ..validation.gx_runner import run_gx
from ..validation.results import CheckResult, summary_lines
from ..validation.suites import load_suites, resolve
from .base import StageContext, StageResult

REPORT_TABLES = ("bronze/documents", "bronze/quarantine", "silver/documents", "silver/rejected", "gold/documents",
                 "gold/tokens")


class ValidationFailed(RuntimeError):
    pass


def stage_results(ctx: StageContext) -> list[StageResult]:
    """This run's stage results: from memory; else from _stage_runs for this run id (a Databricks
    job runs each stage as its own task); else the latest run of each stage (`tokenlake validate`)."""
    if ctx.results:
        return [r for r in ctx.results.values() if r.stage != "validate"]
    runs = ctx.lake.read("_stage_runs").filter(F.col("stage") != "validate")
    rows = runs.filter(F.col("run_id") == ctx.run_id).collect()
    if not rows:
        latest = runs.groupBy("stage").agg(F.max("finished_at").alias("finished_at"))
        rows = runs.join(latest, ["stage", "finished_at"]).collect()
    return [StageResult(r.stage, r.n_in, r.n_kept, r.n_rejected, r.seconds, json.loads(r.detail or "{}"))
            for r in sorted(rows, key=lambda r: r.finished_at or "")]


def newest_manifest(ctx: StageContext) -> tuple[dict | None, str | None]:
    opts = ctx.cfg.lake.storage_options
    versions = mf.complete_versions(ctx.lake.root, ctx.cfg.pack.dataset, opts)
    if not versions:
        return None, None
    uri = storage.join(mf.dataset_uri(ctx.lake.root, ctx.cfg.pack.dataset), f"v{versions[-1]}")
    return mf.read_manifest(uri, opts), uri


def run_suites(ctx: StageContext, facts: Facts) -> tuple[list[CheckResult], str | None]:
    tok = facts.tokenizer
    values = {**ctx.cfg.to_dict(), "runtime": {"tokenizer_sha256": tok.sha256 if tok else ""}}
    gx_runs, own = [], []
    for suite in load_suites():
        if suite.table and not ctx.lake.exists(suite.table):
            own.append(CheckResult(suite.name, suite.table, "table_exists", {}, "error", False,
                                   f"{suite.table} does not exist: run the stages before validate"))
            continue
        gx_exps = [(e.name, resolve(e.kwargs, suite.table, values), e.severity) for e in suite.expectations if e.is_gx]
        if gx_exps:
            gx_runs.append((suite.name, suite.table, ctx.lake.read(suite.table), gx_exps))
        for e in suite.expectations:
            if e.is_gx:
                continue
            kwargs = resolve(e.kwargs, suite.table, values)
            try:
                ok, observed, samples = CHECKS[e.name](facts, **kwargs)
            except Exception as exc:  # noqa: BLE001 - a check that cannot run has failed, and says why
                ok, observed, samples = False, f"check raised {type(exc).__name__}: {exc}", []
            own.append(CheckResult(suite.name, suite.table, e.name, kwargs, e.severity, ok, observed, samples))
    gx_results, docs_dir = run_gx(gx_runs, ctx.run_id) if gx_runs else ([], None)
    return gx_results + own, docs_dir


def _upload_dir(local: str, target: str, options) -> None:
    for root, _, files in os.walk(local):
        for name in files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, local).replace(os.sep, "/")
            with open(path, "rb") as fh:
                storage.write_bytes(storage.join(target, *rel.split("/")), fh.read(), options)


def run(ctx: StageContext) -> StageResult:
    cfg, lake = ctx.cfg, ctx.lake
    opts = cfg.lake.storage_options
    manifest, manifest_uri = newest_manifest(ctx)
    try:
        tokenizer = load_latest(lake.root, cfg.tokenizer.name, cfg.tokenizer.eos, cfg.tokenize.bos, opts)
    except FileNotFoundError:
        tokenizer = None
    facts = Facts(lake, cfg, stage_results(ctx), manifest, manifest_uri, tokenizer)
    ctx.progress("validate", "running expectation suites")
    results, docs_dir = run_suites(ctx, facts)
    base = storage.join(lake.root, "reports", ctx.run_id)
    by_suite: dict[str, list[dict]] = {}
    for r in results:
        by_suite.setdefault(r.suite, []).append(r.to_dict())
    for suite, rows in by_suite.items():
        storage.write_bytes(storage.join(base, "validation", f"{suite}.json"),
                            json.dumps({"suite": suite, "results": rows}, indent=2, default=str).encode(), opts)
    if docs_dir:
        if cfg.validate_.data_docs:
            _upload_dir(docs_dir, storage.join(base, "data_docs"), opts)
        shutil.rmtree(docs_dir.split(os.sep + "gx" + os.sep)[0], ignore_errors=True)  # the temporary GX project
    ctx.progress("validate", "collecting report statistics")
    report = {
        "run_id": ctx.run_id,
        "stages": [vars(r) for r in facts.stage_results],
        "checks": [r.to_dict() for r in results],
        "tables": {t: {"format": lake.table_format, "version": lake.version(t), "rows": lake.read(t).count()}
                   for t in REPORT_TABLES if lake.exists(t)},
        "stats": collect(lake, manifest, cfg.validate_.samples_per_reason),
    }
    storage.write_bytes(storage.join(base, "summary.json"), json.dumps(report, indent=2, default=str).encode(), opts)
    storage.write_bytes(storage.join(base, "index.html"), render(report).encode("utf-8"), opts)
    failed = [r for r in results if not r.success]
    blocking = [r for r in failed if r.blocking]
    ctx.progress("validate", f"{len(results) - len(failed)}/{len(results)} checks passed "
                             f"({len(blocking)} errors, {len(failed) - len(blocking)} warnings); report {base}/index.html")
    if blocking:
        raise ValidationFailed(f"validation failed: {len(blocking)} error(s), {len(failed) - len(blocking)} warning(s)\n"
                               + "\n".join(summary_lines(results)) + f"\nreport: {base}/index.html")
    return StageResult("validate", len(results), len(results) - len(failed), len(failed),
                       detail={"report": base, "warnings": len(failed)})
