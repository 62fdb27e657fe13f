"""Validate: checks that must hold after a run, and the run report under reports/<run_id>/.

Checks: counts in == kept + rejected for every stage (from the stage results and again from the
tables themselves), unique doc_id per table, and the newest shard version's manifest against
its files (sha256, sizes, and the .idx document and token counts). Any failure stops the
pipeline with a one-screen summary.
"""
from __future__ import annotations

import hashlib
import html
import json

from pyspark.sql import functions as F

from .. import manifest as mf
from .. import storage
from ..formats.megatron import read_index
from .base import StageContext, StageResult

DOC_TABLES = ("bronze/documents", "silver/documents", "gold/documents", "gold/tokens")


class ValidationFailed(RuntimeError):
    pass


def _check(checks: list[dict], name: str, ok: bool, detail: str) -> None:
    checks.append({"check": name, "ok": bool(ok), "detail": detail})


def table_checks(ctx: StageContext, checks: list[dict]) -> dict[str, int]:
    lake = ctx.lake
    counts = {t: lake.read(t).count() for t in DOC_TABLES}
    rejected = {r["stage"]: r["count"] for r in lake.read("silver/rejected").groupBy("stage").count().collect()}
    for t in DOC_TABLES:
        dupes = lake.read(t).groupBy("doc_id").count().filter(F.col("count") > 1).limit(5).collect()
        _check(checks, f"unique doc_id in {t}", not dupes, f"{counts[t]} rows; repeated: {[d.doc_id for d in dupes]}")
    q, d = rejected.get("quality", 0), rejected.get("dedup", 0)
    _check(checks, "bronze = silver + rejected(quality)", counts["bronze/documents"] == counts["silver/documents"] + q,
           f"{counts['bronze/documents']} = {counts['silver/documents']} + {q}")
    _check(checks, "silver = gold + rejected(dedup)", counts["silver/documents"] == counts["gold/documents"] + d,
           f"{counts['silver/documents']} = {counts['gold/documents']} + {d}")
    _check(checks, "gold = tokens", counts["gold/documents"] == counts["gold/tokens"],
           f"{counts['gold/documents']} = {counts['gold/tokens']}")
    counts.update({f"silver/rejected[{k}]": v for k, v in rejected.items()})
    return counts


def shard_checks(ctx: StageContext, checks: list[dict]) -> dict | None:
    opts = ctx.cfg.lake.storage_options
    versions = mf.complete_versions(ctx.lake.root, ctx.cfg.pack.dataset, opts)
    if not versions:
        _check(checks, "a complete shard version exists", False, "no shard version with a manifest")
        return None
    vuri = storage.join(mf.dataset_uri(ctx.lake.root, ctx.cfg.pack.dataset), f"v{versions[-1]}")
    man = mf.read_manifest(vuri, opts)
    bad = []
    for f in man["files"]:
        data = storage.read_bytes(storage.join(vuri, f["path"]), opts)
        if hashlib.sha256(data).hexdigest() != f["sha256"] or len(data) != f["bytes"]:
            bad.append(f["path"])
        if f["path"].endswith(".idx"):
            info = read_index(data)
            if len(info.lengths) != f["n_docs"] or int(info.lengths.sum()) != f["n_tokens"]:
                bad.append(f["path"] + " (counts)")
    _check(checks, f"v{versions[-1]} files match manifest", not bad, f"mismatched: {bad}" if bad else
           f"{len(man['files'])} files verified")
    tokens = ctx.lake.read("gold/tokens").agg(F.count(F.lit(1)).alias("d"), F.sum("n_tokens").alias("t")).first()
    _check(checks, "manifest counts = gold/tokens", man["n_docs"] == tokens.d and man["n_tokens"] == (tokens.t or 0),
           f"manifest {man['n_docs']} docs / {man['n_tokens']} tokens; table {tokens.d} / {tokens.t}")
    return {"uri": vuri, **{k: man[k] for k in ("version", "n_docs", "n_tokens", "files", "tokenizer", "inputs")}}


def stage_results(ctx: StageContext) -> list[StageResult]:
    """This run's stage results: from memory, or from _stage_runs when each stage ran as its own
    job task (Databricks) with a shared run id."""
    if ctx.results:
        return list(ctx.results.values())
    rows = ctx.lake.read("_stage_runs").filter(F.col("run_id") == ctx.run_id).collect()
    return [StageResult(r.stage, r.n_in, r.n_kept, r.n_rejected, r.seconds, json.loads(r.detail or "{}"))
            for r in rows if r.stage != "validate"]


def run(ctx: StageContext) -> StageResult:
    checks: list[dict] = []
    results = stage_results(ctx)
    for res in results:
        _check(checks, f"{res.stage}: in = kept + rejected", res.balanced,
               f"{res.n_in} = {res.n_kept} + {res.n_rejected}")
    counts = table_checks(ctx, checks)
    shards = shard_checks(ctx, checks)
    report = {"run_id": ctx.run_id, "checks": checks, "table_counts": counts, "shards": shards,
              "stages": [vars(r) for r in results],
              "table_versions": {t: ctx.lake.version(t) for t in DOC_TABLES + ("silver/rejected",)}}
    base = storage.join(ctx.lake.root, "reports", ctx.run_id)
    opts = ctx.cfg.lake.storage_options
    storage.write_bytes(storage.join(base, "summary.json"), json.dumps(report, indent=2, default=str).encode(), opts)
    storage.write_bytes(storage.join(base, "index.html"), render_html(report).encode(), opts)
    failed = [c for c in checks if not c["ok"]]
    ctx.progress("validate", f"{len(checks) - len(failed)}/{len(checks)} checks passed; report {base}/index.html")
    if failed:
        lines = "\n".join(f"  FAILED {c['check']}: {c['detail']}" for c in failed)
        raise ValidationFailed(f"validation failed ({len(failed)} of {len(checks)} checks):\n{lines}\nreport: {base}")
    return StageResult("validate", len(checks), len(checks), 0, detail={"report": base})


def render_html(report: dict) -> str:
    """A self-contained page: checks, stage counts, table counts and shard files."""
    esc = html.escape

    def table(headers, rows):
        head = "".join(f"<th>{esc(str(h))}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in r) + "</tr>" for r in rows)
        return f"<table><tr>{head}</tr>{body}</table>"

    parts = [f"<h1>tokenlake run {esc(report['run_id'])}</h1>",
             "<h2>Checks</h2>", table(["check", "ok", "detail"],
                                      [(c["check"], "yes" if c["ok"] else "NO", c["detail"]) for c in report["checks"]]),
             "<h2>Stages</h2>", table(["stage", "in", "kept", "rejected", "seconds"],
                                      [(s["stage"], s["n_in"], s["n_kept"], s["n_rejected"], f"{s['seconds']:.1f}")
                                       for s in report["stages"]]),
             "<h2>Tables</h2>", table(["table", "rows", "version"],
                                      [(t, n, report["table_versions"].get(t, "")) for t, n in report["table_counts"].items()])]
    if report["shards"]:
        s = report["shards"]
        parts += [f"<h2>Shards v{s['version']}: {s['n_docs']} documents, {s['n_tokens']} tokens</h2>",
                  table(["file", "bytes", "docs", "tokens", "sha256"],
                        [(f["path"], f["bytes"], f["n_docs"], f["n_tokens"], f["sha256"]) for f in s["files"]])]
    style = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px}"
    return f"<!doctype html><html><head><meta charset='utf-8'><title>tokenlake report</title><style>{style}</style></head>" \
           f"<body>{''.join(parts)}</body></html>"
