"""Run stages in order on one engine, with per-stage counts and wall time."""
from __future__ import annotations

import datetime as dt
import importlib
import json
import re
import sys
import time
import uuid
from dataclasses import dataclass, field

from .config import STAGES, PipelineConfig
from .engine import Engine, start_engine
from .stages.base import StageContext, StageResult
from .tables import Lake


def new_run_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


@dataclass
class RunOutcome:
    run_id: str
    results: list[StageResult] = field(default_factory=list)
    lake_root: str = ""


def check_run_id(run_id: str) -> str:
    """Run ids become directory names (reports/<run_id>/): letters, digits, '.', '_', '-' only."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", run_id):
        raise ValueError(f"run id {run_id!r} must be 1-128 letters, digits, '.', '_' or '-'")
    return run_id


def select_stages(names: list[str] | None, cfg: PipelineConfig) -> list[str]:
    if not names:
        return [s for s in STAGES if s != "validate" or cfg.validate_.enabled]
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; stages are {list(STAGES)}")
    return [s for s in STAGES if s in names]  # always in pipeline order


def _record(lake: Lake, run_id: str, res: StageResult) -> None:
    finished = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
    df = lake.spark.createDataFrame(
        [(run_id, res.stage, res.n_in, res.n_kept, res.n_rejected, float(res.seconds),
          json.dumps(res.detail, default=str), finished)],
        "run_id string, stage string, n_in bigint, n_kept bigint, n_rejected bigint, seconds double, detail string, "
        "finished_at string")
    lake.write(df, "_stage_runs")


def print_result(res: StageResult, out=sys.stdout) -> None:
    print(f"{res.stage:<10} in={res.n_in:<9} kept={res.n_kept:<9} rejected={res.n_rejected:<9} "
          f"{res.seconds:7.1f}s", file=out, flush=True)


def run_pipeline(cfg: PipelineConfig, stages: list[str] | None = None, engine: Engine | None = None,
                 quiet: bool = False, run_id: str | None = None) -> RunOutcome:
    names = select_stages(stages, cfg)
    own_engine = engine is None
    engine = engine or start_engine(cfg)
    try:
        lake = Lake(engine.spark, cfg.lake.root, cfg.table_format, cfg.lake.storage_options)
        ctx = StageContext(cfg, lake, check_run_id(run_id) if run_id else new_run_id(), quiet=quiet)
        outcome = RunOutcome(ctx.run_id, lake_root=cfg.lake.root)
        if not quiet:
            print(f"tokenlake run {ctx.run_id} on {engine.kind} ({cfg.table_format} tables) at {cfg.lake.root}",
                  flush=True)
        for name in names:
            module = importlib.import_module(f"tokenlake.stages.{name}")
            ctx.progress(name, "start")
            t0 = time.monotonic()
            res = module.run(ctx)
            res.seconds = time.monotonic() - t0
            ctx.results[name] = res
            outcome.results.append(res)
            _record(lake, ctx.run_id, res)
            if not quiet:
                print_result(res)
        return outcome
    finally:
        if own_engine:
            engine.stop()
