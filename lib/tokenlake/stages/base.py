"""What every stage gets (``StageContext``) and gives back (``StageResult``)."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

from ..config import PipelineConfig
from ..tables import Lake


@dataclass
class StageResult:
    stage: str
    n_in: int
    n_kept: int
    n_rejected: int
    seconds: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.n_in == self.n_kept + self.n_rejected


@dataclass
class StageContext:
    cfg: PipelineConfig
    lake: Lake
    run_id: str
    results: dict[str, StageResult] = field(default_factory=dict)
    quiet: bool = False
    _t0: float = field(default_factory=time.monotonic)

    @property
    def spark(self) -> Any:
        return self.lake.spark

    def progress(self, stage: str, message: str) -> None:
        """One line on stderr per step, so long stages show where they are."""
        if not self.quiet:
            print(f"[tokenlake {time.monotonic() - self._t0:7.1f}s] {stage}: {message}", file=sys.stderr, flush=True)
