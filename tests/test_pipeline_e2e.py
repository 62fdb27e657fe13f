"""The demo pipeline end to end: Sail + Delta and JVM Spark + Parquet, read back by real readers."""
import collections
import hashlib
import json
import pathlib

import deltalake
import numpy as np
from megatron.core.datasets.indexed_dataset import IndexedDataset
from tokenizers import Tokenizer

from tokenlake import manifest as mf
from tokenlake.stages import quality
from tokenlake.formats.megatron import read_index


def version_dir(cfg, v=1):
    return pathlib.Path(cfg.lake.root) / "shards" / cfg.pack.dataset / f"v{v}"


def test_counts_balance_per_stage(demo_sail):
    _, outcome = demo_sail
    stages = {r.stage: r for r in outcome.results}
    assert list(stages) == ["ingest", "quality", "dedup", "tokenizer", "tokenize", "pack", "validate"]
    for r in outcome.results:
        assert r.n_in == r.n_kept + r.n_rejected, r
    assert stages["quality"].n_in == stages["ingest"].n_kept
    assert stages["dedup"].n_in == stages["quality"].n_kept
    # The demo corpus has junk, bad lines and duplicates: each stage must really drop something.
    assert stages["ingest"].n_rejected > 0 and stages["quality"].n_rejected > 0 and stages["dedup"].n_rejected > 0
    assert set(stages["ingest"].detail["quarantine_reasons"]) >= {"jsonl_bad_schema", "jsonl_parse_error", "empty_file"}


def test_delta_tables_readable_by_deltalake(demo_sail):
    cfg, outcome = demo_sail
    root = pathlib.Path(cfg.lake.root)
    stages = {r.stage: r for r in outcome.results}
    bronze = deltalake.DeltaTable(str(root / "bronze" / "documents")).to_pyarrow_table()
    assert bronze.num_rows == stages["ingest"].n_kept
    rejected = deltalake.DeltaTable(str(root / "silver" / "rejected")).to_pyarrow_table().to_pylist()
    by_stage = collections.Counter(r["stage"] for r in rejected)
    assert by_stage == {"quality": stages["quality"].n_rejected, "dedup": stages["dedup"].n_rejected}
    dups = [r for r in rejected if r["stage"] == "dedup"]
    assert "exact_duplicate" in {r["reason"] for r in dups}  # the demo ships byte-identical copies
    assert all(r["reason"] in ("exact_duplicate", "near_duplicate") and r["kept_doc_id"] not in (None, r["doc_id"])
               for r in dups)
    short = [r for r in rejected if r["stage"] == "quality"]
    known = {r.name for r in quality.rules(cfg.quality)}
    assert short and all(r["reason"] in known and r["reason"] == r["reasons"][0] for r in short)


def test_shards_read_by_megatron_equal_direct_encoding(demo_sail):
    cfg, _ = demo_sail
    root = pathlib.Path(cfg.lake.root)
    vdir = version_dir(cfg)
    man = json.loads((vdir / "manifest.json").read_text())
    tok_dir = root / "tokenizers" / cfg.tokenizer.name / man["tokenizer"]["sha256"]
    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    eos = tok.token_to_id(cfg.tokenizer.eos)
    assert man["tokenizer"]["eos_id"] == eos
    gold = deltalake.DeltaTable(str(root / "gold" / "documents")).to_pyarrow_table(columns=["text"])
    expected = sorted(tuple(tok.encode(t, add_special_tokens=False).ids + [eos]) for t in gold.column("text").to_pylist())
    got = []
    for prefix in sorted({f["path"].rsplit(".", 1)[0] for f in man["files"]}):
        ds = IndexedDataset(str(vdir / prefix))
        got += [tuple(ds[i].tolist()) for i in range(len(ds))]
    assert len(got) == man["n_docs"] == len(expected)
    assert sorted(got) == expected
    assert all(seq[-1] == eos for seq in got)


def test_manifest_matches_idx_and_files(demo_sail):
    cfg, _ = demo_sail
    vdir = version_dir(cfg)
    man = mf.read_manifest(str(vdir))
    for key in ("dataset", "version", "format", "files", "tokenizer", "inputs", "config_sha256", "created_at",
                "code_version"):
        assert key in man
    assert man["inputs"][0]["table"] == "gold/tokens" and isinstance(man["inputs"][0]["version"], int)
    assert len(man["megatron"]["prefixes"]) >= 2  # the demo's small shard size forces a rollover
    total_docs = total_tokens = 0
    for f in man["files"]:
        data = (vdir / f["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["bytes"]
        if f["path"].endswith(".idx"):
            info = read_index(data)
            assert info.dtype == np.uint16
            assert (len(info.lengths), int(info.lengths.sum())) == (f["n_docs"], f["n_tokens"])
            total_docs += f["n_docs"]
            total_tokens += f["n_tokens"]
    assert (total_docs, total_tokens) == (man["n_docs"], man["n_tokens"])
    assert (vdir / "manifest.json").stat().st_mtime_ns >= max((vdir / f["path"]).stat().st_mtime_ns for f in man["files"])


def test_jvm_spark_parquet_gives_byte_identical_shards(demo_sail, demo_jvm):
    sail_cfg, _ = demo_sail
    jvm_cfg, stdout = demo_jvm
    assert "validate" in stdout and "ingest" in stdout
    assert (pathlib.Path(jvm_cfg.lake.root) / "silver" / "rejected" / "stage=quality").is_dir()  # parquet layout
    a, b = mf.read_manifest(str(version_dir(sail_cfg))), mf.read_manifest(str(version_dir(jvm_cfg)))
    assert a["inputs"][0]["format"] == "delta" and b["inputs"][0]["format"] == "parquet"
    assert [(f["path"], f["sha256"]) for f in a["files"]] == [(f["path"], f["sha256"]) for f in b["files"]]
    assert a["tokenizer"]["sha256"] == b["tokenizer"]["sha256"]
    assert a["config_sha256"] == b["config_sha256"]


def test_reingest_adds_nothing_and_new_files_are_picked_up(demo_sail, engine, tmp_path):
    from tokenlake.config import from_dict
    from tokenlake.pipeline import run_pipeline

    cfg, _ = demo_sail
    data = cfg.to_dict()
    again = run_pipeline(from_dict(data), stages=["ingest"], engine=engine, quiet=True).results[0]
    assert (again.n_in, again.n_kept) == (0, 0)
    root = pathlib.Path(cfg.lake.root)
    before = deltalake.DeltaTable(str(root / "bronze" / "documents")).to_pyarrow_table().num_rows
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "new.jsonl").write_text('{"text": "a brand new document about tokenizers and lakes"}\n')
    data["sources"].append({"name": "extra", "uri": str(extra), "format": "jsonl"})
    new = run_pipeline(from_dict(data), stages=["ingest"], engine=engine, quiet=True).results[0]
    assert (new.n_in, new.n_kept) == (1, 1)
    after = deltalake.DeltaTable(str(root / "bronze" / "documents")).to_pyarrow_table()
    assert after.num_rows == before + 1
    assert len(set(after.column("doc_id").to_pylist())) == after.num_rows
    (extra / "new.jsonl").write_text('{"text": "changed content, same name"}\n{"text": "x"}\n')
    changed = run_pipeline(from_dict(data), stages=["ingest"], engine=engine, quiet=True).results[0]
    assert changed.n_kept == 0 and len(changed.detail["changed_files"]) == 1
