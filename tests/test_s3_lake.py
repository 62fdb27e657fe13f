"""The whole demo pipeline with lake.root on S3: a real S3 API (moto server on 127.0.0.1)."""
import json
import os
import pathlib

import boto3

from tokenlake.config import from_dict
from tokenlake.demo import demo_config
from tokenlake.pipeline import run_pipeline


def test_demo_pipeline_with_lake_on_s3(s3_endpoint, engine, demo_sail, tmp_path):
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="lake")
    data = demo_config(tmp_path)
    data["lake"] = {"root": "s3://lake/tokenlake", "storage_options": {"endpoint_url": s3_endpoint}}
    outcome = run_pipeline(from_dict(data), engine=engine, quiet=True)
    assert all(r.n_in == r.n_kept + r.n_rejected for r in outcome.results)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="lake", Prefix="tokenlake/")["Contents"]}
    assert any(k.startswith("tokenlake/bronze/documents/_delta_log/") for k in keys)
    man = json.loads(s3.get_object(Bucket="lake", Key="tokenlake/shards/demo/v1/manifest.json")["Body"].read())
    local_cfg, _ = demo_sail
    local = json.loads((pathlib.Path(local_cfg.lake.root) / "shards/demo/v1/manifest.json").read_text())
    assert [(f["path"], f["sha256"]) for f in man["files"]] == [(f["path"], f["sha256"]) for f in local["files"]]
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in json.dumps(man)
