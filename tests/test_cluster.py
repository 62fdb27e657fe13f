"""Where users run it: a real Spark standalone cluster (one master, two workers, started from
pyspark's own launch scripts on 127.0.0.1) through infra/spark-submit/submit.sh, and a JVM Spark
Connect server. Both must give the same shard bytes as the Sail run."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import REPO, clean_env, free_port
from tokenlake import manifest as mf
from tokenlake.config import from_dict
from tokenlake.demo import demo_config, write_demo_config
from tokenlake.pipeline import run_pipeline

BIN = pathlib.Path(sys.executable).parent
SPARK_HOME = pathlib.Path(__import__("pyspark").__file__).parent


def shard_hashes(cfg) -> list[tuple[str, str]]:
    versions = mf.complete_versions(cfg.lake.root, cfg.pack.dataset)
    man = mf.read_manifest(str(pathlib.Path(cfg.lake.root) / "shards" / cfg.pack.dataset / f"v{versions[-1]}"))
    return [(f["path"], f["sha256"]) for f in man["files"]]


def wait_for(check, what: str, procs, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"a process exited while waiting for {what}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"timed out waiting for {what}")


def stop(procs) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


@pytest.fixture()
def standalone_cluster(tmp_path):
    port, ui = free_port(), free_port()
    env = clean_env(SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable, SPARK_HOME=str(SPARK_HOME))
    logs = tmp_path / "cluster-logs"
    logs.mkdir()
    master = subprocess.Popen([str(BIN / "spark-class"), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                               "--port", str(port), "--webui-port", str(ui)],
                              env=env, stdout=open(logs / "master.log", "w"), stderr=subprocess.STDOUT)
    procs = [master]
    url = f"spark://127.0.0.1:{port}"
    try:
        for i in range(2):
            procs.append(subprocess.Popen(
                [str(BIN / "spark-class"), "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1",
                 "--cores", "1", "--memory", "2g", "--webui-port", str(free_port()), "--work-dir", str(tmp_path / f"w{i}")],
                env=env, stdout=open(logs / f"worker{i}.log", "w"), stderr=subprocess.STDOUT))

        def two_workers() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=2) as r:
                return json.load(r).get("aliveworkers", 0) == 2

        wait_for(two_workers, "two registered workers", procs)
        yield url
    finally:
        stop(procs)


def test_spark_submit_to_standalone_cluster_gives_sail_shards(standalone_cluster, demo_sail, tmp_path):
    config = write_demo_config(tmp_path / "run")
    env = clean_env(MASTER=standalone_cluster, TABLE_FORMAT="parquet", PYSPARK_PYTHON=sys.executable,
                    PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", SUBMIT_ARGS="--executor-memory 1g")
    proc = subprocess.run(["bash", str(REPO / "infra" / "spark-submit" / "submit.sh"), str(config)],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "on spark (parquet tables)" in proc.stdout
    cfg = from_dict(demo_config(tmp_path / "run"), overrides=["table_format=parquet"])
    sail_cfg, _ = demo_sail
    assert shard_hashes(cfg) == shard_hashes(sail_cfg)
    assert "app-" in "".join(p.name for p in (tmp_path).rglob("app-*"))  # executors really ran on the workers


@pytest.fixture()
def spark_connect_server(tmp_path):
    port = free_port()
    env = clean_env(SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable, SPARK_HOME=str(SPARK_HOME))
    jar = next((SPARK_HOME / "jars").glob("spark-connect_*.jar"))
    log = open(tmp_path / "connect-server.log", "w")
    proc = subprocess.Popen([str(BIN / "spark-submit"), "--master", "local[2]",
                             "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
                             "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
                             "--conf", f"spark.connect.grpc.binding.port={port}",
                             "--conf", "spark.ui.enabled=false", str(jar)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)

    def listening() -> bool:
        import socket
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    try:
        wait_for(listening, "the Spark Connect server", [proc])
        yield f"sc://127.0.0.1:{port}"
    finally:
        stop([proc])


def test_pipeline_on_jvm_spark_connect_server_gives_sail_shards(spark_connect_server, demo_sail, tmp_path):
    data = demo_config(tmp_path / "connect")
    data["engine"] = {"kind": "connect", "url": spark_connect_server, "partitions": 3}
    data["table_format"] = "parquet"  # the JVM server has no Delta jars here
    cfg = from_dict(data)
    outcome = run_pipeline(cfg, quiet=True)
    assert all(r.n_in == r.n_kept + r.n_rejected for r in outcome.results)
    sail_cfg, _ = demo_sail
    assert shard_hashes(cfg) == shard_hashes(sail_cfg)
