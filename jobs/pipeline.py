"""spark-submit / Databricks entry point: parse arguments, run stages through the library.

    spark-submit --master spark://HOST:7077 jobs/pipeline.py --config pipeline.yaml --stage ingest
    spark-submit jobs/pipeline.py --config pipeline.yaml            # every stage, in order

Under spark-submit the engine defaults to the JVM session spark-submit started (engine.kind=spark).
The tokenlake wheel must be installed on the driver and executors (pip, or --py-files).
"""
from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run tokenlake pipeline stages.")
    parser.add_argument("--config", required=True, help="pipeline YAML")
    parser.add_argument("--stage", action="append", help="stage to run (repeatable; default all)")
    parser.add_argument("--engine", choices=["sail", "spark", "connect"],
                        help="default: spark under spark-submit, else the config's engine.kind")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    from tokenlake.config import load_config
    from tokenlake.pipeline import run_pipeline

    engine = args.engine or ("spark" if "PYSPARK_GATEWAY_PORT" in os.environ else None)
    overrides = args.overrides + ([f"engine.kind={engine}"] if engine else [])
    run_pipeline(load_config(args.config, overrides), stages=args.stage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
