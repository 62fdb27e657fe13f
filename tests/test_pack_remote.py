"""Shard tasks write straight to object stores: the writer function that runs inside each Spark task
(``formats.writers.shard_writer``) aimed at Azurite (az:// and abfss://) and at moto's S3 gives the
same files, byte for byte, as aimed at a local directory, in every format."""
from __future__ import annotations

import boto3
import numpy as np
import pyarrow as pa
import pytest

from test_ingest_remote import DEV_ACCOUNT, azurite, azurite_bin  # noqa: F401 - fixtures
from tokenlake import storage
from tokenlake.formats import writers

FORMATS = ("megatron", "olmo", "mds", "litdata", "parquet")


def spec_for(version_uri: str, docs: list[np.ndarray]) -> writers.ShardSpec:
    lens = [len(d) for d in docs]
    # two shards: documents 0-2 and 3-5, token offsets as the pack stage plans them
    plan = {0: (0, sum(lens[:3]), 3), 1: (sum(lens[:3]), sum(lens[3:]), 3)}
    return writers.ShardSpec(version_uri=version_uri, dataset="t", formats=FORMATS, vocab_size=1000,
                             megatron_dtype="uint16", olmo_dtype="uint16", seq_len=16, packing="concat", pad_id=0,
                             plan=plan)


def batches(docs: list[np.ndarray]) -> list[pa.RecordBatch]:
    # the order key sorts the documents as listed; the task puts them in that order itself
    rows = [dict(shard=i // 3, _key=f"{i:064x}", doc_id=f"d{i}", rep=0, source="web", n_tokens=len(d),
                 input_ids=d.tolist()) for i, d in enumerate(docs)]
    rows = rows[::-1]  # any order within a task
    schema = pa.schema([("shard", pa.int32()), ("_key", pa.string()), ("doc_id", pa.string()), ("rep", pa.int32()),
                        ("source", pa.string()), ("n_tokens", pa.int64()), ("input_ids", pa.list_(pa.int32()))])
    return [pa.RecordBatch.from_pylist(rows[:4], schema), pa.RecordBatch.from_pylist(rows[4:], schema)]


def write(version_uri: str, docs) -> dict[str, bytes]:
    out = pa.Table.from_batches(list(writers.shard_writer(spec_for(version_uri, docs))(iter(batches(docs)))))
    files = {}
    for row in out.to_pylist():
        if row["path"]:
            with storage.open_input(storage.join(version_uri, row["path"])) as fh:
                data = fh.read()
            assert len(data) == row["bytes"], row["path"]
            files[row["path"]] = data
    return files


@pytest.fixture(scope="module")
def docs():
    rng = np.random.default_rng(7)
    return [rng.integers(1, 1000, size=int(n)).astype(np.int32) for n in rng.integers(5, 60, size=6)]


@pytest.fixture(scope="module")
def local_files(docs, tmp_path_factory):
    files = write(str(tmp_path_factory.mktemp("local") / "v1"), docs)
    assert {p.split("/")[0] for p in files} >= {"olmo", "mds", "litdata", "parquet"}
    assert any(p.endswith(".bin") for p in files) and any(p.endswith(".idx") for p in files)
    return files


@pytest.mark.parametrize("scheme", ["az", "abfss"])
def test_shards_written_to_azure_equal_local(azurite, docs, local_files, scheme):  # noqa: F811
    root = "az://raw/lake" if scheme == "az" else f"abfss://raw@{DEV_ACCOUNT}.dfs.core.windows.net/lake2"
    assert write(storage.join(root, "shards/t/v1"), docs) == local_files


def test_shards_written_to_s3_equal_local(s3_endpoint, docs, local_files):
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="shards")
    assert write("s3://shards/lake/shards/t/v1", docs) == local_files
