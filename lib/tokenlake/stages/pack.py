"""Pack: gold/tokens -> shards/<dataset>/v<N>/ Megatron .bin/.idx files + manifest.json (last).

Documents are ordered by sha256(seed, doc_id), then doc_id: a global shuffle that is the same
on every engine and partitioning, so the shard bytes are too.
"""
from __future__ import annotations

import hashlib
import os
import tempfile

import numpy as np
from pyspark.sql import functions as F

from .. import manifest as mf
from .. import storage
from ..formats.megatron import ShardWriter, token_dtype
from ..tokenizer import load_latest
from .base import StageContext, StageResult

PROGRESS_EVERY = 20_000


def shuffled(tokens, seed: int):
    key = F.sha2(F.concat(F.lit(f"{seed}:"), F.col("doc_id")), 256)
    return tokens.select("doc_id", "input_ids", key.alias("_key")).orderBy("_key", "doc_id")


class _Shards:
    """Rolls over to a new .bin/.idx pair when the current one reaches the target size."""

    def __init__(self, version_uri: str, dataset: str, dtype, vocab: int, target: int, options):
        self.version_uri, self.dataset, self.dtype, self.vocab = version_uri, dataset, dtype, vocab
        self.target, self.options = target, options
        self.files: list[dict] = []
        self.prefixes: list[dict] = []
        self._writer: ShardWriter | None = None
        self._stream = None

    def add(self, ids) -> None:
        if self._writer is None:
            self._open()
        self._writer.add(ids)
        if self._writer.size_bytes >= self.target:
            self._close()

    def _name(self) -> str:
        return f"{self.dataset}_{len(self.prefixes):05d}"

    def _open(self) -> None:
        uri = storage.join(self.version_uri, self._name() + ".bin")
        if storage.is_remote(uri):
            # Object stores: write a local file, then upload it whole, so a failed upload can be retried.
            fd, self._local = tempfile.mkstemp(suffix=".bin", prefix="tokenlake-shard-")
            self._stream = os.fdopen(fd, "wb")
        else:
            fs, path = storage.filesystem(uri, self.options)
            fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
            self._stream, self._local = fs.open_output_stream(path), None
        self._writer = ShardWriter(self._stream, self.dtype, self.vocab)

    def _close(self) -> None:
        w, name = self._writer, self._name()
        idx = w.finish()
        self._stream.close()
        if self._local:
            try:
                storage.upload_file(storage.join(self.version_uri, name + ".bin"), self._local, self.options)
            finally:
                os.unlink(self._local)
        storage.write_bytes(storage.join(self.version_uri, name + ".idx"), idx, self.options)
        n_docs = len(w.lengths)
        self.files += [
            {"path": name + ".bin", "sha256": w.bin_sha.hexdigest(), "bytes": w.n_bytes, "n_docs": n_docs,
             "n_tokens": w.n_tokens},
            {"path": name + ".idx", "sha256": hashlib.sha256(idx).hexdigest(), "bytes": len(idx), "n_docs": n_docs,
             "n_tokens": w.n_tokens}]
        self.prefixes.append({"prefix": name, "n_sequences": n_docs, "n_documents": n_docs, "n_tokens": w.n_tokens})
        self._writer = self._stream = None

    def finish(self) -> None:
        if self._writer is not None:
            self._close()


def run(ctx: StageContext) -> StageResult:
    cfg, lake = ctx.cfg, ctx.lake
    opts = cfg.lake.storage_options
    art = load_latest(lake.root, cfg.tokenizer.name, cfg.tokenizer.eos, cfg.tokenize.bos, opts)
    in_version = lake.version("gold/tokens")
    tokens = lake.read("gold/tokens", version=in_version)
    stale = tokens.filter(F.col("tokenizer_sha256") != art.sha256).limit(1).count()
    if stale:
        raise ValueError(f"gold/tokens has rows made with another tokenizer than {art.sha256[:12]}: "
                         "re-run the tokenize stage")
    dataset = cfg.pack.dataset
    version = mf.next_version(lake.root, dataset, opts)
    version_uri = storage.join(mf.dataset_uri(lake.root, dataset), f"v{version}")
    dtype = token_dtype(art.vocab_size)
    ctx.progress("pack", f"writing {version_uri} ({np.dtype(dtype).name}, target {cfg.pack.shard_bytes} bytes/shard)")
    shards = _Shards(version_uri, dataset, dtype, art.vocab_size, cfg.pack.shard_bytes, opts)
    n_docs = 0
    for row in shuffled(tokens, cfg.pack.seed).toLocalIterator():
        shards.add(row.input_ids)
        n_docs += 1
        if n_docs % PROGRESS_EVERY == 0:
            ctx.progress("pack", f"{n_docs} documents")
    shards.finish()
    n_tokens = sum(p["n_tokens"] for p in shards.prefixes)
    total = max(n_tokens, 1)
    manifest = {
        "dataset": dataset, "version": version, "format": "megatron",
        "files": shards.files,
        "n_docs": n_docs, "n_tokens": n_tokens,
        "tokenizer": {"name": cfg.tokenizer.name, "sha256": art.sha256, "vocab_size": art.vocab_size,
                      "eos_id": art.eos_id, "bos_id": art.bos_id, "dtype": np.dtype(dtype).name},
        "inputs": [{"table": "gold/tokens", "format": lake.table_format, "version": in_version,
                    "uri": lake.uri("gold/tokens")}],
        "order": {"key": "sha256(f'{seed}:{doc_id}'), doc_id", "seed": cfg.pack.seed},
        "megatron": {
            "data_path": " ".join(f"{p['n_tokens'] / total:.6f} {p['prefix']}" for p in shards.prefixes),
            "prefixes": shards.prefixes},
        "config_sha256": cfg.output_sha256(),
        "created_at": mf.now_utc(),
        "code_version": mf.code_version(),
    }
    uri = mf.write_manifest(version_uri, manifest, opts)
    ctx.progress("pack", f"{n_docs} documents, {n_tokens} tokens in {len(shards.prefixes)} shard(s); {uri}")
    return StageResult("pack", n_docs, n_docs, 0, detail={"version": version, "uri": version_uri,
                                                          "n_tokens": n_tokens, "shards": len(shards.prefixes)})
