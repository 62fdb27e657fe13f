"""Load expectation suites from YAML and resolve their placeholders."""
from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..schemas_registry import spec

SUITE_DIR = pathlib.Path(__file__).resolve().parents[1] / "schemas" / "expectations"
_REF = re.compile(r"^\$\{([a-z_][a-z0-9_.]*)\}$")
SEVERITIES = ("error", "warning")


@dataclass(frozen=True)
class Expectation:
    name: str
    kwargs: dict[str, Any]
    severity: str

    @property
    def is_gx(self) -> bool:
        return self.name.startswith("expect_")


@dataclass(frozen=True)
class Suite:
    name: str
    table: str | None
    expectations: tuple[Expectation, ...] = field(default_factory=tuple)


def load_suites(directory: pathlib.Path = SUITE_DIR) -> list[Suite]:
    suites = []
    for path in sorted(directory.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        exps = []
        for i, e in enumerate(raw["expectations"]):
            if e.get("severity") not in SEVERITIES:
                raise ValueError(f"{path}: expectation {i} ({e.get('expectation')}) needs severity error or warning")
            exps.append(Expectation(e["expectation"], dict(e.get("kwargs") or {}), e["severity"]))
        suites.append(Suite(raw["suite"], raw.get("table"), tuple(exps)))
    return suites


def _lookup(path: str, values: dict[str, Any]) -> Any:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"placeholder ${{{path}}} names nothing in the config or run facts")
        node = node[part]
    return node


def resolve(value: Any, table: str | None, values: dict[str, Any]) -> Any:
    """Replace ``$declared_columns`` and ``${a.b}`` references, recursively."""
    if value == "$declared_columns":
        return spec(table).names
    if isinstance(value, str):
        m = _REF.match(value)
        return _lookup(m.group(1), values) if m else value
    if isinstance(value, list):
        return [resolve(v, table, values) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, table, values) for k, v in value.items()}
    return value
