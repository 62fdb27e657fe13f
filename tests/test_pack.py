"""The pack stage on the demo's real tokens: global order, shard boundaries, Megatron files read by
megatron-core (IndexedDataset and GPTDataset), determinism across partitionings and engines,
time travel, mixing weights, and failures that leave no manifest.

Expected values are computed here independently of tokenlake's code: the order with hashlib from
the definition sha256(f"{seed}:{doc_id}"), the documents from gold/tokens read with deltalake.
"""
from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
import subprocess
import sys

import deltalake
import numpy as np
import pyarrow as pa
import pytest
from megatron.core.datasets.indexed_dataset import IndexedDataset

from tokenlake import manifest as mf
from tokenlake.config import from_dict
from tokenlake.demo import demo_config
from tokenlake.pipeline import run_pipeline

ALL_FORMATS = ["megatron", "olmo", "mds", "litdata", "parquet"]
REPO = pathlib.Path(__file__).resolve().parents[1]


def copy_lake(src_root: str | pathlib.Path, dst_dir: pathlib.Path) -> pathlib.Path:
    """The demo lake's tables and tokenizer, without its shards and reports."""
    dst = dst_dir / "lake"
    shutil.copytree(src_root, dst, ignore=shutil.ignore_patterns("shards", "reports", "_lock*", "_scratch"))
    return dst


def pack_config(root: pathlib.Path, table_format: str = "delta", **pack):
    data = demo_config(root.parent)
    data["lake"]["root"] = str(root)
    data["table_format"] = table_format
    data["pack"].update(pack)
    return from_dict(data)


def run_pack(engine, root: pathlib.Path, partitions: int = 2, **pack) -> dict:
    cfg = pack_config(root, **pack)
    cfg.engine.partitions = partitions
    engine.spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    try:
        run_pipeline(cfg, stages=["pack"], engine=engine, quiet=True, force=True)
    finally:
        engine.spark.conf.set("spark.sql.shuffle.partitions", "2")
    v = mf.complete_versions(str(root), cfg.pack.dataset)[-1]
    return mf.read_manifest(str(version_dir(root, cfg.pack.dataset, v)))


def version_dir(root: pathlib.Path, dataset: str, v: int) -> pathlib.Path:
    return pathlib.Path(root) / "shards" / dataset / f"v{v}"


def gold_tokens(root: pathlib.Path, version: int | None = None) -> list[dict]:
    t = deltalake.DeltaTable(str(pathlib.Path(root) / "gold" / "tokens"), version=version)
    return t.to_pyarrow_table(columns=["doc_id", "source", "input_ids"]).to_pylist()


def expected_order(rows: list[dict], seed: int = 0) -> list[dict]:
    return sorted(rows, key=lambda r: (hashlib.sha256(f"{seed}:{r['doc_id']}".encode()).hexdigest(), r["doc_id"]))


def expected_shards(docs: list[dict], shard_bytes: int, itemsize: int = 2) -> list[list[dict]]:
    """Documents per shard: shard = floor(start byte / shard_bytes), empty ids skipped."""
    shards: dict[int, list[dict]] = {}
    start = 0
    for d in docs:
        shards.setdefault(start * itemsize // shard_bytes, []).append(d)
        start += len(d["input_ids"])
    return [shards[k] for k in sorted(shards)]


def hashes(man: dict) -> list[tuple[str, str]]:
    return [(f["path"], f["sha256"]) for f in man["files"]]


@pytest.fixture(scope="module")
def lake_copy(demo_sail, tmp_path_factory):
    cfg, _ = demo_sail
    return copy_lake(cfg.lake.root, tmp_path_factory.mktemp("packlake"))


@pytest.fixture(scope="module")
def all_formats(engine, lake_copy):
    """One pack run writing every format (seq_len 64, several shards)."""
    man = run_pack(engine, lake_copy, formats=ALL_FORMATS, seq_len=64, shard_bytes=131_072, dataset="all")
    return man, version_dir(lake_copy, "all", man["version"])


def test_megatron_shards_hold_the_documents_in_global_hash_order(all_formats, lake_copy):
    man, vdir = all_formats
    docs = expected_order(gold_tokens(lake_copy, man["inputs"][0]["version"]))
    per_shard = expected_shards(docs, 131_072)
    assert len(per_shard) >= 3
    prefixes = [p["prefix"] for p in man["megatron"]["prefixes"]]
    assert prefixes == [f"all_{i:05d}" for i in range(len(per_shard))]
    eos = man["tokenizer"]["eos_id"]
    for prefix, want, meta in zip(prefixes, per_shard, man["megatron"]["prefixes"]):
        ds = IndexedDataset(str(vdir / prefix))
        assert ds.index.dtype == np.uint16
        got = [ds[i].tolist() for i in range(len(ds))]
        assert got == [d["input_ids"] for d in want]
        assert all(seq[-1] == eos for seq in got)  # EOS inside the data: trainers find boundaries by it
        assert (meta["n_documents"], meta["n_sequences"], meta["n_tokens"]) == \
            (len(want), len(want), sum(len(d["input_ids"]) for d in want))
    # The --data-path blend names every prefix with its token share.
    parts = man["megatron"]["data_path"].split()
    assert parts[1::2] == prefixes
    total = sum(p["n_tokens"] for p in man["megatron"]["prefixes"])
    assert [float(w) for w in parts[0::2]] == pytest.approx([p["n_tokens"] / total for p in man["megatron"]["prefixes"]],
                                                             abs=1e-6)


class _HFTokenizer:
    """megatron-core's tokenizer interface over the lake's own tokenizer.json (for eod / pad / vocab)."""

    def __new__(cls, path: str, eos: str, pad: str):
        from megatron.core.datasets.megatron_tokenizer import MegatronLegacyTokenizer as MegatronTokenizerBase
        from tokenizers import Tokenizer

        class Tok(MegatronTokenizerBase):
            def __init__(self):
                super().__init__(path)
                self._tok = Tokenizer.from_file(path)

            def tokenize(self, text):
                return np.array(self._tok.encode(text, add_special_tokens=False).ids)

            @property
            def vocab(self):
                return self._tok.get_vocab()

            @property
            def inv_vocab(self):
                return {v: k for k, v in self._tok.get_vocab().items()}

            @property
            def vocab_size(self):
                return self._tok.get_vocab_size()

            @property
            def eod(self):
                return self._tok.token_to_id(eos)

            @property
            def pad(self):
                return self._tok.token_to_id(pad)

        return Tok()


def test_gpt_dataset_resets_positions_and_attention_at_eos(all_formats, lake_copy, tmp_path):
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig
    from megatron.core.datasets.utils import Split

    man, vdir = all_formats
    tok_json = lake_copy / "tokenizers" / "demo-bpe" / man["tokenizer"]["sha256"] / "tokenizer.json"
    tok = _HFTokenizer(str(tok_json), "<|endoftext|>", "<|pad|>")
    eos = man["tokenizer"]["eos_id"]
    assert tok.eod == eos
    seq = 128
    config = GPTDatasetConfig(random_seed=1, sequence_length=seq, reset_position_ids=True, reset_attention_mask=True,
                              eod_mask_loss=False, tokenizer=tok, split="1,0,0", path_to_cache=str(tmp_path))
    prefix = str(vdir / man["megatron"]["prefixes"][0]["prefix"])
    indexed = IndexedDataset(prefix)
    docs = [indexed[i] for i in range(len(indexed))]
    ds = GPTDataset(indexed, prefix, np.arange(len(indexed), dtype=np.int32), None, Split.train, config)
    assert len(ds) == (man["megatron"]["prefixes"][0]["n_tokens"] - 1) // seq
    stream = np.concatenate([docs[i] for i in ds.document_index])  # one epoch, in the dataset's own doc order
    saw_boundary = False
    for i in range(len(ds)):
        s = ds[i]
        tokens, pos, mask = s["tokens"].numpy(), s["position_ids"].numpy(), s["attention_mask"][0].numpy()
        j = int(ds.shuffle_index[i])
        doc, off = ds.sample_index[j]
        start = sum(len(docs[d]) for d in ds.document_index[:doc]) + off
        assert tokens.tolist() == stream[start:start + seq].tolist()
        # Independent expectation: position restarts after each EOS; no attention across an EOS.
        want_pos = np.zeros(seq, np.int64)
        doc_start = np.zeros(seq, np.int64)
        p = b = 0
        for t in range(seq):
            want_pos[t], doc_start[t] = p, b
            p += 1
            if tokens[t] == eos:
                p, b = 0, t + 1
        assert pos.tolist() == want_pos.tolist()
        rows, cols = np.indices((seq, seq))
        visible = (cols <= rows) & (cols >= doc_start[rows])
        assert ((~mask) == visible).all()  # megatron: True = masked out
        saw_boundary |= bool((tokens[:-1] == eos).any())
    assert saw_boundary


def test_same_bytes_for_any_partitioning_of_input_and_engine(engine, spark, lake_copy, tmp_path, all_formats):
    """Rewrite gold/tokens as 7 files and pack with 1 and 5 shuffle partitions: every file identical."""
    from tokenlake.tables import Lake

    man_a, _ = all_formats
    other = copy_lake(lake_copy, tmp_path)
    lake = Lake(spark, str(other), "delta")
    lake.write(lake.read("gold/tokens").repartition(7), "gold/tokens", mode="overwrite")
    man_b = run_pack(engine, other, partitions=1, formats=ALL_FORMATS, seq_len=64, shard_bytes=131_072, dataset="all")
    man_c = run_pack(engine, other, partitions=5, formats=ALL_FORMATS, seq_len=64, shard_bytes=131_072, dataset="all")
    assert man_b["inputs"][0]["version"] != man_a["inputs"][0]["version"]
    assert hashes(man_a) == hashes(man_b) == hashes(man_c)
    assert len({f["format"] for f in man_a["files"]}) == 5


def test_jvm_spark_writes_the_same_files_in_every_format(demo_jvm, all_formats, tmp_path):
    """The same pack config on JVM Spark local[2] (spark-submit, Parquet tables) as on Sail."""
    from conftest import clean_env, spark_submit

    jvm_cfg, _ = demo_jvm
    man_a, _ = all_formats
    root = copy_lake(jvm_cfg.lake.root, tmp_path)
    cfg = pack_config(root, table_format="parquet", formats=ALL_FORMATS, seq_len=64, shard_bytes=131_072,
                      dataset="all")
    path = tmp_path / "pack.yaml"
    import yaml

    data = cfg.to_dict()
    data["engine"] = {"kind": "spark", "partitions": 3}
    path.write_text(yaml.safe_dump(data))
    env = clean_env(PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    proc = subprocess.run([spark_submit(), "--master", "local[2]", "--conf", "spark.ui.enabled=false",
                           str(REPO / "jobs" / "pipeline.py"), "--config", str(path), "--stage", "pack", "--force"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    man_b = mf.read_manifest(str(version_dir(root, "all", 1)))
    assert man_b["inputs"][0]["format"] == "parquet"
    assert hashes(man_a) == hashes(man_b)


def test_time_travel_rebuilds_the_same_bytes(engine, spark, lake_copy, tmp_path):
    from tokenlake.tables import Lake

    root = copy_lake(lake_copy, tmp_path)
    first = run_pack(engine, root, dataset="tt")
    v_in = first["inputs"][0]["version"]
    lake = Lake(spark, str(root), "delta")
    spark.sql(f"DELETE FROM delta.`{lake.uri('gold/tokens')}` WHERE source = 'licenses'").collect()
    changed = run_pack(engine, root, dataset="tt")
    assert changed["inputs"][0]["version"] > v_in and hashes(changed) != hashes(first)
    again = run_pack(engine, root, dataset="tt", input_version=v_in)
    assert again["version"] == 3 and again["inputs"][0]["version"] == v_in
    assert hashes(again) == hashes(first)
    assert again["n_docs"] == first["n_docs"] > changed["n_docs"]
    with pytest.raises(ValueError, match="newer than gold/tokens"):
        run_pack(engine, root, dataset="tt", input_version=v_in + 100)


def test_mixing_weights_repeat_and_sample_per_source(engine, lake_copy):
    man = run_pack(engine, lake_copy, dataset="mix", mixing={"web": 2.0, "licenses": 0.5})
    rows = gold_tokens(lake_copy, man["inputs"][0]["version"])
    # Independent expectation: licenses keep the docs whose uniform draw is below 0.5.
    def draw(doc_id):
        return int(hashlib.sha256(f"0:mix:{doc_id}".encode()).hexdigest()[:13], 16) / 2 ** 52
    web = [r for r in rows if r["source"] == "web"]
    lic = [r for r in rows if r["source"] == "licenses"]
    kept_lic = [r for r in lic if draw(r["doc_id"]) < 0.5]
    assert 0 < len(kept_lic) < len(lic)
    src = man["mixing"]["sources"]
    assert man["mixing"]["weights"] == {"licenses": 0.5, "web": 2.0}
    assert (src["web"]["in_docs"], src["web"]["out_docs"]) == (len(web), 2 * len(web))
    assert (src["licenses"]["in_docs"], src["licenses"]["out_docs"]) == (len(lic), len(kept_lic))
    assert src["web"]["out_tokens"] == 2 * sum(len(r["input_ids"]) for r in web)
    vdir = version_dir(lake_copy, "mix", man["version"])
    got = []
    for p in man["megatron"]["prefixes"]:
        ds = IndexedDataset(str(vdir / p["prefix"]))
        got += [tuple(ds[i].tolist()) for i in range(len(ds))]
    want = sorted([tuple(r["input_ids"]) for r in web] * 2 + [tuple(r["input_ids"]) for r in kept_lic])
    assert sorted(got) == want
    assert man["output"]["n_docs"] == len(want) and man["n_docs"] == len(rows)
    # Repeats are spread by their own keys, not written next to each other.
    first_web = tuple(web[0]["input_ids"])
    at = [i for i, g in enumerate(got) if g == first_web]
    assert len(at) == 2 and at[1] - at[0] > 1


def test_out_of_vocabulary_id_fails_and_leaves_no_manifest(engine, spark, lake_copy, tmp_path):
    from tokenlake.tables import Lake

    root = copy_lake(lake_copy, tmp_path)
    lake = Lake(spark, str(root), "delta")
    sha = gold_tokens_sha(root)
    bad = spark.createDataFrame([("bad-doc", "web", [5, 70000, 0], 3, sha)],
                                "doc_id string, source string, input_ids array<int>, n_tokens bigint, "
                                "tokenizer_sha256 string")
    lake.write(bad, "gold/tokens", mode="append")
    cfg = pack_config(root, dataset="bad")
    with pytest.raises(Exception, match=r"token id out of range \[0, 2048\): min 0, max 70000"):
        run_pipeline(cfg, stages=["pack"], engine=engine, quiet=True, force=True)
    assert mf.version_numbers(str(root), "bad") == [1] and mf.complete_versions(str(root), "bad") == []
    with pytest.raises(FileNotFoundError, match="incomplete"):
        mf.read_manifest(str(version_dir(root, "bad", 1)))
    spark.sql(f"DELETE FROM delta.`{lake.uri('gold/tokens')}` WHERE doc_id = 'bad-doc'").collect()
    man = run_pack(engine, root, dataset="bad")
    assert man["version"] == 2  # a new number; the broken v1 is never reused or read


def gold_tokens_sha(root: pathlib.Path) -> str:
    t = deltalake.DeltaTable(str(root / "gold" / "tokens")).to_pyarrow_table(columns=["tokenizer_sha256"])
    return t.column(0)[0].as_py()


def test_empty_input_writes_an_empty_version(engine, spark, lake_copy, tmp_path):
    from tokenlake.tables import Lake

    root = copy_lake(lake_copy, tmp_path)
    lake = Lake(spark, str(root), "delta")
    spark.sql(f"DELETE FROM delta.`{lake.uri('gold/tokens')}`").collect()
    man = run_pack(engine, root, dataset="empty", formats=ALL_FORMATS, seq_len=64)
    assert (man["n_docs"], man["output"]["n_shards"]) == (0, 0)
    assert {f["path"] for f in man["files"]} == {"mds/index.json", "litdata/index.json"}
