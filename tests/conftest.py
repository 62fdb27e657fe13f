"""Shared fixtures: one Sail engine for the whole session, and the demo pipeline run once on it
(Delta tables) and once on JVM Spark local[2] through spark-submit (Parquet tables)."""
from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time

import pytest

from tokenlake.config import from_dict
from tokenlake.demo import demo_config, write_demo_config
from tokenlake.engine import start_engine
from tokenlake.pipeline import run_pipeline
from tokenlake.tables import Lake

REPO = pathlib.Path(__file__).resolve().parents[1]
os.environ.setdefault("RUST_LOG", "warn")


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    cfg = from_dict(demo_config(tmp_path_factory.mktemp("engine")))
    eng = start_engine(cfg)
    yield eng
    eng.stop()


@pytest.fixture(scope="session")
def spark(engine):
    return engine.spark


@pytest.fixture()
def lake(spark, tmp_path):
    return Lake(spark, str(tmp_path / "lake"), "delta")


@pytest.fixture(scope="session")
def demo_sail(engine, tmp_path_factory):
    """(config, outcome) of the demo pipeline on Sail with Delta tables."""
    directory = tmp_path_factory.mktemp("demo_sail")
    cfg = from_dict(demo_config(directory))
    outcome = run_pipeline(cfg, engine=engine, quiet=True)
    return cfg, outcome


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child process, without the Connect-mode flag our Sail session set."""
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE")}
    env.update(extra)
    return env


def spark_submit() -> str:
    return str(pathlib.Path(sys.executable).parent / "spark-submit")


@pytest.fixture(scope="session")
def demo_jvm(tmp_path_factory):
    """The demo config run by spark-submit on JVM Spark local[2], Parquet tables. Returns its config."""
    directory = tmp_path_factory.mktemp("demo_jvm")
    config_path = write_demo_config(directory)
    env = clean_env(PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    overrides = ["--set", "table_format=parquet", "--set", "engine.partitions=3"]
    proc = subprocess.run([spark_submit(), "--master", "local[2]", "--conf", "spark.ui.enabled=false",
                           str(REPO / "jobs" / "pipeline.py"), "--config", str(config_path), *overrides],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    cfg = from_dict(demo_config(directory), overrides=["table_format=parquet", "engine.kind=spark"])
    return cfg, proc.stdout


def have(binary: str) -> bool:
    return shutil.which(binary) is not None


# Distinctive fake credentials, so a test can grep every log line and file for them.
FAKE_KEY_ID = "AKIAFAKETOKENLAKE7Q2Z"
FAKE_SECRET = "fake/Secret+tokenlake/K7wJalrXUtnFEMI9x"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def s3_endpoint(monkeypatch):
    """A real S3 API: moto's server on a free 127.0.0.1 port, with fake credentials in the environment."""
    import boto3

    port = free_port()
    proc = subprocess.Popen([str(pathlib.Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for key, value in {"AWS_ACCESS_KEY_ID": FAKE_KEY_ID, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET, "AWS_REGION": "us-east-1",
                       "AWS_ENDPOINT_URL": url, "AWS_ALLOW_HTTP": "true"}.items():
        monkeypatch.setenv(key, value)
    deadline = time.monotonic() + 30
    while True:
        try:
            boto3.client("s3", endpoint_url=url).list_buckets()
            break
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=10)
