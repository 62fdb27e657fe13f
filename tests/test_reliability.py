"""Re-runs, concurrent runs and killed runs: nothing duplicated, nothing partial ever visible."""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import deltalake
import pytest

from conftest import clean_env
from tokenlake import manifest as mf
from tokenlake.config import from_dict
from tokenlake.demo import CORPUS, demo_config
from tokenlake.lock import LakeLocked, lake_lock
from tokenlake.pipeline import run_pipeline

BIN = pathlib.Path(sys.executable).parent


def small_config(tmp_path, **overrides):
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    lines = (CORPUS / "web" / "part-0.jsonl").read_bytes().splitlines()[:30]
    (src / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    data = demo_config(tmp_path)
    data["sources"] = [{"name": "web", "uri": str(src), "format": "jsonl"}]
    data["tokenizer"]["vocab_size"] = 400
    for k, v in overrides.items():
        data[k].update(v)
    return from_dict(data)


def shard_files(cfg, version=None):
    versions = mf.complete_versions(cfg.lake.root, cfg.pack.dataset)
    v = version or versions[-1]
    man = mf.read_manifest(str(pathlib.Path(cfg.lake.root) / "shards" / cfg.pack.dataset / f"v{v}"))
    return [(f["path"], f["sha256"]) for f in man["files"]]


def test_unchanged_rerun_is_nothing_to_do_and_force_reruns(engine, tmp_path):
    cfg = small_config(tmp_path)
    first = run_pipeline(cfg, engine=engine, quiet=True)
    bronze = deltalake.DeltaTable(str(pathlib.Path(cfg.lake.root) / "bronze" / "documents"))
    rows, version = bronze.to_pyarrow_table().num_rows, bronze.version()
    second = run_pipeline(cfg, engine=engine, quiet=True)
    assert second.results[0].n_in == 0  # ingest: no new files
    assert all(r.detail.get("skipped") and r.detail["unchanged_since"] == first.run_id for r in second.results[1:])
    assert mf.complete_versions(cfg.lake.root, cfg.pack.dataset) == [1]
    again = deltalake.DeltaTable(str(pathlib.Path(cfg.lake.root) / "bronze" / "documents"))
    assert (again.to_pyarrow_table().num_rows, again.version()) == (rows, version)
    forced = run_pipeline(cfg, engine=engine, quiet=True, stages=["pack"], force=True)
    assert not forced.results[0].detail.get("skipped")
    assert mf.complete_versions(cfg.lake.root, cfg.pack.dataset) == [1, 2]
    assert shard_files(cfg, 1) == shard_files(cfg, 2)


def test_changed_config_reruns_only_what_it_affects(engine, tmp_path):
    cfg = small_config(tmp_path)
    run_pipeline(cfg, engine=engine, quiet=True)
    data = cfg.to_dict()
    data["pack"]["seed"] = 7
    rerun = {r.stage: r for r in run_pipeline(from_dict(data), engine=engine, quiet=True).results}
    assert all(rerun[s].detail.get("skipped") for s in ("quality", "dedup", "tokenizer", "tokenize"))
    assert not rerun["pack"].detail.get("skipped") and not rerun["validate"].detail.get("skipped")
    assert mf.complete_versions(cfg.lake.root, cfg.pack.dataset) == [1, 2]
    assert sorted(h for _, h in shard_files(cfg, 1)) != sorted(h for _, h in shard_files(cfg, 2))  # new order


def test_lock_refuses_waits_and_takes_over_from_the_dead(engine, tmp_path):
    cfg = small_config(tmp_path)
    with lake_lock(cfg.lake.root, "other-run"):
        with pytest.raises(LakeLocked, match="other-run"):
            run_pipeline(cfg, engine=engine, quiet=True, stages=["ingest"])
    held = threading.Event()

    def hold_briefly():
        with lake_lock(cfg.lake.root, "brief-run"):
            held.set()
            time.sleep(2)

    t = threading.Thread(target=hold_briefly)
    t.start()
    held.wait(10)
    t0 = time.monotonic()
    res = run_pipeline(cfg, engine=engine, quiet=True, stages=["ingest"], wait_seconds=60).results[0]
    t.join()
    assert res.n_kept > 0 and time.monotonic() - t0 >= 1
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = pathlib.Path(cfg.lake.root) / "_locks" / "pipeline.lock"
    lock.write_text(f'{{"run_id": "crashed", "host": "{os.uname().nodename}", "pid": {dead.pid}}}')
    run_pipeline(cfg, engine=engine, quiet=True, stages=["ingest"])  # takes over the dead run's lock
    assert not lock.exists()


def test_two_concurrent_runs_serialize(tmp_path):
    cfg = small_config(tmp_path)
    import yaml

    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    procs = [subprocess.Popen([str(BIN / "tokenlake"), "run", str(path), "--wait", "600"], env=clean_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert any("waiting for run" in err for _, err in outs)
    bronze = deltalake.DeltaTable(str(pathlib.Path(cfg.lake.root) / "bronze" / "documents")).to_pyarrow_table()
    ids = bronze.column("doc_id").to_pylist()
    assert len(ids) == len(set(ids)) == 30
    assert mf.complete_versions(cfg.lake.root, cfg.pack.dataset) == [1]  # the second run had nothing to do


def run_and_kill(config: pathlib.Path, marker: str, delay: float) -> int:
    """Start a run, SIGKILL it `delay` seconds after `marker` appears in its progress lines."""
    proc = subprocess.Popen([str(BIN / "tokenlake"), "run", str(config)], env=clean_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if marker in line:
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=600)
    return proc.returncode


@pytest.mark.parametrize("marker,delay", [("ingest: ", 0.3), ("dedup: start", 0.1), ("pack: writing", 0.05)])
def test_resume_after_sigkill_gives_the_uninterrupted_shards(demo_sail, tmp_path, marker, delay):
    import yaml

    data = demo_config(tmp_path)
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data))
    assert run_and_kill(path, marker, delay) == -signal.SIGKILL
    proc = subprocess.run([str(BIN / "tokenlake"), "run", str(path)], env=clean_env(), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg = from_dict(data)
    sail_cfg, _ = demo_sail
    assert shard_files(cfg) == shard_files(sail_cfg)
    root = pathlib.Path(cfg.lake.root)
    for table in ("bronze/documents", "silver/documents", "gold/documents", "gold/tokens"):
        ids = deltalake.DeltaTable(str(root / table)).to_pyarrow_table(columns=["doc_id"]).column("doc_id").to_pylist()
        assert len(ids) == len(set(ids)), table
    for v in mf.version_numbers(cfg.lake.root, cfg.pack.dataset):
        if v not in mf.complete_versions(cfg.lake.root, cfg.pack.dataset):
            with pytest.raises(FileNotFoundError, match="incomplete"):
                mf.read_manifest(str(root / "shards" / cfg.pack.dataset / f"v{v}"))
