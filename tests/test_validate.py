"""Validation: GX suites on the engine's DataFrames, tokenlake checks, the report, and failures
that stop the pipeline (error) or are only reported (warning)."""
import json
import re
import pathlib
import subprocess
import sys

import great_expectations as gx
import pytest
from pyspark.sql import functions as F

from conftest import clean_env
from tokenlake.config import from_dict
from tokenlake.demo import CORPUS, demo_config
from tokenlake.pipeline import run_pipeline
from tokenlake.stages.validate import ValidationFailed
from tokenlake.tables import Lake
from tokenlake.validation.suites import load_suites, resolve

BIN = pathlib.Path(sys.executable).parent


def report_dir(cfg, outcome):
    return pathlib.Path(cfg.lake.root) / "reports" / outcome.run_id


def test_suites_are_well_formed(tmp_path):
    cfg = from_dict(demo_config(tmp_path))
    values = {**cfg.to_dict(), "runtime": {"tokenizer_sha256": "x"}}
    suites = load_suites()
    assert {s.table for s in suites} >= {"bronze/documents", "silver/documents", "silver/rejected", "gold/documents",
                                         "gold/tokens", None}
    for suite in suites:
        for e in suite.expectations:
            kwargs = resolve(e.kwargs, suite.table, values)
            if e.is_gx:
                cls = getattr(gx.expectations, "".join(p.capitalize() for p in e.name.split("_")))
                cls(**kwargs)  # GX validates the arguments
            assert e.severity in ("error", "warning")


def test_demo_run_writes_results_data_docs_and_report(demo_sail):
    cfg, outcome = demo_sail
    base = report_dir(cfg, outcome)
    validate = outcome.results[-1]
    assert validate.stage == "validate" and validate.n_in > 20 and validate.n_in == validate.n_kept + validate.n_rejected
    suites = {p.stem: json.loads(p.read_text()) for p in (base / "validation").glob("*.json")}
    assert set(suites) == {s.name for s in load_suites()}
    unique = [r for r in suites["gold_tokens"]["results"] if r["expectation"] == "expect_column_values_to_be_unique"]
    assert unique and unique[0]["success"] and unique[0]["severity"] == "error"
    assert (base / "data_docs" / "index.html").exists()
    assert list((base / "data_docs" / "validations").rglob("*.html"))
    page = (base / "index.html").read_text()
    for section in ("stages", "funnel", "languages", "lengths", "clusters", "sources", "shards", "versions", "checks",
                    "samples"):
        assert f"id='{section}'" in page
    assert "exact_duplicate" in page and "too_short" in page
    head = page.split("id='samples'")[0].replace("http://www.w3.org/2000/svg", "")
    assert "http://" not in head and "https://" not in head  # sample texts may quote URLs; nothing else does
    assert not re.search(r"(?:src|href)\s*=\s*['\"]?(?:https?:)?//", page) and "url(http" not in page


@pytest.fixture()
def small_lake(engine, tmp_path):
    """A small real corpus run end to end; 3 of its 40 documents carry invalid UTF-8 (a warning)."""
    lines = (CORPUS / "web" / "part-0.jsonl").read_bytes().splitlines()[:40]
    lines = [ln.replace(b'"text": "', b'"text": "\xff\xfe ', 1) if i % 13 == 0 else ln for i, ln in enumerate(lines)]
    src = tmp_path / "src"
    src.mkdir()
    (src / "docs.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    data = demo_config(tmp_path)
    data["sources"] = [{"name": "web", "uri": str(src), "format": "jsonl"}]
    data["tokenizer"]["vocab_size"] = 400
    cfg = from_dict(data)
    return cfg, run_pipeline(cfg, engine=engine, quiet=True)


def test_warning_is_reported_without_stopping(small_lake):
    cfg, outcome = small_lake
    validate = outcome.results[-1]
    assert validate.n_rejected >= 1  # the decode_errors expectation failed ...
    checks = json.loads((report_dir(cfg, outcome) / "summary.json").read_text())["checks"]
    failed = [c for c in checks if not c["success"]]
    assert failed and all(c["severity"] == "warning" for c in failed)  # ... as a warning only
    assert any(c["expectation"] == "expect_column_values_to_be_between" and c["kwargs"]["column"] == "decode_errors"
               for c in failed)


def test_error_stops_the_pipeline_with_a_summary(small_lake, engine):
    cfg, _ = small_lake
    lake = Lake(engine.spark, cfg.lake.root, "delta")
    lake.write(lake.read("gold/tokens").limit(1), "gold/tokens")  # a duplicated doc_id
    with pytest.raises(ValidationFailed) as err:
        run_pipeline(cfg, stages=["validate"], engine=engine, quiet=True)
    text = str(err.value)
    assert "ERROR   gold_tokens / expect_column_values_to_be_unique" in text
    assert "tokenlake_manifest_counts_match_tokens" in text
    assert "index.html" in text
    proc = subprocess.run([str(BIN / "tokenlake"), "validate", str(_config_file(cfg))], env=clean_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "expect_column_values_to_be_unique" in proc.stderr
    reports = sorted((pathlib.Path(cfg.lake.root) / "reports").iterdir())
    assert "FAILED" in (reports[-1] / "index.html").read_text()


def _config_file(cfg) -> pathlib.Path:
    import yaml

    path = pathlib.Path(cfg.lake.root).parent / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    return path


def test_language_share_bounds(small_lake, engine):
    cfg, _ = small_lake
    data = cfg.to_dict()
    data["validate"]["language_shares"] = {"xx": [0.5, 1.0]}
    with pytest.raises(ValidationFailed, match="tokenlake_language_shares"):
        run_pipeline(from_dict(data), stages=["validate"], engine=engine, quiet=True)


def test_lang_columns_are_validated(small_lake, engine):
    cfg, _ = small_lake
    gold = Lake(engine.spark, cfg.lake.root, "delta").read("gold/documents")
    langs = {r["lang"]: r["count"] for r in gold.groupBy("lang").count().collect()}
    top = max(langs, key=langs.get)
    share = langs[top] / sum(langs.values())
    data = cfg.to_dict()
    data["validate"]["language_shares"] = {top: [share - 0.01, share + 0.01]}
    run_pipeline(from_dict(data), stages=["validate"], engine=engine, quiet=True)  # real shares within bounds
    # silver/documents made with min_score 0, validated against a config that demands 0.999999
    data["quality"]["lid"] = {"min_score": 0.999999}
    with pytest.raises(ValidationFailed) as err:
        run_pipeline(from_dict(data), stages=["validate"], engine=engine, quiet=True)
    assert "silver_documents / expect_column_values_to_be_between" in str(err.value)
