"""``tokenlake shards list | show | verify`` as a user runs them (the installed console script)."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from test_pack import copy_lake, run_pack, version_dir

TOKENLAKE = str(pathlib.Path(sys.executable).parent / "tokenlake")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TOKENLAKE, "shards", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def two_versions(engine, demo_sail, tmp_path_factory):
    cfg, _ = demo_sail
    root = copy_lake(cfg.lake.root, tmp_path_factory.mktemp("shardscli"))
    run_pack(engine, root, dataset="cli")
    run_pack(engine, root, dataset="cli", formats=["megatron", "olmo", "parquet"], seq_len=32)
    return root


def test_list_and_show(two_versions):
    root = two_versions
    out = cli("list", str(root))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("cli v1 ") and lines[1].startswith("cli v2 ")
    assert "megatron,olmo,parquet" in lines[1] and "from gold/tokens@" in lines[1]
    rows = json.loads(cli("list", str(root), "--json").stdout)
    assert [(r["dataset"], r["version"], r["complete"]) for r in rows] == [("cli", 1, True), ("cli", 2, True)]
    shown = json.loads(cli("show", str(root), "--dataset", "cli").stdout)  # newest complete by default
    on_disk = json.loads((version_dir(root, "cli", 2) / "manifest.json").read_text())
    assert shown == on_disk
    assert json.loads(cli("show", str(root), "--dataset", "cli", "--version", "1").stdout)["version"] == 1


def test_verify_passes_then_catches_a_flipped_byte_and_extra_files(two_versions, tmp_path):
    import shutil

    root = tmp_path / "lake"
    shutil.copytree(two_versions, root)
    ok = cli("verify", str(root), "--dataset", "cli", "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    report = json.loads(ok.stdout)
    assert report["ok"] and report["version"] == 2 and report["files"] >= 9
    vdir = version_dir(root, "cli", 2)
    target = vdir / "olmo" / "cli_00000.npy"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size, one bit different
    target.write_bytes(bytes(data))
    (vdir / "stray.bin").write_bytes(b"x")
    bad = cli("verify", str(root), "--dataset", "cli")
    assert bad.returncode == 1
    assert "MISMATCH cli v2: olmo/cli_00000.npy: sha256" in bad.stdout
    assert "MISMATCH cli v2: stray.bin: not listed in the manifest" in bad.stdout
    (vdir / "cli_00000.idx").write_bytes(b"short")
    assert "cli_00000.idx: 5 bytes, manifest says" in cli("verify", str(root), "--dataset", "cli").stdout
    (vdir / "cli_00000.bin").unlink()
    assert "cli_00000.bin: missing" in cli("verify", str(root), "--dataset", "cli").stdout
    assert cli("verify", str(root), "--dataset", "cli", "--version", "1").returncode == 0  # v1 untouched


def test_incomplete_version_is_listed_but_never_read(two_versions, tmp_path):
    import shutil

    root = tmp_path / "lake"
    shutil.copytree(two_versions, root)
    (version_dir(root, "cli", 2) / "manifest.json").unlink()  # as a killed run leaves it
    lines = cli("list", str(root)).stdout.splitlines()
    assert lines[1] == "cli v2  INCOMPLETE (no manifest.json; never read)"
    shown = cli("show", str(root), "--dataset", "cli")
    assert json.loads(shown.stdout)["version"] == 1  # the newest complete one
    refused = cli("verify", str(root), "--dataset", "cli", "--version", "2")
    assert refused.returncode == 1 and "cli v2 is incomplete (no manifest.json)" in refused.stderr


def test_config_file_names_the_lake_and_dataset(two_versions, tmp_path):
    import yaml

    from tokenlake.demo import demo_config

    data = demo_config(tmp_path)
    data["lake"]["root"] = str(two_versions)
    data["pack"]["dataset"] = "cli"
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    out = cli("verify", str(path))
    assert out.returncode == 0 and out.stdout.strip().endswith("all match the manifest"), out.stdout + out.stderr
