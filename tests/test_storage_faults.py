"""S3 faults: transient 500/503 answers are retried with backoff by every client in the pipeline
(Sail and deltalake's object_store, pyarrow's S3 filesystem, boto3); a permanent failure stops
the stage with an error that names the object, and a re-run then continues."""
import json
import pathlib

import boto3
import pytest

from fault_proxy import ProxyProcess
from tokenlake.config import from_dict
from tokenlake.demo import CORPUS, demo_config
from tokenlake.pipeline import run_pipeline


def small_corpus(tmp_path) -> dict:
    """30 real documents (the demo corpus's first lines): enough requests to hit many faults."""
    src = tmp_path / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "a.jsonl").write_bytes(b"\n".join((CORPUS / "web" / "part-0.jsonl").read_bytes().splitlines()[:30]) + b"\n")
    data = demo_config(tmp_path)
    data["sources"] = [{"name": "web", "uri": str(src), "format": "jsonl"}]
    data["tokenizer"]["vocab_size"] = 400
    data["pack"]["shard_bytes"] = 16_384
    data["validate"] = {"data_docs": False}
    return data


def lake_config(tmp_path, endpoint, bucket):
    data = small_corpus(tmp_path)
    data["lake"] = {"root": f"s3://{bucket}/lake", "storage_options": {"endpoint_url": endpoint}}
    return data


def test_transient_s3_errors_are_retried(s3_endpoint, engine, tmp_path, monkeypatch):
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="transient")
    with ProxyProcess(s3_endpoint, fail_every=40) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        cfg = from_dict(lake_config(tmp_path, proxy.url, "transient"))
        outcome = run_pipeline(cfg, engine=engine, quiet=True)
        stats = proxy.stats()
    assert stats["injected"] >= 20, stats  # the faults really happened
    assert outcome.results[-1].stage == "validate" and outcome.results[-1].n_rejected == 0
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    man = json.loads(s3.get_object(Bucket="transient", Key="lake/shards/demo/v1/manifest.json")["Body"].read())
    local_cfg = from_dict(small_corpus(tmp_path / "local"))  # the same run on a local lake, no faults
    run_pipeline(local_cfg, engine=engine, quiet=True)
    local = json.loads((pathlib.Path(local_cfg.lake.root) / "shards/demo/v1/manifest.json").read_text())
    assert [f["sha256"] for f in man["files"]] == [f["sha256"] for f in local["files"]]


def test_permanent_failure_names_the_object_and_a_rerun_continues(s3_endpoint, engine, tmp_path, monkeypatch):
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="permanent")
    with ProxyProcess(s3_endpoint, fail_keys=r"/shards/demo/v1/demo_00001") as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        cfg = from_dict(lake_config(tmp_path, proxy.url, "permanent"))
        with pytest.raises(OSError) as err:
            run_pipeline(cfg, engine=engine, quiet=True)
        assert "demo_00001" in str(err.value)
        s3 = boto3.client("s3", endpoint_url=s3_endpoint)
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="permanent", Prefix="lake/shards/")["Contents"]}
        assert "lake/shards/demo/v1/manifest.json" not in keys  # the failed version stays incomplete
        proxy.heal()
        outcome = run_pipeline(cfg, engine=engine, quiet=True)
    stages = {r.stage: r for r in outcome.results}
    assert all(stages[s].detail.get("skipped") for s in ("quality", "dedup", "tokenizer", "tokenize"))
    assert stages["pack"].detail["version"] == 2 and stages["validate"].n_rejected == 0
