"""Credentials come from the environment only and never reach a log line, a report or a manifest."""
import pathlib
import subprocess
import sys

import boto3
import pytest

from conftest import FAKE_KEY_ID, FAKE_SECRET, clean_env
from tokenlake.config import ConfigError, from_dict
from tokenlake.demo import demo_config, write_demo_config
from tokenlake.secrets import redact

BIN = pathlib.Path(sys.executable).parent


def test_config_refuses_credentials(tmp_path):
    base = demo_config(tmp_path)
    for override, where in [("lake.storage_options.aws_secret_access_key=x", "storage_options"),
                            ("lake.storage_options.sas_token=x", "storage_options"),
                            ("engine.conf.spark.hadoop.fs.s3a.secret.key=x", "engine.conf"),
                            ("engine.url=sc://h:443/;token=dapi123", "engine.url")]:
        with pytest.raises(ConfigError, match=where.replace(".", r"\.")) as err:
            from_dict(base, "pipeline.yaml", [override])
        assert "environment" in str(err.value) or "SPARK_REMOTE" in str(err.value)
    assert from_dict(base, overrides=["lake.storage_options.endpoint_url=http://127.0.0.1:9000"])


def test_redact_masks_url_tokens_and_env_values(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    text = (f"sc://host:443/;token=dapiABC123;x-databricks-cluster-id=1 "
            f"https://a.blob.core.windows.net/c/f?sv=2022&sig=AbC%2Fd&se=2030 https://user:pw@host/x {FAKE_SECRET}")
    out = redact(text)
    for leaked in ("dapiABC123", "AbC%2Fd", "user:pw", FAKE_SECRET):
        assert leaked not in out
    assert "token=***" in out and "<AWS_SECRET_ACCESS_KEY>" in out


def test_pipeline_logs_and_outputs_never_contain_the_keys(s3_endpoint, tmp_path):
    """The demo with its lake on S3 (moto), fake keys in the environment, full debug logging; then a
    failing run. Every line printed and every file written is searched for the keys."""
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="lake")
    config = write_demo_config(tmp_path / "demo")
    env = clean_env(RUST_LOG="debug")  # the fake AWS_* keys from the fixture; Sail logs everything
    assert env["AWS_SECRET_ACCESS_KEY"] == FAKE_SECRET
    common = ["--set", "lake.root=s3://lake/t", "--set", f"lake.storage_options.endpoint_url={s3_endpoint}"]
    ok = subprocess.run([str(BIN / "tokenlake"), "run", str(config), "--debug", *common],
                        env=env, capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert "validate" in ok.stdout
    assert " DEBUG " in ok.stderr  # the engine's debug logging really was on
    bad = subprocess.run([str(BIN / "tokenlake"), "run", str(config), "--debug", "--stage", "pack",
                          "--set", "lake.root=s3://no-such-bucket/t",
                          "--set", f"lake.storage_options.endpoint_url={s3_endpoint}"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0
    written = []
    for obj in s3.list_objects_v2(Bucket="lake", Prefix="t/")["Contents"]:
        if obj["Key"].endswith((".json", ".html", "latest.json")):
            written.append(s3.get_object(Bucket="lake", Key=obj["Key"])["Body"].read().decode())
    assert any('"n_tokens"' in w for w in written)  # the manifest was among the files searched
    local = [p.read_text(errors="replace") for p in (tmp_path / "demo").rglob("*") if p.is_file()]
    lines = (ok.stdout + ok.stderr + bad.stdout + bad.stderr).splitlines() + written + local
    assert len(lines) > 20
    for key in (FAKE_SECRET, FAKE_KEY_ID):
        leaks = [line for line in lines if key in line]
        assert not leaks, f"credential leaked in: {leaks[:3]}"
