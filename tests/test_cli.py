"""The console script: exit codes and messages a user sees."""
import subprocess
import sys
import pathlib

from conftest import clean_env

BIN = pathlib.Path(sys.executable).parent / "tokenlake"


def run(*args, timeout=300):
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=timeout, env=clean_env())


def test_bad_config_exits_2_naming_key_and_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("lake: {root: /tmp/x}\nsources: [{name: a, uri: /tmp, format: jsonl}]\nqualty: {}\n")
    proc = run("run", str(p))
    assert proc.returncode == 2
    assert "qualty" in proc.stderr and str(p) in proc.stderr


def test_run_single_stage_prints_counts(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jsonl").write_text('{"text": "hello lake"}\n{"text": 1}\n')
    p = tmp_path / "p.yaml"
    p.write_text(f"lake: {{root: {tmp_path / 'lake'}}}\nsources: [{{name: a, uri: {src}, format: jsonl}}]\n")
    proc = run("run", str(p), "--stage", "ingest")
    assert proc.returncode == 0, proc.stderr
    assert "ingest     in=2         kept=1         rejected=1" in proc.stdout
    assert "ingest: 1 new files" in proc.stderr  # progress lines


def test_jvm_engine_without_delta_says_how_to_fix(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text(f"lake: {{root: {tmp_path / 'lake'}}}\nsources: [{{name: a, uri: {tmp_path}, format: jsonl}}]\n")
    proc = run("run", str(p), "--engine", "spark", "--stage", "ingest")
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "table_format: parquet" in proc.stderr and "--packages io.delta" in proc.stderr


def test_connect_engine_against_a_spark_connect_server(tmp_path):
    """engine.kind=connect drives any Spark Connect endpoint; here a Sail server on 127.0.0.1."""
    from pysail.spark import SparkConnectServer

    from tokenlake.config import from_dict
    from tokenlake.pipeline import run_pipeline

    server = SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    try:
        host, port = server.listening_address
        src = tmp_path / "src"
        src.mkdir()
        (src / "a.jsonl").write_text('{"text": "one document"}\n{"text": "another document"}\n')
        cfg = from_dict({"lake": {"root": str(tmp_path / "lake")}, "engine": {"kind": "connect", "url": f"sc://{host}:{port}"},
                         "sources": [{"name": "a", "uri": str(src), "format": "jsonl"}]})
        (res,) = run_pipeline(cfg, stages=["ingest"], quiet=True).results
        assert (res.n_in, res.n_kept, res.n_rejected) == (2, 2, 0)
    finally:
        server.stop()
