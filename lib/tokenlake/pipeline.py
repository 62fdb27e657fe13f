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

from pyspark.sql import functions as F

from . import storage
from .config import STAGES, PipelineConfig
from .engine import Engine, start_engine
from .fingerprints import output_fingerprint, stage_fingerprint
from .lock import lake_lock
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


def _record(lake: Lake, run_id: str, res: StageResult, fingerprint: str | None, output_fp: str | None) -> None:
    finished = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
    df = lake.spark.createDataFrame(
        [(run_id, res.stage, res.n_in, res.n_kept, res.n_rejected, float(res.seconds),
          json.dumps(res.detail, default=str), finished, fingerprint, output_fp)],
        "run_id string, stage string, n_in bigint, n_kept bigint, n_rejected bigint, seconds double, detail string, "
        "finished_at string, fingerprint string, output_fingerprint string")
    lake.write(df, "_stage_runs")


def _last_run(lake: Lake, stage: str):
    rows = (lake.read("_stage_runs").filter(F.col("stage") == stage).orderBy(F.desc("finished_at"))
            .select("run_id", "fingerprint", "output_fingerprint", "detail").limit(1).collect())
    return rows[0] if rows else None


def _unchanged_since(lake: Lake, cfg: PipelineConfig, stage: str, fingerprint: str | None) -> str | None:
    """The run id whose result still stands for this stage, or None when the stage must run."""
    if fingerprint is None:
        return None
    last = _last_run(lake, stage)
    if last is None or last.fingerprint != fingerprint:
        return None
    if last.output_fingerprint != output_fingerprint(lake, cfg, stage):
        return None
    return json.loads(last.detail or "{}").get("unchanged_since") or last.run_id  # the run that did the work


def print_result(res: StageResult, out=sys.stdout) -> None:
    if res.stage == "ingest" and res.n_in == 0 and not res.detail.get("files"):
        print(f"{res.stage:<10} nothing to do: no new files", file=out, flush=True)
        return
    if res.detail.get("skipped"):
        print(f"{res.stage:<10} nothing to do: inputs and config unchanged since run {res.detail['unchanged_since']}",
              file=out, flush=True)
        return
    print(f"{res.stage:<10} in={res.n_in:<9} kept={res.n_kept:<9} rejected={res.n_rejected:<9} "
          f"{res.seconds:7.1f}s", file=out, flush=True)


def run_pipeline(cfg: PipelineConfig, stages: list[str] | None = None, engine: Engine | None = None,
                 quiet: bool = False, run_id: str | None = None, force: bool = False,
                 wait_seconds: float = 0.0) -> RunOutcome:
    """Run stages in order under the lake lock. A stage whose inputs, config and outputs are
    unchanged since its last run is skipped ("nothing to do") unless ``force``."""
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
        with lake_lock(lake.root, ctx.run_id, cfg.lake.storage_options, wait_seconds,
                       progress=lambda msg: ctx.progress("lock", msg)):
            storage.delete_dir(storage.join(lake.root, "_scratch"), cfg.lake.storage_options)  # left by a killed run
            for name in names:
                outcome.results.append(_run_stage(ctx, name, force))
        return outcome
    finally:
        if own_engine:
            engine.stop()


def _run_stage(ctx: StageContext, name: str, force: bool) -> StageResult:
    lake, cfg = ctx.lake, ctx.cfg
    fingerprint = stage_fingerprint(lake, cfg, name)
    since = None if force else _unchanged_since(lake, cfg, name, fingerprint)
    t0 = time.monotonic()
    if since is not None:
        res = StageResult(name, 0, 0, 0, detail={"skipped": True, "unchanged_since": since})
    else:
        ctx.progress(name, "start")
        res = importlib.import_module(f"tokenlake.stages.{name}").run(ctx)
    res.seconds = time.monotonic() - t0
    ctx.results[name] = res
    _record(lake, ctx.run_id, res, fingerprint, output_fingerprint(lake, cfg, name))
    if not ctx.quiet:
        print_result(res)
    return res
