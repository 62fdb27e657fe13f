"""Tokenizer: train a byte-level or SentencePiece BPE on a deterministic sample of gold/documents, or load one.

The sample is chosen by sha256(seed, doc_id) order up to ``sample_max_chars``: the same documents
whatever the partitioning or engine, streamed to the trainer from the engine (toLocalIterator,
one partition at a time), never collected. With ``language_shares`` each listed language gets its
share of the cap, filled in the same order, and the remaining share goes to all other languages.
"""
from __future__ import annotations

import time
from typing import Iterator

from pyspark.sql import functions as F

from .. import storage
from ..config import ConfigError
from ..tokenizer import artifact, kind_of_path, store, train_byte_level_bpe, train_sentencepiece_bpe
from .base import StageContext, StageResult


def sample_order(df, seed: int):
    """Rows ordered by a seeded hash of doc_id (sha2 is the same on every engine)."""
    key = F.sha2(F.concat(F.lit(f"{seed}:"), F.col("doc_id")), 256)
    lang = F.col("lang") if "lang" in df.columns else F.lit(None).cast("string")
    return df.select("doc_id", "text", lang.alias("lang"), key.alias("_key")).orderBy("_key", "doc_id")


def strata(df, max_chars: int, shares: dict[str, float]) -> list[tuple[str | None, object, int]]:
    """(language, rows, char budget) per stratum: one per configured language, then the others."""
    if not shares:
        return [(None, df, max_chars)]
    if "lang" not in df.columns:
        raise ConfigError("tokenizer.language_shares needs a lang column in gold/documents (written by the quality "
                          "stage's language ID); remove language_shares or run quality first")
    out = [(lang, df.filter(F.col("lang") == lang), int(max_chars * share)) for lang, share in sorted(shares.items())]
    rest = int(max_chars * (1 - sum(shares.values())))
    if rest > 0:
        out.append(("other", df.filter(F.col("lang").isNull() | ~F.col("lang").isin(*shares)), rest))
    return out


def sample_texts(plan: list[tuple[str | None, object, int]], seed: int, mix: dict) -> Iterator[str]:
    """Texts of the sample (``plan`` from strata), streamed; ``mix`` counts docs and chars per language."""
    for _, rows, budget in plan:
        used = 0
        for row in sample_order(rows, seed).toLocalIterator():
            if used >= budget:
                break
            used += len(row.text)
            m = mix.setdefault(row.lang or "unknown", {"docs": 0, "chars": 0})
            m["docs"] += 1
            m["chars"] += len(row.text)
            yield row.text


def run(ctx: StageContext) -> StageResult:
    cfg = ctx.cfg.tokenizer
    opts = ctx.cfg.lake.storage_options
    t0 = time.monotonic()
    if cfg.mode == "load":
        if not cfg.path:
            raise ValueError("tokenizer.mode=load needs tokenizer.path (tokenizer.json, .model or .tiktoken)")
        kind = cfg.load_kind or kind_of_path(cfg.path)
        art = artifact(storage.read_bytes(cfg.path, opts), cfg.eos, ctx.cfg.tokenize.bos, kind, cfg.pattern,
                       cfg.special_tokens)
        store(ctx.lake.root, cfg.name, art, {"mode": "load", "loaded_from": cfg.path}, opts)
        return StageResult("tokenizer", 0, 0, 0, detail={"sha256": art.sha256, "vocab_size": art.vocab_size})

    plan = strata(ctx.lake.read("gold/documents"), cfg.sample_max_chars, cfg.language_shares)  # config errors first
    mix: dict[str, dict[str, int]] = {}
    texts = sample_texts(plan, cfg.seed, mix)
    ctx.progress("tokenizer", f"training {cfg.kind}, vocab {cfg.vocab_size}, sample cap {cfg.sample_max_chars} chars")
    if cfg.kind == "sentencepiece_bpe":
        art = artifact(train_sentencepiece_bpe(texts, cfg.vocab_size, cfg.special_tokens), cfg.eos,
                       ctx.cfg.tokenize.bos, "sentencepiece")
    else:
        art = artifact(train_byte_level_bpe(texts, cfg.vocab_size, cfg.special_tokens, cfg.min_frequency),
                       cfg.eos, ctx.cfg.tokenize.bos)
    stats = {"docs": sum(m["docs"] for m in mix.values()), "chars": sum(m["chars"] for m in mix.values())}
    meta = {"mode": "train", "trained": cfg.kind, "config": cfg.model_dump(mode="json"),
            "sample_docs": stats["docs"], "sample_chars": stats["chars"], "language_mix": dict(sorted(mix.items())),
            "training_seconds": round(time.monotonic() - t0, 3)}
    path = store(ctx.lake.root, cfg.name, art, meta, opts)
    ctx.progress("tokenizer", f"stored {path}")
    return StageResult("tokenizer", stats["docs"], stats["docs"], 0,
                       detail={"sha256": art.sha256, "vocab_size": art.vocab_size, "path": path})
