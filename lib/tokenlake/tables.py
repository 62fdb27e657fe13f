"""The lake's table layer: where each table lives, and reads and checked writes on any engine.

Delta by default, Parquet (``table_format: parquet``) where the engine has no Delta. Table
versions and history come from the ``deltalake`` package, never from engine-specific SQL.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import deltalake
import deltalake.schema
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from . import storage
from .schemas_registry import TableSpec, spec


class SchemaMismatchError(ValueError):
    """A DataFrame does not match the declared schema of the table it is written to."""


def check_schema(df: DataFrame, table: TableSpec) -> None:
    """Refuse a write whose columns or types differ from the declaration (names, types, order-free)."""
    actual = {f.name: f.dataType for f in df.schema.fields}
    declared = {f.name: f.dataType for f in table.spark_schema.fields}
    problems = []
    extra = [n for n in actual if n not in declared]
    missing = [n for n in declared if n not in actual]
    if extra:
        problems.append(f"unexpected columns {extra}")
    if missing:
        problems.append(f"missing columns {missing}")
    for name in declared:
        if name in actual and _normalize(actual[name]) != _normalize(declared[name]):
            problems.append(f"column {name!r} is {actual[name].simpleString()}, "
                            f"declared {declared[name].simpleString()}")
    if problems:
        raise SchemaMismatchError(f"refusing to write {table.name}: " + "; ".join(problems)
                                  + " (declared in schemas/tables/)")


def _normalize(dtype: Any) -> str:
    # Nullability of nested elements differs between engines and is checked by expectations.
    return dtype.simpleString()


@dataclass
class Lake:
    """Paths and checked I/O for every table under ``lake.root``."""

    spark: Any
    root: str
    table_format: str = "delta"
    storage_options: dict[str, str] | None = None

    def uri(self, name: str) -> str:
        return storage.join(self.root, *name.split("/"))

    # -- reads ---------------------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        if self.table_format == "delta":
            return deltalake.DeltaTable.is_deltatable(self.uri(name), self._delta_options())
        return bool(storage.list_dir(self.uri(name), self.storage_options))

    def read(self, name: str, version: int | None = None) -> DataFrame:
        table = spec(name)
        if not self.exists(name):
            return self.spark.createDataFrame([], table.spark_schema)
        reader = self.spark.read.format(self.table_format)
        if version is not None:
            if self.table_format != "delta":
                raise ValueError("time travel needs table_format: delta")
            reader = reader.option("versionAsOf", version)
        df = reader.load(self.uri(name))
        have = set(df.columns)
        # A table written before a nullable column was declared reads that column as null.
        return df.select(*[n if n in have else F.lit(None).cast(table.spark_schema[n].dataType).alias(n)
                           for n in table.names])

    def version(self, name: str) -> int | None:
        """Delta version of a table (None for Parquet tables or a table not written yet)."""
        if self.table_format != "delta" or not self.exists(name):
            return None
        return deltalake.DeltaTable(self.uri(name), storage_options=self._delta_options()).version()

    def history(self, name: str) -> list[dict[str, Any]]:
        if self.table_format != "delta" or not self.exists(name):
            return []
        return deltalake.DeltaTable(self.uri(name), storage_options=self._delta_options()).history()

    # -- writes --------------------------------------------------------------------------------
    def write(self, df: DataFrame, name: str, mode: str = "append", replace_stage: str | None = None) -> None:
        """Write after checking the declared schema.

        ``replace_stage``: replace only the rows of that stage (silver/rejected is shared by the
        quality and dedup stages), leaving the others.
        """
        table = spec(name)
        check_schema(df, table)
        df = df.select(*table.names)
        self._ensure(table)
        uri = self.uri(name)
        if replace_stage is not None:
            self._delete_stage(name, replace_stage)
            mode = "append"
        writer = df.write.format(self.table_format).mode(mode)
        if self.table_format == "parquet" and replace_stage is not None:
            # Parquet has no DELETE: each stage owns a Hive-style partition directory that it
            # overwrites; reading the table root brings `stage` back as a partition column.
            df.drop("stage").write.format("parquet").mode("overwrite").save(
                storage.join(uri, f"stage={replace_stage}"))
            return
        writer.save(uri)

    def _delete_stage(self, name: str, stage: str) -> None:
        if self.table_format == "delta":
            quoted = stage.replace("'", "''")
            self.spark.sql(f"DELETE FROM delta.`{self.uri(name)}` WHERE stage = '{quoted}'").collect()

    def _ensure(self, table: TableSpec) -> None:
        """Create an empty table with the declared schema, so reads work and types are fixed; add
        declared nullable columns an older table lacks (an append would otherwise drop them)."""
        if self.table_format != "delta":
            return
        if self.exists(table.name):
            self._add_missing_columns(table)
            return
        try:
            deltalake.write_deltalake(self.uri(table.name), table.arrow_schema.empty_table(),
                                      partition_by=list(table.partition_by) or None,
                                      storage_options=self._delta_options())
        except Exception:  # noqa: BLE001 - a concurrent creator won the race: fine if it exists now
            if not self.exists(table.name):
                raise

    def _add_missing_columns(self, table: TableSpec) -> None:
        dt = deltalake.DeltaTable(self.uri(table.name), storage_options=self._delta_options())
        have = {f.name for f in dt.schema().fields}
        missing = [f for f in table.arrow_schema if f.name not in have]
        if not missing:
            return
        required = [f.name for f in missing if not f.nullable]
        if required:
            raise SchemaMismatchError(f"{table.name} at {self.uri(table.name)} lacks non-nullable declared columns "
                                      f"{required}: rebuild the table (re-run its stage with --force)")
        dt.alter.add_columns([deltalake.schema.Field.from_arrow(f) for f in missing])

    def _delta_options(self) -> dict[str, str] | None:
        opts = dict(self.storage_options or {})
        if "endpoint_url" in opts:
            opts.setdefault("AWS_ENDPOINT_URL", opts.pop("endpoint_url"))
        if opts.get("AWS_ENDPOINT_URL", "").startswith("http://"):
            opts.setdefault("AWS_ALLOW_HTTP", "true")
        return opts or None

    # -- scratch -------------------------------------------------------------------------------
    def materialize(self, df: DataFrame, label: str) -> tuple[DataFrame, str]:
        """Write an intermediate result once and read it back (Sail's cache() is a no-op).

        Returns the re-read DataFrame and the scratch URI; drop it with ``drop_scratch``.
        """
        uri = storage.join(self.root, "_scratch", f"{label}-{uuid.uuid4().hex[:12]}")
        df.write.format("parquet").mode("overwrite").save(uri)
        return self.spark.read.format("parquet").load(uri), uri

    def drop_scratch(self, uri: str) -> None:
        storage.delete_dir(uri, self.storage_options)
