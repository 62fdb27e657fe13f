"""Declared table schemas, loaded from the YAML files in ``schemas/tables/``.

Why declared as data: Sail silently coerces or drops columns on append, and a typo'd column in a
transform should fail at the write, not show up weeks later as a missing signal. Every write is
checked against these declarations first.
"""
from __future__ import annotations

import functools
import pathlib
import re
from dataclasses import dataclass, field

import pyarrow as pa
import yaml
from pyspark.sql import types as T

SCHEMA_DIR = pathlib.Path(__file__).resolve().parent / "schemas" / "tables"

_PRIMITIVES: dict[str, tuple[T.DataType, pa.DataType]] = {
    "string": (T.StringType(), pa.string()),
    "int": (T.IntegerType(), pa.int32()),
    "bigint": (T.LongType(), pa.int64()),
    "double": (T.DoubleType(), pa.float64()),
    "boolean": (T.BooleanType(), pa.bool_()),
    "binary": (T.BinaryType(), pa.binary()),
}


def parse_type(text: str) -> tuple[T.DataType, pa.DataType]:
    """Parse the small DDL type grammar used in schemas/ into (Spark type, Arrow type)."""
    text = text.strip().lower().replace(" ", "")
    if text in _PRIMITIVES:
        return _PRIMITIVES[text]
    m = re.fullmatch(r"array<(.+)>", text)
    if m:
        s, a = parse_type(m.group(1))
        return T.ArrayType(s, True), pa.list_(a)
    m = re.fullmatch(r"map<([a-z]+),(.+)>", text)
    if m:
        ks, ka = parse_type(m.group(1))
        vs, va = parse_type(m.group(2))
        return T.MapType(ks, vs, True), pa.map_(ka, va)
    raise ValueError(f"unsupported column type {text!r} (known: {sorted(_PRIMITIVES)}, array<..>, map<..,..>)")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    description: str = ""


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    description: str = ""
    partition_by: tuple[str, ...] = field(default_factory=tuple)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def spark_schema(self) -> T.StructType:
        return T.StructType([T.StructField(c.name, parse_type(c.type)[0], True) for c in self.columns])

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, parse_type(c.type)[1], True) for c in self.columns])

    @property
    def ddl(self) -> str:
        """Schema string accepted by mapInArrow / createDataFrame."""
        return ", ".join(f"{c.name} {c.type}" for c in self.columns)


@functools.cache
def all_specs() -> dict[str, TableSpec]:
    specs = {}
    for path in sorted(SCHEMA_DIR.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        cols = tuple(Column(**c) for c in raw["columns"])
        for c in cols:
            parse_type(c.type)  # fail at load on a bad declaration
        spec = TableSpec(raw["name"], cols, raw.get("description", ""), tuple(raw.get("partition_by", [])))
        specs[spec.name] = spec
    return specs


def spec(name: str) -> TableSpec:
    try:
        return all_specs()[name]
    except KeyError:
        raise KeyError(f"no declared schema for table {name!r}; known: {sorted(all_specs())}") from None
