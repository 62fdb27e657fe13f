"""Megatron shard writer throughput next to megatron-core's own IndexedDatasetBuilder and a plain
numpy writer, on the same token arrays in the same run. Prints MB/s and ratios (>= 1 is faster).

    .venv/bin/python bench/pack.py [--docs 200000] [--repeat 3]
"""
from __future__ import annotations

import argparse
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
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


if __name__ == "__main__":
    main()
