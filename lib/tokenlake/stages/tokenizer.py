"""Tokenizer: train a byte-level BPE on a deterministic sample of gold/documents, or load one.

The sample is chosen by sha256(seed, doc_id) order up to ``sample_max_chars``: the same documents
whatever the partitioning or engine, streamed to the trainer from the engine.
"""
from __future__ import annotations

import time

from pyspark.sql import functions as F

from .. import storage
from ..tokenizer import artifact, store, train_byte_level_bpe
from .base import StageContext, StageResult


def sample_order(df, seed: int):
    """Rows ordered by a seeded hash of doc_id (sha2 is the same on every engine)."""
    key = F.sha2(F.concat(F.lit(f"{seed}:"), F.col("doc_id")), 256)
    return df.select("doc_id", "text", key.alias("_key")).orderBy("_key", "doc_id")


def run(ctx: StageContext) -> StageResult:
    cfg = ctx.cfg.tokenizer
    opts = ctx.cfg.lake.storage_options
    t0 = time.monotonic()
    if cfg.mode == "load":
        if not cfg.path:
            raise ValueError("tokenizer.mode=load needs tokenizer.path (a tokenizer.json)")
        art = artifact(storage.read_bytes(cfg.path, opts).decode("utf-8"), cfg.eos, ctx.cfg.tokenize.bos)
        store(ctx.lake.root, cfg.name, art, {"mode": "load", "loaded_from": cfg.path}, opts)
        return StageResult("tokenizer", 0, 0, 0, detail={"sha256": art.sha256, "vocab_size": art.vocab_size})

    stats = {"docs": 0, "chars": 0}

    def texts():
        rows = sample_order(ctx.lake.read("gold/documents"), cfg.seed).toLocalIterator()
        for row in rows:
            if stats["chars"] >= cfg.sample_max_chars:
                break
            stats["docs"] += 1
            stats["chars"] += len(row.text)
            yield row.text

    ctx.progress("tokenizer", f"training byte-level BPE, vocab {cfg.vocab_size}, sample cap {cfg.sample_max_chars} chars")
    json_text = train_byte_level_bpe(texts(), cfg.vocab_size, cfg.special_tokens, cfg.min_frequency)
    art = artifact(json_text, cfg.eos, ctx.cfg.tokenize.bos)
    meta = {"mode": "train", "kind": "byte_level_bpe", "config": cfg.model_dump(mode="json"),
            "sample_docs": stats["docs"], "sample_chars": stats["chars"],
            "training_seconds": round(time.monotonic() - t0, 3)}
    path = store(ctx.lake.root, cfg.name, art, meta, opts)
    ctx.progress("tokenizer", f"stored {path}")
    return StageResult("tokenizer", stats["docs"], stats["docs"], 0,
                       detail={"sha256": art.sha256, "vocab_size": art.vocab_size, "path": path})
