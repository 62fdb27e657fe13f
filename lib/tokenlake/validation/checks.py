"""tokenlake checks: invariants GX has no expectation for, computed with Spark or from files.

Each check is ``fn(facts, **kwargs) -> (success, observed, samples)``; ``facts`` carries the lake,
the config, this run's stage results, the newest shard manifest and the current tokenizer.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

from pyspark.sql import functions as F

from .. import storage
from ..formats.megatron import read_index

CHECKS: dict[str, Callable[..., tuple[bool, str, list]]] = {}


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


@dataclass
class Facts:
    lake: Any
    cfg: Any
    stage_results: list = field(default_factory=list)
    manifest: dict | None = None
    manifest_uri: str | None = None
    tokenizer: Any = None

    def count(self, table: str, where=None) -> int:
        df = self.lake.read(table)
        return (df.filter(where) if where is not None else df).count()


@check
def tokenlake_counts_balance(f: Facts, stage: str):
    """A stage's input table = its output table + its rows in silver/rejected."""
    tables = {"quality": ("bronze/documents", "silver/documents"), "dedup": ("silver/documents", "gold/documents")}
    src, dst = tables[stage]
    n_in, n_out = f.count(src), f.count(dst)
    n_rej = f.count("silver/rejected", F.col("stage") == stage)
    return n_in == n_out + n_rej, f"{src} {n_in} = {dst} {n_out} + rejected[{stage}] {n_rej}", []


@check
def tokenlake_stage_counts_balance(f: Facts):
    bad = [f"{r.stage}: {r.n_in} != {r.n_kept} + {r.n_rejected}" for r in f.stage_results
           if r.n_in != r.n_kept + r.n_rejected]
    return not bad, "; ".join(bad) or f"{len(f.stage_results)} stages balanced", []


@check
def tokenlake_funnel_keeps_something(f: Facts):
    n = f.count("gold/documents")
    return n > 0, f"{n} documents in gold/documents", []


@check
def tokenlake_token_ids_in_vocab(f: Facts):
    if f.tokenizer is None:
        return False, "no tokenizer found", []
    row = f.lake.read("gold/tokens").agg(
        F.min(F.array_min("input_ids")).alias("lo"), F.max(F.array_max("input_ids")).alias("hi"),
        F.sum((F.size("input_ids") != F.col("n_tokens")).cast("long")).alias("bad_len")).first()
    vocab = f.tokenizer.vocab_size
    ok = (row.lo is None or row.lo >= 0) and (row.hi is None or row.hi < vocab) and not row.bad_len
    return ok, f"ids in [{row.lo}, {row.hi}], vocab {vocab}; rows with n_tokens != len(input_ids): {row.bad_len or 0}", []


@check
def tokenlake_same_docs_as(f: Facts, table: str):
    tokens = f.lake.read("gold/tokens").select("doc_id")
    other = f.lake.read(table).select("doc_id")
    missing = other.join(tokens, "doc_id", "left_anti").limit(5).collect()
    extra = tokens.join(other, "doc_id", "left_anti").limit(5).collect()
    samples = [f"missing {r.doc_id}" for r in missing] + [f"extra {r.doc_id}" for r in extra]
    return not samples, "same doc_ids" if not samples else f"gold/tokens differs from {table}", samples


@check
def tokenlake_language_shares(f: Facts, column: str):
    bounds = f.cfg.validate_.language_shares
    if not bounds:
        return True, "no language share bounds configured (validate.language_shares)", []
    df = f.lake.read("gold/documents")
    if column not in df.columns:
        return False, f"gold/documents has no {column!r} column to check language shares", []
    total = df.count() or 1
    shares = {r[column]: r["count"] / total for r in df.groupBy(column).count().collect()}
    bad = [f"{lang}: {shares.get(lang, 0.0):.3f} not in [{lo}, {hi}]" for lang, (lo, hi) in sorted(bounds.items())
           if not lo <= shares.get(lang, 0.0) <= hi]
    return not bad, "; ".join(bad) or "all configured language shares within bounds", []


@check
def tokenlake_manifest_has_keys(f: Facts, keys: list[str]):
    if f.manifest is None:
        return False, "no complete shard version (no manifest.json)", []
    missing = [k for k in keys if k not in f.manifest]
    return not missing, f"missing keys {missing}" if missing else f"v{f.manifest.get('version')} has all keys", []


@check
def tokenlake_manifest_files_match(f: Facts):
    if f.manifest is None:
        return False, "no manifest", []
    bad = []
    opts = f.cfg.lake.storage_options
    for entry in f.manifest["files"]:
        data = storage.read_bytes(storage.join(f.manifest_uri, entry["path"]), opts)
        if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            bad.append(f"{entry['path']}: bytes/sha256 differ")
        elif entry["path"].endswith(".idx"):
            info = read_index(data)
            if (len(info.lengths), int(info.lengths.sum())) != (entry.get("n_docs"), entry.get("n_tokens")):
                bad.append(f"{entry['path']}: .idx has {len(info.lengths)} docs / {int(info.lengths.sum())} tokens")
    return not bad, f"{len(f.manifest['files'])} files re-hashed" if not bad else f"{len(bad)} files differ", bad[:5]


@check
def tokenlake_manifest_counts_match_tokens(f: Facts):
    if f.manifest is None:
        return False, "no manifest", []
    row = f.lake.read("gold/tokens").agg(F.count(F.lit(1)).alias("d"), F.sum("n_tokens").alias("t")).first()
    m_docs, m_tokens = f.manifest.get("n_docs"), f.manifest.get("n_tokens")
    ok = m_docs == row.d and m_tokens == (row.t or 0)
    return ok, f"manifest {m_docs} docs / {m_tokens} tokens; gold/tokens {row.d} / {row.t or 0}", []


@check
def tokenlake_manifest_tokenizer_is_current(f: Facts):
    if f.manifest is None or f.tokenizer is None:
        return False, "no manifest or tokenizer", []
    sha = f.manifest.get("tokenizer", {}).get("sha256")
    return sha == f.tokenizer.sha256, f"manifest tokenizer {str(sha)[:12]}, current {f.tokenizer.sha256[:12]}", []
