"""Every shard format read back by the trainers' own readers (olmo-core, litdata, mosaicml-streaming
in the oracle venv; pyarrow for Parquet) and compared with sequences computed here from gold/tokens
and the definitions: global order sha256(seed, doc_id), shards by byte offset, concatenate-and-split
per shard. MDS files are also byte-compared with MDSWriter's output for the same samples."""
from __future__ import annotations

import csv
import gzip
import io
import json
import pathlib
import subprocess

import numpy as np
import pyarrow.parquet as pq
import pytest

from test_pack import ALL_FORMATS, expected_order, expected_shards, gold_tokens, run_pack, version_dir
from tokenlake.formats.packing import FlatPacker, best_fit

REPO = pathlib.Path(__file__).resolve().parents[1]
# Which venv has each reader (scripts/bootstrap.sh test creates both): olmo-core and litdata with
# torch 2.13 CPU; mosaicml-streaming needs numpy < 2.2 and a torchvision that loads, so torch 2.14.1.
VENVS = {"olmo": ".venv-oracles", "litdata": ".venv-oracles", "mds": ".venv-mds"}
SEQ = 64


def oracle(vdir: pathlib.Path, read: list[str], seq_len: int, tmp_path: pathlib.Path) -> dict:
    """Run the trainer libraries' own readers in their venvs; returns what each read."""
    out = {}
    for venv in sorted({VENVS[r] for r in read}):
        python = REPO / venv / "bin" / "python"
        assert python.exists(), f"{venv} is missing: run `bash scripts/bootstrap.sh test`"
        req = tmp_path / f"req-{venv}.json"
        req.write_text(json.dumps({"vdir": str(vdir), "read": [r for r in read if VENVS[r] == venv],
                                   "seq_len": seq_len}))
        proc = subprocess.run([str(python), str(REPO / "tests" / "pack_oracles.py"), str(req)], capture_output=True,
                              text=True, timeout=900, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-5000:]
        out.update(json.loads(proc.stdout))
    return out


@pytest.fixture(scope="module")
def concat_version(engine, demo_sail, tmp_path_factory):
    from test_pack import copy_lake

    cfg, _ = demo_sail
    root = copy_lake(cfg.lake.root, tmp_path_factory.mktemp("formats"))
    man = run_pack(engine, root, formats=ALL_FORMATS, seq_len=SEQ, shard_bytes=131_072, dataset="fmt")
    docs = expected_order(gold_tokens(root, man["inputs"][0]["version"]))
    shards = expected_shards(docs, 131_072)
    return root, man, version_dir(root, "fmt", man["version"]), shards


def concat_sequences(shards: list[list[dict]], seq: int) -> list[list[int]]:
    out = []
    for docs in shards:
        flat = [t for d in docs for t in d["input_ids"]]
        out += [flat[i:i + seq] for i in range(0, len(flat) - seq + 1, seq)]
    return out


@pytest.fixture(scope="module")
def oracle_reads(concat_version, tmp_path_factory):
    _, _, vdir, _ = concat_version
    return oracle(vdir, ["olmo", "litdata", "mds"], SEQ, tmp_path_factory.mktemp("oracle"))


def test_olmo_core_reads_instances_and_document_boundaries(concat_version, oracle_reads):
    _, man, vdir, shards = concat_version
    got = oracle_reads["olmo"]
    assert man["olmo"]["dtype"] == "uint16"  # np.min_scalar_type(2048 - 1)
    # olmo-core cuts each file into sequence_length instances itself.
    assert got["instances"] == concat_sequences(shards, SEQ)
    for docs, bounds, meta in zip(shards, got["documents"], man["olmo"]["metadata"]):
        lens = [len(d["input_ids"]) for d in docs]
        ends = np.cumsum(lens).tolist()
        assert bounds == [[e - n, e] for e, n in zip(ends, lens)]  # olmo-core's metadata reader on our .csv.gz
        rows = list(csv.reader(io.StringIO(gzip.decompress((vdir / meta).read_bytes()).decode())))
        assert [(r[2], r[3]) for r in rows] == [(d["doc_id"], d["source"]) for d in docs]


def test_litdata_streaming_dataset_reads_the_packed_sequences(concat_version, oracle_reads):
    _, man, _, shards = concat_version
    assert oracle_reads["litdata"]["items"] == concat_sequences(shards, SEQ)
    assert man["litdata"]["block_size"] == SEQ


def test_mds_read_by_streaming_and_byte_identical_to_mdswriter(concat_version, oracle_reads):
    _, man, vdir, shards = concat_version
    got = oracle_reads["mds"]
    assert got["samples"] == concat_sequences(shards, SEQ) and got["dtype"] == "uint16"
    assert got["writer"] and all(w == {"files": 1, "bytes_equal": True, "index_equal": True} for w in got["writer"])
    index = json.loads((vdir / "mds" / "index.json").read_text())
    assert all(s["zip_data"]["basename"].endswith(".mds.zstd") and set(s["zip_data"]["hashes"]) == {"sha1", "xxh64"}
               for s in index["shards"])


def test_parquet_rows_are_fixed_length_sequences(concat_version):
    _, man, vdir, shards = concat_version
    tables = [pq.read_table(vdir / p) for p in man["parquet"]["paths"]]
    assert str(tables[0].schema.field("input_ids").type) == f"fixed_size_list<element: int32>[{SEQ}]"
    rows = [r for t in tables for r in t.column("input_ids").to_pylist()]
    assert rows == concat_sequences(shards, SEQ)
    assert all(n == SEQ for t in tables for n in t.column("n_tokens").to_pylist())


def test_concat_truncation_ratio_is_reported(concat_version):
    _, man, _, shards = concat_version
    dropped = sum(sum(len(d["input_ids"]) for d in docs) % SEQ for docs in shards)
    total = sum(len(d["input_ids"]) for docs in shards for d in docs)
    p = man["packing"]
    assert (p["policy"], p["seq_len"], p["n_pad"], p["n_truncated"]) == ("concat", SEQ, 0, dropped)
    assert p["truncation_ratio"] == pytest.approx(dropped / total, abs=1e-6) and p["padding_ratio"] == 0


def test_best_fit_packs_every_token_with_padding_reported(engine, concat_version, tmp_path):
    root, _, _, _ = concat_version
    man = run_pack(engine, root, formats=["parquet", "mds"], seq_len=SEQ, shard_bytes=131_072, dataset="bf",
                   packing="best_fit", pad_id=1)
    vdir = version_dir(root, "bf", man["version"])
    shards = expected_shards(expected_order(gold_tokens(root, man["inputs"][0]["version"])), 131_072)
    rows = [r for p in man["parquet"]["paths"] for r in pq.read_table(vdir / p).column("input_ids").to_pylist()]
    fills = [n for p in man["parquet"]["paths"] for n in pq.read_table(vdir / p).column("n_tokens").to_pylist()]
    # No token lost: the non-padding tokens are exactly the documents' tokens (pad id 1 is not in the data).
    all_tokens = sorted(t for docs in shards for d in docs for t in d["input_ids"])
    assert 1 not in all_tokens
    assert sorted(t for r in rows for t in r if t != 1) == all_tokens
    assert all(len(r) == SEQ and r[n:] == [1] * (SEQ - n) for r, n in zip(rows, fills))
    # Best fit: fewer sequences than one per piece, and no two sequences could be merged.
    pieces = sum(-(-len(d["input_ids"]) // SEQ) for docs in shards for d in docs)
    assert len(rows) < pieces
    p = man["packing"]
    assert (p["policy"], p["n_truncated"], p["n_sequences"]) == ("best_fit", 0, len(rows))
    assert p["n_pad"] == sum(SEQ - n for n in fills) > 0
    assert p["padding_ratio"] == pytest.approx(p["n_pad"] / (len(rows) * SEQ), abs=1e-6)
    read = oracle(vdir, ["mds"], SEQ, tmp_path)["mds"]
    assert read["samples"] == rows and all(w["bytes_equal"] and w["index_equal"] for w in read["writer"])


def test_best_fit_on_a_worked_example():
    """seq 10, documents of 7, 5, 3 and 12 tokens: pieces 10, 7, 5, 3, 2 by size; 10 opens A, 7 opens
    B (3 free), 5 opens C (5 free), 3 fills B exactly, 2 goes to C: 3 sequences, 3 padding tokens."""
    docs = [np.arange(7) + 100, np.arange(5) + 200, np.arange(3) + 300, np.arange(12) + 400]
    seqs, fill, st = best_fit(docs, 10, pad_id=-1)
    assert seqs.tolist() == [list(range(400, 410)),
                             list(range(100, 107)) + [300, 301, 302],
                             list(range(200, 205)) + [410, 411] + [-1] * 3]
    assert fill.tolist() == [10, 10, 7] and (st.n_sequences, st.n_pad, st.n_truncated) == (3, 3, 0)


def test_concat_packer_drops_only_the_tail():
    flat = np.arange(25)
    p = FlatPacker(10, "concat", 0)
    out = list(p.sequences(flat, np.array([25])))
    assert [s.tolist() for s, _ in out] == [[list(range(10)), list(range(10, 20))]]
    assert (p.stats.n_sequences, p.stats.n_truncated, p.stats.n_pad) == (2, 5, 0)
