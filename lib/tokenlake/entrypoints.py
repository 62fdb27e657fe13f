"""Entry points for spark-submit (jobs/pipeline.py) and Databricks ``python_wheel_task``s.

Only argument parsing: ``tokenlake-ingest --config CONFIG --run-id ID`` runs one stage,
``tokenlake-pipeline --config CONFIG`` all of them. A Databricks job runs one task per stage with
the same ``--run-id``, so the validate task finds every stage's counts in ``_stage_runs``.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback

from .config import STAGES
from .secrets import install_log_redaction, redact, safe_rust_log


def _launched_by_cluster() -> bool:
    return "PYSPARK_GATEWAY_PORT" in os.environ or "DATABRICKS_RUNTIME_VERSION" in os.environ


def main(argv: list[str] | None = None, stage: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"tokenlake-{stage or 'pipeline'}",
                                     description=f"Run the tokenlake {stage or 'pipeline'} stage(s).")
    parser.add_argument("--config", required=True, help="pipeline YAML (local path or /dbfs/, /Volumes/ path)")
    if stage is None:
        parser.add_argument("--stage", action="append", choices=list(STAGES), help="stage to run (repeatable; default all)")
    parser.add_argument("--run-id", help="run id shared by the stages of one job run (default: a new one)")
    parser.add_argument("--engine", choices=["sail", "spark", "connect"],
                        help="default: spark under spark-submit or on Databricks, else the config's engine.kind")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--force", action="store_true", help="run even when inputs and config are unchanged")
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to wait for the lake lock")
    args = parser.parse_args(argv)

    os.environ["RUST_LOG"] = safe_rust_log(os.environ.get("RUST_LOG"))  # before deltalake/Sail load
    from .config import load_config
    from .pipeline import run_pipeline

    engine = args.engine or ("spark" if _launched_by_cluster() else None)
    overrides = args.overrides + ([f"engine.kind={engine}"] if engine else [])
    stages = [stage] if stage else args.stage
    install_log_redaction()
    try:
        run_pipeline(load_config(args.config, overrides), stages=stages, run_id=args.run_id, force=args.force,
                     wait_seconds=args.wait)
    except Exception:  # noqa: BLE001 - the job fails either way; its log must not carry credentials
        print(redact(traceback.format_exc()), file=sys.stderr)
        return 1
    return 0


def _stage_main(stage: str):
    def run() -> None:
        sys.exit(main(stage=stage))
    run.__name__ = stage
    return run


def pipeline() -> None:
    sys.exit(main())


ingest = _stage_main("ingest")
quality = _stage_main("quality")
dedup = _stage_main("dedup")
tokenizer = _stage_main("tokenizer")
tokenize = _stage_main("tokenize")
pack = _stage_main("pack")
validate = _stage_main("validate")
