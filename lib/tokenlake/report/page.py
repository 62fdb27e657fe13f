"""Render the run report as one self-contained HTML page (inline CSS and SVG only)."""
from __future__ import annotations

import html
from typing import Any

from .svg import bar_chart

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}
th{background:#f2f2f2}.fail{color:#b00020;font-weight:bold}.warn{color:#a36b00;font-weight:bold}.ok{color:#1b7a1b}
.sample{font-family:monospace;font-size:12px;white-space:pre-wrap;background:#f7f7f7;padding:4px;margin:2px 0}
section{margin-bottom:2em}code{font-size:12px}"""


def _table(headers: list[str], rows: list[list[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def render(report: dict[str, Any]) -> str:
    s = report["stats"]
    checks = report["checks"]
    n_fail = sum(1 for c in checks if not c["success"] and c["severity"] == "error")
    n_warn = sum(1 for c in checks if not c["success"] and c["severity"] == "warning")
    status = ("<span class='fail'>FAILED</span>" if n_fail else "<span class='ok'>PASSED</span>") + \
             (f" <span class='warn'>{n_warn} warning(s)</span>" if n_warn else "")
    parts = [f"<h1>tokenlake run <code>{_e(report['run_id'])}</code></h1>",
             f"<p id='status'>Validation {status}: {len(checks)} checks, {n_fail} failed errors. "
             f"Data Docs: <a href='data_docs/index.html'>data_docs/index.html</a></p>"]

    parts.append("<section id='stages'><h2>Stages</h2>" + _table(
        ["stage", "in", "kept", "rejected", "seconds"],
        [[_e(r["stage"]), f"{r['n_in']:,}", f"{r['n_kept']:,}", f"{r['n_rejected']:,}", f"{r['seconds']:.1f}"]
         for r in report["stages"]]) + "</section>")

    funnel = s["funnel"]
    parts.append("<section id='funnel'><h2>Filter funnel</h2>"
                 + bar_chart([(f"{f['stage']}: {f['reason']}", f["docs"]) for f in funnel], "documents removed per rule")
                 + _table(["stage", "rule", "documents", "characters"],
                          [[_e(f["stage"]), _e(f["reason"]), f"{f['docs']:,}", "" if f["chars"] is None else f"{f['chars']:,}"]
                           for f in funnel]) + "</section>")

    langs = s.get("languages")
    parts.append("<section id='languages'><h2>Languages</h2>" + (
        bar_chart(langs[:30], "gold documents per language") if langs else
        "<p class='empty'>No language column in gold/documents.</p>") + "</section>")
    parts.append("<section id='lengths'><h2>Document lengths</h2>"
                 + bar_chart(s["doc_chars_histogram"], "gold documents by characters")
                 + bar_chart(s["doc_tokens_histogram"], "documents by tokens (EOS included)") + "</section>")
    parts.append("<section id='clusters'><h2>Dedup clusters</h2>"
                 + bar_chart(s["cluster_sizes"], "kept documents by duplicate-cluster size") + "</section>")
    parts.append("<section id='sources'><h2>Tokens per source</h2>"
                 + bar_chart(s["tokens_per_source"], "tokens") + "</section>")

    m = s.get("shards")
    if m:
        parts.append(f"<section id='shards'><h2>Shards: {_e(m.get('dataset'))} v{_e(m.get('version'))}</h2>"
                     f"<p>{m.get('n_docs', 0):,} documents, {m.get('n_tokens', 0):,} tokens, format {_e(m.get('format'))}, "
                     f"tokenizer <code>{_e(m.get('tokenizer', {}).get('sha256', ''))[:16]}</code></p>"
                     + _table(["file", "bytes", "documents", "tokens", "sha256"],
                              [[_e(f["path"]), f"{f['bytes']:,}", _e(f.get("n_docs")), _e(f.get("n_tokens")),
                                f"<code>{_e(f['sha256'])}</code>"] for f in m.get("files", [])]) + "</section>")
    else:
        parts.append("<section id='shards'><h2>Shards</h2><p class='empty'>No complete shard version.</p></section>")

    parts.append("<section id='versions'><h2>Input table versions</h2>" + _table(
        ["table", "format", "version", "rows"],
        [[_e(t), _e(v["format"]), _e(v["version"]), f"{v['rows']:,}"] for t, v in report["tables"].items()]) + "</section>")

    parts.append("<section id='checks'><h2>Checks</h2>" + _table(
        ["suite", "check", "severity", "result", "observed"],
        [[_e(c["suite"]), _e(c["expectation"]) + f"<br><code>{_e(c['kwargs'])[:160]}</code>", _e(c["severity"]),
          "<span class='ok'>ok</span>" if c["success"] else f"<span class='{'fail' if c['severity'] == 'error' else 'warn'}'>failed</span>",
          _e(c["observed"]) + ("<br>" + _e(c["samples"][:3]) if c["samples"] else "")] for c in checks]) + "</section>")

    sample_html = []
    for reason, docs in s["samples"].items():
        sample_html.append(f"<h3>{_e(reason)}</h3>" + "".join(
            f"<div class='sample'><b>{_e(d['doc_id'][:12])}</b> {_e(d['text'])}</div>" for d in docs))
    parts.append("<section id='samples'><h2>Rejected samples</h2>" + ("".join(sample_html) or "<p>None.</p>") + "</section>")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>tokenlake report {_e(report['run_id'])}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
