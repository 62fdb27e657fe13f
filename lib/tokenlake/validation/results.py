"""One result shape for GX expectations and tokenlake checks alike."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class CheckResult:
    suite: str
    table: str | None
    expectation: str
    kwargs: dict[str, Any]
    severity: str
    success: bool
    observed: str = ""
    samples: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def blocking(self) -> bool:
        return not self.success and self.severity == "error"


def summary_lines(results: list[CheckResult], limit: int = 20) -> list[str]:
    """A one-screen summary of what failed and where, errors first."""
    failed = sorted((r for r in results if not r.success), key=lambda r: (r.severity != "error", r.suite))
    lines = [f"  {r.severity.upper():7} {r.suite} / {r.expectation} {_short(r.kwargs)}: {r.observed}"
             + (f" e.g. {r.samples[:3]}" if r.samples else "") for r in failed[:limit]]
    if len(failed) > limit:
        lines.append(f"  ... and {len(failed) - limit} more (see the report)")
    return lines


def _short(kwargs: dict[str, Any]) -> str:
    keep = {k: v for k, v in kwargs.items() if k in ("column", "column_list", "stage", "table", "min_value", "max_value")}
    return str(keep) if keep else ""
