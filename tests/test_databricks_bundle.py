"""The Databricks Asset Bundle: structure, task order, and entry points that exist in the wheel."""
import glob
import importlib
import pathlib
import re
import subprocess
import sys
import tomllib
import zipfile

import yaml

from tokenlake.config import STAGES

REPO = pathlib.Path(__file__).resolve().parents[1]
BUNDLE = REPO / "infra" / "databricks"


def load():
    root = yaml.safe_load((BUNDLE / "databricks.yml").read_text())
    resources = {}
    for pattern in root["include"]:
        files = sorted(BUNDLE.glob(pattern))
        assert files, f"include {pattern} matches nothing"
        for f in files:
            for kind, items in yaml.safe_load(f.read_text())["resources"].items():
                resources.setdefault(kind, {}).update({k: (f, v) for k, v in items.items()})
    return root, resources


def test_bundle_targets_and_artifact():
    root, _ = load()
    assert root["bundle"]["name"] == "tokenlake"
    assert root["targets"]["dev"]["mode"] == "development" and root["targets"]["dev"]["default"] is True
    assert root["targets"]["prod"]["mode"] == "production"
    (artifact,) = root["artifacts"].values()
    assert artifact["type"] == "whl"
    assert (BUNDLE / artifact["path"] / "pyproject.toml").resolve() == REPO / "pyproject.toml"


def test_one_task_per_stage_in_order_with_entry_points():
    _, resources = load()
    (path, job), = resources["jobs"].values()
    assert [p["name"] for p in job["parameters"]] == ["config", "run_id"]
    clusters = {c["job_cluster_key"]: c["new_cluster"] for c in job["job_clusters"]}
    for spec in clusters.values():
        assert {"spark_version", "node_type_id", "num_workers"} <= set(spec)
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    tasks = job["tasks"]
    assert [t["task_key"] for t in tasks] == list(STAGES)
    for prev, task in zip([None] + tasks[:-1], tasks):
        deps = [d["task_key"] for d in task.get("depends_on", [])]
        assert deps == ([prev["task_key"]] if prev else [])
        assert task["job_cluster_key"] in clusters
        wheel = task["python_wheel_task"]
        assert wheel["package_name"] == "tokenlake"
        target = scripts[wheel["entry_point"]]  # the entry point is declared in pyproject.toml
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func))
        params = " ".join(wheel["parameters"])
        assert "{{job.parameters.config}}" in params and "{{job.parameters.run_id}}" in params
        for lib in task["libraries"]:
            assert (path.parent / lib["whl"]).resolve().parent == REPO / "dist"


def test_no_literal_credentials_in_bundle():
    _, resources = load()
    (_, job), = resources["jobs"].values()
    for cluster in job["job_clusters"]:
        for key, value in cluster["new_cluster"].get("spark_env_vars", {}).items():
            if re.search(r"SECRET|ACCESS_KEY|PASSWORD|(^|_)(TOKEN|SAS|KEY)($|_)", key.upper()):
                assert value.startswith("{{secrets/"), key


def test_wheel_carries_the_entry_points_and_data(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--wheel-dir", str(tmp_path), str(REPO)],
                   check=True, capture_output=True)
    (whl,) = glob.glob(str(tmp_path / "tokenlake-*.whl"))
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        entry_points = z.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    _, resources = load()
    (_, job), = resources["jobs"].values()
    for task in job["tasks"]:
        assert f"{task['python_wheel_task']['entry_point']} = " in entry_points
    assert any(n.startswith("tokenlake/schemas/tables/") for n in names)
    assert any(n.startswith("tokenlake/demo/corpus/") for n in names)
