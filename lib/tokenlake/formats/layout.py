"""The manifest's view of a shard version: the file list, one section per format, and the
format-level index files (MDS and LitData ``index.json``) built from what the tasks returned."""
from __future__ import annotations

import json

from . import litdata, mds
from .sink import write_whole
from .writers import PACKED_FORMATS


def _written(stats: list[dict], fmt: str | None = None) -> list[dict]:
    """Rows of files that exist (a packed format may have had no full sequence in a shard)."""
    return [s for s in stats if s["path"] and (fmt is None or s["format"] == fmt)]


def _ordered(stats: list[dict], formats) -> list[dict]:
    # Stable sort: a task returns its files in the order it wrote them.
    return sorted(stats, key=lambda s: (list(formats).index(s["format"]), s["shard"]))


def manifest_files(stats: list[dict], formats) -> list[dict]:
    return [{"path": s["path"], "sha256": s["sha256"], "bytes": s["bytes"], "n_docs": s["n_docs"],
             "n_tokens": s["n_tokens"], "n_sequences": s["n_sequences"], "format": s["format"], "shard": s["shard"]}
            for s in _ordered(_written(stats), formats)]


def format_sections(spec, stats: list[dict], n_shards: int) -> dict:
    out: dict = {}
    formats = spec.formats
    if "megatron" in formats:
        bins = [s for s in _ordered(_written(stats, "megatron"), formats) if s["path"].endswith(".bin")]
        total = max(sum(s["n_tokens"] for s in bins), 1)
        prefixes = [{"prefix": s["path"][:-4], "n_sequences": s["n_sequences"], "n_documents": s["n_docs"],
                     "n_tokens": s["n_tokens"]} for s in bins]
        out["megatron"] = {"dtype": spec.megatron_dtype, "prefixes": prefixes,
                           "data_path": " ".join(f"{p['n_tokens'] / total:.6f} {p['prefix']}" for p in prefixes)}
    if "olmo" in formats:
        files = _ordered(_written(stats, "olmo"), formats)
        out["olmo"] = {"dtype": spec.olmo_dtype, "paths": [s["path"] for s in files if s["path"].endswith(".npy")],
                       "metadata": [s["path"] for s in files if s["path"].endswith(".csv.gz")],
                       "metadata_columns": ["start", "end", "id", "src", "loc"]}
    packed = [f for f in formats if f in PACKED_FORMATS]
    if packed:
        rows = [s for s in stats if s["format"] == packed[0]]
        n_seq = sum(s["n_sequences"] for s in rows)
        n_pad = sum(s["n_pad"] for s in rows)
        n_trunc = sum(s["n_truncated"] for s in rows)
        n_doc_tok = sum(s["n_tokens"] for s in rows) + n_trunc
        out["packing"] = {"seq_len": spec.seq_len, "policy": spec.packing, "pad_id": spec.pad_id,
                          "per": "shard", "n_sequences": n_seq, "n_pad": n_pad, "n_truncated": n_trunc,
                          "padding_ratio": round(n_pad / max(n_seq * spec.seq_len, 1), 6),
                          "truncation_ratio": round(n_trunc / max(n_doc_tok, 1), 6)}
    if "mds" in formats:
        out["mds"] = {"index": "mds/index.json", "columns": {"tokens": f"ndarray:{spec.olmo_dtype}:{spec.seq_len}"},
                      "compression": mds.COMPRESSION, "hashes": mds.HASHES}
    if "litdata" in formats:
        out["litdata"] = {"index": "litdata/index.json", "item_loader": "TokensLoader", "block_size": spec.seq_len,
                          "dtype": spec.olmo_dtype}
    if "parquet" in formats:
        out["parquet"] = {"paths": [s["path"] for s in _ordered(_written(stats, "parquet"), formats)],
                          "columns": {"input_ids": f"fixed_size_list<int32>[{spec.seq_len}]", "n_tokens": "int32"}}
    return out


def write_indexes(spec, stats: list[dict]) -> list[dict]:
    """Write MDS / LitData index.json (after their shard files, before the manifest)."""
    entries = []
    for fmt in ("mds", "litdata"):
        if fmt not in spec.formats:
            continue
        rows = _ordered(_written(stats, fmt), spec.formats)
        items = [json.loads(s["extra"])["index"] for s in rows]
        data = mds.write_index(items) if fmt == "mds" else litdata.write_index(items, spec.olmo_dtype, spec.seq_len)
        e = write_whole(spec.version_uri, f"{fmt}/index.json", data, spec.options)
        entries.append(dict(e, n_docs=0, n_tokens=0, n_sequences=sum(s["n_sequences"] for s in rows), format=fmt,
                            shard=-1))
    return entries
