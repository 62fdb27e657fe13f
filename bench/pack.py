"""Shard writing throughput, all on the same token arrays in the same run:

1. the Megatron shard writer alone next to megatron-core's own IndexedDatasetBuilder and a plain
   numpy writer (MB/s, ratios >= 1 mean ours is faster);
2. the whole pack stage on the default engine (gold/tokens Delta table -> plan on the narrow
   columns -> token arrays through one shuffle into the executor tasks that write the shards ->
   manifest), MB/s per core, next to the plain numpy writer on one core writing the same arrays
   (ratio = stage per core / numpy; goal >= 0.8);
3. the engine's floor in the same run: reading gold/tokens' ``input_ids`` into a ``mapInArrow``
   that only counts rows (Parquet decode plus the hand-over to Python that any Spark stage over
   these arrays pays), also per core and as a ratio to plain numpy.

    .venv/bin/python bench/pack.py [--docs 200000] [--repeat 3] [--stage-docs 100000]
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))
from tokenlake.formats.megatron import ShardWriter, index_bytes  # noqa: E402


def ours(docs, path):
    with open(path / "a.bin", "wb") as fh:
        w = ShardWriter(fh, np.uint16, 50_000)
        for d in docs:
            w.add(d)
        idx = w.finish()
    (path / "a.idx").write_bytes(idx)


def plain_numpy(docs, path):
    with open(path / "b.bin", "wb") as fh:
        for d in docs:
            fh.write(d.astype(np.uint16).tobytes())
    (path / "b.idx").write_bytes(index_bytes(np.array([len(d) for d in docs], np.int32), np.uint16))


def megatron(docs, path):
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    b = IndexedDatasetBuilder(str(path / "c.bin"), dtype=np.uint16)
    for d in docs:
        b.add_document(d.astype(np.uint16), [len(d)])
    b.finalize(str(path / "c.idx"))


def best(fn, docs, repeat):
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn(docs, pathlib.Path(tmp))
            times.append(time.perf_counter() - t0)
    return min(times)


def count_rows(batches):
    import pyarrow as pa

    n = 0
    for b in batches:
        n += b.num_rows
    yield pa.RecordBatch.from_pylist([{"n": n}])


def stage(docs, cores: int) -> tuple[float, float, float]:
    """(seconds of the pack stage, of reading input_ids into Python, of plain numpy) on the same
    arrays, a demo lake's tokenizer."""
    import pyarrow as pa

    from tokenlake.config import from_dict
    from tokenlake.demo import demo_config
    from tokenlake.engine import start_engine
    from tokenlake.pipeline import run_pipeline
    from tokenlake.tables import Lake
    from tokenlake.tokenizer import load_latest

    with tempfile.TemporaryDirectory() as tmp:
        data = demo_config(pathlib.Path(tmp))
        data["engine"]["partitions"] = cores
        data["pack"]["shard_bytes"] = 64 << 20
        cfg = from_dict(data)
        eng = start_engine(cfg)
        try:
            run_pipeline(cfg, engine=eng, quiet=True, stages=["ingest", "quality", "dedup", "tokenizer", "tokenize"])
            art = load_latest(cfg.lake.root, cfg.tokenizer.name, cfg.tokenizer.eos, cfg.tokenize.bos)
            docs = [np.minimum(d, art.vocab_size - 1).astype(np.int32) for d in docs]
            table = pa.table({"doc_id": [f"doc-{i:08d}" for i in range(len(docs))],
                              "source": ["bench"] * len(docs),
                              "input_ids": pa.array([d for d in docs], pa.list_(pa.int32())),
                              "n_tokens": pa.array([len(d) for d in docs], pa.int64()),
                              "tokenizer_sha256": [art.sha256] * len(docs)})
            lake = Lake(eng.spark, cfg.lake.root, cfg.table_format)
            path = pathlib.Path(tmp) / "gold_tokens.parquet"
            import pyarrow.parquet as pq

            pq.write_table(table, path)
            lake.write(eng.spark.read.parquet(str(path)).repartition(cores), "gold/tokens", mode="overwrite")
            t0 = time.perf_counter()
            run_pipeline(cfg, engine=eng, quiet=not os.environ.get("BENCH_VERBOSE"), stages=["pack"], force=True)
            t_stage = time.perf_counter() - t0
            t0 = time.perf_counter()
            lake.read("gold/tokens").select("input_ids").mapInArrow(count_rows, "n long").collect()
            t_read = time.perf_counter() - t0
        finally:
            eng.stop()
        t_numpy = best(plain_numpy, docs, 1)
    return t_stage, t_read, t_numpy


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--stage-docs", type=int, default=100_000, help="documents for the pack-stage run (0: skip it)")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 50_000, size=n) for n in rng.integers(50, 1500, size=args.docs)]
    mb = sum(len(d) for d in docs) * 2 / 1e6
    results = {name: best(fn, docs, args.repeat) for name, fn in
               [("tokenlake ShardWriter", ours), ("plain numpy", plain_numpy), ("megatron-core builder", megatron)]}
    for name, sec in results.items():
        print(f"{name:<24} {mb / sec:8.1f} MB/s")
    base = results["tokenlake ShardWriter"]
    print(f"ratio vs plain numpy: {results['plain numpy'] / base:.2f}   "
          f"ratio vs megatron-core: {results['megatron-core builder'] / base:.2f}")
    if args.stage_docs:
        sdocs = docs[:args.stage_docs]
        smb = sum(len(d) for d in sdocs) * 2 / 1e6
        t_stage, t_read, t_numpy = stage(sdocs, args.cores)
        per_core = smb / t_stage / args.cores
        print(f"pack stage ({len(sdocs)} docs, {smb:.0f} MB, {args.cores} cores): {smb / t_stage:.1f} MB/s = "
              f"{per_core:.1f} MB/s per core; plain numpy, 1 core: {smb / t_numpy:.1f} MB/s; "
              f"ratio {per_core / (smb / t_numpy):.2f}")
        read_core = smb / t_read / args.cores
        print(f"engine floor, input_ids read into a no-op mapInArrow: {smb / t_read:.1f} MB/s = {read_core:.1f} MB/s "
              f"per core; ratio {read_core / (smb / t_numpy):.2f} (the stage takes {t_stage / t_read:.1f}x this read)")


if __name__ == "__main__":
    main()
