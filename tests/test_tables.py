"""The table layer refuses writes that differ from the declared schema, on a real Delta table."""
import deltalake
import pytest
from pyspark.sql import functions as F

from tokenlake.schemas_registry import all_specs, spec
from tokenlake.tables import SchemaMismatchError

VALUES = {"doc_id": "d1", "source": "web", "url": "u", "text": "some text", "file_uri": "f", "record_offset": 0,
          "decode_errors": 0, "ingest_run": "r1"}


def bronze_row(**changes):
    """A bronze row with every declared column (None where the test does not care)."""
    values = dict(VALUES, **changes)
    return tuple(values.get(name) for name in spec("bronze/documents").names)


ROW = bronze_row()


def bronze_df(spark, rows=(ROW,)):
    return spark.createDataFrame(list(rows), spec("bronze/documents").spark_schema)


def test_every_declared_schema_parses():
    names = set(all_specs())
    assert {"bronze/documents", "silver/documents", "silver/rejected", "gold/documents", "gold/tokens",
            "_ingest_log", "bronze/quarantine"} <= names


def test_write_read_and_history(lake, spark):
    lake.write(bronze_df(spark), "bronze/documents")
    lake.write(bronze_df(spark, [bronze_row(doc_id="d2")]), "bronze/documents")
    assert sorted(r.doc_id for r in lake.read("bronze/documents").collect()) == ["d1", "d2"]
    table = deltalake.DeltaTable(lake.uri("bronze/documents"))
    assert table.version() == lake.version("bronze/documents") >= 2
    assert len(lake.history("bronze/documents")) == table.version() + 1
    assert lake.read("bronze/documents", version=1).count() == 1  # time travel


def test_extra_column_refused(lake, spark):
    with pytest.raises(SchemaMismatchError, match=r"unexpected columns \['extra'\]"):
        lake.write(bronze_df(spark).withColumn("extra", F.lit(1)), "bronze/documents")
    assert not lake.exists("bronze/documents") or lake.read("bronze/documents").count() == 0


def test_missing_and_mistyped_columns_refused(lake, spark):
    with pytest.raises(SchemaMismatchError, match=r"missing columns \['ingest_run'\]"):
        lake.write(bronze_df(spark).drop("ingest_run"), "bronze/documents")
    with pytest.raises(SchemaMismatchError, match="column 'record_offset' is string, declared bigint"):
        lake.write(bronze_df(spark).withColumn("record_offset", F.lit("0")), "bronze/documents")


def test_replace_stage_keeps_other_stages(lake, spark):
    schema = spec("silver/rejected").spark_schema

    def rows(stage, ids):
        return spark.createDataFrame([(i, "web", stage, "r", ["r"], {"x": 1.0}, None, "t") for i in ids], schema)

    lake.write(rows("quality", ["a", "b"]), "silver/rejected", replace_stage="quality")
    lake.write(rows("dedup", ["c"]), "silver/rejected", replace_stage="dedup")
    lake.write(rows("quality", ["z"]), "silver/rejected", replace_stage="quality")
    got = sorted((r.stage, r.doc_id) for r in lake.read("silver/rejected").collect())
    assert got == [("dedup", "c"), ("quality", "z")]


def test_table_from_an_older_schema_gains_new_nullable_columns(lake, spark):
    """A lake written before a nullable column was declared: reads give null, the next append adds it."""
    import pyarrow as pa

    table = spec("_ingest_log")
    old = pa.schema([f for f in table.arrow_schema if f.name != "etag"])
    deltalake.write_deltalake(lake.uri("_ingest_log"), pa.table(
        {"source": ["web"], "file_uri": ["f1"], "size": [1], "mtime_ns": [2], "n_records": [3], "n_docs": [3],
         "n_quarantined": [0], "ingest_run": ["r0"]}, schema=old))
    assert [(r.file_uri, r.etag) for r in lake.read("_ingest_log").collect()] == [("f1", None)]
    new = spark.createDataFrame([("web", "f2", 5, 6, "abc", 1, 1, 0, "r1")], table.spark_schema)
    lake.write(new, "_ingest_log")
    assert "etag" in {f.name for f in deltalake.DeltaTable(lake.uri("_ingest_log")).schema().fields}
    assert sorted((r.file_uri, r.etag) for r in lake.read("_ingest_log").collect()) == [("f1", None), ("f2", "abc")]
