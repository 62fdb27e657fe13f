import pytest

from tokenlake.config import ConfigError, load_config

GOOD = """
lake: {root: /tmp/lake}
sources:
  - {name: web, uri: /data/web, format: jsonl}
quality: {min_chars: 100}
"""


def write(tmp_path, text):
    p = tmp_path / "pipeline.yaml"
    p.write_text(text)
    return p


def test_defaults_and_values(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.engine.kind == "sail"
    assert cfg.table_format == "delta"
    assert cfg.quality.min_chars == 100
    assert cfg.sources[0].format == "jsonl"


def test_unknown_key_names_key_and_file(tmp_path):
    p = write(tmp_path, GOOD.replace("min_chars", "min_charz"))
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert str(p) in str(err.value)
    assert "quality.min_charz" in str(err.value)
    assert "unknown key" in str(err.value)


def test_bad_type_names_key(tmp_path):
    with pytest.raises(ConfigError, match=r"quality\.min_chars"):
        load_config(write(tmp_path, GOOD.replace("100", "lots")))


def test_bad_enum_in_list(tmp_path):
    with pytest.raises(ConfigError, match=r"sources\.0\.format"):
        load_config(write(tmp_path, GOOD.replace("format: jsonl", "format: pdf")))


def test_missing_required(tmp_path):
    with pytest.raises(ConfigError, match=r"sources"):
        load_config(write(tmp_path, "lake: {root: /x}\n"))


def test_overrides_are_typed_and_reach_lists(tmp_path):
    cfg = load_config(write(tmp_path, GOOD), ["quality.min_chars=7", "sources.0.uri=s3://b/p", "engine.kind=spark",
                                              "lake.root=abfss://c@a.dfs.core.windows.net/lake"])
    assert cfg.quality.min_chars == 7
    assert cfg.sources[0].uri == "s3://b/p"
    assert cfg.engine.kind == "spark"
    assert cfg.lake.root.startswith("abfss://")


def test_bad_override_is_reported_with_origin(tmp_path):
    with pytest.raises(ConfigError, match=r"--set engine.kind=gpu"):
        load_config(write(tmp_path, GOOD), ["engine.kind=gpu"])
    with pytest.raises(ConfigError, match="not an index"):
        load_config(write(tmp_path, GOOD), ["sources.3.uri=x"])


def test_bad_scheme(tmp_path):
    with pytest.raises(ConfigError, match="unsupported scheme"):
        load_config(write(tmp_path, GOOD.replace("/tmp/lake", "ftp://host/lake")))


def test_output_hash_ignores_engine_and_location(tmp_path):
    a = load_config(write(tmp_path, GOOD))
    b = load_config(write(tmp_path, GOOD), ["engine.kind=spark", "lake.root=/elsewhere"])
    c = load_config(write(tmp_path, GOOD), ["quality.min_chars=5"])
    assert a.output_sha256() == b.output_sha256() != c.output_sha256()


def test_override_of_dotted_spark_conf_keys(tmp_path):
    cfg = load_config(write(tmp_path, GOOD), ["engine.conf.spark.executor.memory=8g",
                                              "lake.storage_options.endpoint_url=http://127.0.0.1:9000"])
    assert cfg.engine.conf == {"spark.executor.memory": "8g"}
    assert cfg.lake.storage_options == {"endpoint_url": "http://127.0.0.1:9000"}
