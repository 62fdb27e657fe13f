"""Tokenize: gold/documents -> gold/tokens with mapInArrow, EOS appended (BOS optional).

The tokenizer bytes (HF tokenizer.json, SentencePiece .model or tiktoken ranks) travel with the
function (the Connect-compatible form of a broadcast) and are built once per Python worker. Long
texts are cut at single spaces between non-space characters before encoding: a GPT-style regex
pre-tokenizer (byte-level BPE, tiktoken) splits there anyway, so the ids are unchanged and the
cost and memory per call stay bounded. SentencePiece gets the whole text.
"""
from __future__ import annotations

import os
from typing import Iterator

import pyarrow as pa

from ..tokenizer import TokenizerArtifact, load_latest
from .base import StageContext, StageResult

_CACHE: dict[str, object] = {}
OUT_DDL = "doc_id string, source string, input_ids array<int>, n_tokens bigint, tokenizer_sha256 string"


def split_for_encoding(text: str, target: int) -> list[str]:
    """Pieces of about ``target`` characters, each cut just before a space that has non-space on both sides."""
    if len(text) <= target:
        return [text]
    pieces, start = [], 0
    while len(text) - start > target:
        cut = text.find(" ", start + target)
        while cut != -1 and (text[cut - 1].isspace() or cut + 1 >= len(text) or text[cut + 1].isspace()):
            cut = text.find(" ", cut + 1)
        if cut == -1:
            break
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


def encode_ids(encode, text: str, split_chars: int | None) -> list[int]:
    """ids of ``text`` without specials; long texts go to the tokenizer in pieces cut at spaces, which
    leaves the ids of a whitespace-pre-tokenizing BPE unchanged (see split_for_encoding)."""
    return encode(split_for_encoding(text, split_chars) if split_chars else [text])


def encoder(art: TokenizerArtifact, split_chars: int):
    sha, eos, bos = art.sha256, art.eos_id, art.bos_id
    split = split_chars if art.splits_long_texts else None

    def encode(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # Spark already runs one task per core: the tokenizer's own thread pool would oversubscribe.
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        os.environ.setdefault("RAYON_NUM_THREADS", "1")
        fn = _CACHE.get(sha)
        if fn is None:
            fn = _CACHE[sha] = art.encoder()
        prefix = [bos] if bos is not None else []
        for batch in batches:
            all_ids = [prefix + encode_ids(fn, t, split) + [eos] for t in batch.column("text").to_pylist()]
            yield pa.RecordBatch.from_arrays([
                batch.column("doc_id"), batch.column("source"), pa.array(all_ids, pa.list_(pa.int32())),
                pa.array([len(x) for x in all_ids], pa.int64()), pa.array([sha] * len(all_ids), pa.string())],
                names=["doc_id", "source", "input_ids", "n_tokens", "tokenizer_sha256"])

    return encode


def run(ctx: StageContext) -> StageResult:
    cfg = ctx.cfg
    art = load_latest(ctx.lake.root, cfg.tokenizer.name, cfg.tokenizer.eos, cfg.tokenize.bos, cfg.lake.storage_options)
    gold = ctx.lake.read("gold/documents").select("doc_id", "source", "text")
    ctx.progress("tokenize", f"tokenizer {art.sha256[:12]} (vocab {art.vocab_size}, eos {art.eos_id})")
    tokens = gold.repartition(cfg.engine.partitions).mapInArrow(encoder(art, cfg.tokenize.split_chars), OUT_DDL)
    ctx.lake.write(tokens, "gold/tokens", mode="overwrite")
    n_in = gold.count()
    written = ctx.lake.read("gold/tokens")
    n_out = written.count()
    n_tok = written.agg({"n_tokens": "sum"}).first()[0] or 0
    return StageResult("tokenize", n_in, n_out, n_in - n_out, detail={"tokens": int(n_tok), "tokenizer_sha256": art.sha256})
