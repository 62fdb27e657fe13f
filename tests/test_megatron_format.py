"""Our Megatron writer against megatron-core's own builder and reader."""
import io

import numpy as np
import pytest
from megatron.core.datasets.indexed_dataset import IndexedDataset, IndexedDatasetBuilder

from tokenlake.formats.megatron import ShardWriter, TokenRangeError, read_index, token_dtype


def random_docs(seed, n, high):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, high, size=rng.integers(1, 300)) for _ in range(n)]


@pytest.mark.parametrize("vocab", [2048, 100_000])
def test_byte_identical_to_megatron_builder(tmp_path, vocab):
    dtype = token_dtype(vocab)
    assert dtype == (np.uint16 if vocab < 65500 else np.int32)
    docs = random_docs(vocab, 57, vocab)
    ref = tmp_path / "ref"
    builder = IndexedDatasetBuilder(str(ref) + ".bin", dtype=dtype)
    for d in docs:
        builder.add_document(np.asarray(d, dtype=dtype), [len(d)])
    builder.finalize(str(ref) + ".idx")

    out = io.BytesIO()
    w = ShardWriter(out, dtype, vocab)
    for d in docs:
        w.add(d)
    idx = w.finish()
    assert out.getvalue() == (tmp_path / "ref.bin").read_bytes()
    assert idx == (tmp_path / "ref.idx").read_bytes()


def test_reader_roundtrip(tmp_path):
    docs = random_docs(1, 20, 5000)
    with open(tmp_path / "x.bin", "wb") as fh:
        w = ShardWriter(fh, np.uint16, 5000)
        for d in docs:
            w.add(d)
        idx = w.finish()
    (tmp_path / "x.idx").write_bytes(idx)
    info = read_index(idx)
    assert list(info.lengths) == [len(d) for d in docs]
    ds = IndexedDataset(str(tmp_path / "x"))
    assert len(ds) == len(docs)
    for got, want in zip((ds[i] for i in range(len(ds))), docs):
        assert got.tolist() == list(want)


def test_out_of_vocab_id_refused_before_cast():
    out = io.BytesIO()
    w = ShardWriter(out, np.uint16, 65000)
    w.add([1, 2, 70000])  # would wrap to 4464 in uint16
    with pytest.raises(TokenRangeError, match="max 70000"):
        w.finish()
    assert out.getvalue() == b""  # nothing of the bad block was written
    w2 = ShardWriter(io.BytesIO(), np.uint16, 65000, block_tokens=1)
    with pytest.raises(TokenRangeError, match="min -1"):
        w2.add([-1])
