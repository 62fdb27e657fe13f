"""Stage fingerprints: what a stage read and was configured with, so an unchanged re-run is a no-op.

A stage is skipped ("nothing to do") when its last recorded run had the same fingerprint (input
table versions, tokenizer, config sections) and its outputs are still exactly what that run left.
Delta tables are fingerprinted by version; Parquet tables by their data files (path, size, mtime).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from . import manifest as mf
from . import storage


@dataclass(frozen=True)
class StageIO:
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    config: tuple[str, ...]  # config sections or dotted keys that decide the stage's output


ALL_TABLES = ("table:bronze/documents", "table:bronze/quarantine", "table:silver/documents", "table:silver/rejected",
              "table:gold/documents", "table:gold/tokens")
STAGE_IO = {
    "quality": StageIO(("table:bronze/documents",), ("table:silver/documents",), ("quality",)),
    "dedup": StageIO(("table:silver/documents",), ("table:gold/documents",), ("dedup",)),
    "tokenizer": StageIO(("table:gold/documents",), ("tokenizer",), ("tokenizer", "tokenize.bos")),
    "tokenize": StageIO(("table:gold/documents", "tokenizer"), ("table:gold/tokens",),
                        ("tokenize", "tokenizer.name", "tokenizer.eos")),
    "pack": StageIO(("table:gold/tokens", "tokenizer"), ("shards",),
                    ("pack", "tokenizer.name", "tokenizer.eos", "tokenize.bos")),
    "validate": StageIO(ALL_TABLES + ("tokenizer", "shards"), (), ("*",)),
}


def _config_part(cfg, key: str):
    data = cfg.to_dict()
    if key == "*":
        return cfg.output_sha256()
    node = data
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def resource(lake, cfg, name: str) -> str:
    """The current state of one input or output, as a short string."""
    opts = cfg.lake.storage_options
    if name.startswith("table:"):
        table = name[len("table:"):]
        if not lake.exists(table):
            return "absent"
        if lake.table_format == "delta":
            return f"delta:{lake.version(table)}"
        files = storage.list_files(lake.uri(table), opts)
        return "parquet:" + hashlib.sha256(json.dumps([(u, s, m) for u, s, m in files]).encode()).hexdigest()[:16]
    if name == "tokenizer":
        pointer = storage.join(lake.root, "tokenizers", cfg.tokenizer.name, "latest.json")
        return storage.read_bytes(pointer, opts).decode() if storage.exists(pointer, opts) else "absent"
    if name == "shards":
        versions = mf.complete_versions(lake.root, cfg.pack.dataset, opts)
        if not versions:
            return "absent"
        uri = storage.join(mf.dataset_uri(lake.root, cfg.pack.dataset), f"v{versions[-1]}", mf.MANIFEST)
        return f"v{versions[-1]}:" + hashlib.sha256(storage.read_bytes(uri, opts)).hexdigest()[:16]
    raise ValueError(f"unknown fingerprint resource {name!r}")


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def stage_fingerprint(lake, cfg, stage: str) -> str | None:
    io = STAGE_IO.get(stage)
    if io is None:
        return None
    return _digest({"stage": stage, "inputs": {n: resource(lake, cfg, n) for n in io.inputs},
                    "config": {k: _config_part(cfg, k) for k in io.config}})


def output_fingerprint(lake, cfg, stage: str) -> str | None:
    io = STAGE_IO.get(stage)
    if io is None:
        return None
    return _digest({n: resource(lake, cfg, n) for n in io.outputs})
