"""The ``tokenlake`` command: run a pipeline from a config, or the bundled demo."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import traceback

from .config import STAGES, ConfigError, load_config
from .engine import EngineError
from .lock import LakeLocked
from .manifest import complete_versions
from .secrets import install_log_redaction, redact, safe_rust_log


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=["sail", "spark", "connect"], help="override engine.kind")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set quality.min_chars=200 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--force", action="store_true", help="run stages even when inputs and config are unchanged")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for another run on the same lake to finish (default: fail at once)")
    p.add_argument("--debug", action="store_true", help="full tracebacks and debug logging")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tokenlake", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run pipeline stages from a YAML config")
    run.add_argument("config")
    run.add_argument("--stage", action="append", choices=list(STAGES), help="stage to run (repeatable; default all)")
    run.add_argument("--run-id", help="run id (default: a new one); stages run separately with one id share a report")
    _common(run)
    val = sub.add_parser("validate", help="run the expectation suites and write the report (reports/<run_id>/)")
    val.add_argument("config")
    val.add_argument("--run-id", help="validate the stages of this run (default: each stage's latest run)")
    _common(val)
    demo = sub.add_parser("demo", help="run the whole pipeline on the bundled sample corpus")
    demo.add_argument("directory", nargs="?", default="./tokenlake-demo")
    _common(demo)
    from .shards import add_parser as add_shards_parser

    add_shards_parser(sub)
    return parser


def _overrides(args: argparse.Namespace) -> list[str]:
    return list(args.overrides) + ([f"engine.kind={args.engine}"] if args.engine else [])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "shards":
        from .shards import run as run_shards

        try:
            return run_shards(args)
        except Exception as exc:  # noqa: BLE001 - one clear line
            print(f"tokenlake: {type(exc).__name__}: {redact(str(exc))}", file=sys.stderr)
            return 1
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    # Sail's and deltalake's own log lines, minus the crates that print credential ids.
    os.environ["RUST_LOG"] = safe_rust_log(os.environ.get("RUST_LOG"), "debug" if args.debug else "error")
    from .pipeline import run_pipeline

    t0 = time.monotonic()
    try:
        if args.command == "demo":
            from .demo import write_demo_config

            config_path = write_demo_config(args.directory)
            cfg = load_config(config_path, _overrides(args))
            outcome = run_pipeline(cfg, quiet=args.quiet, force=args.force, wait_seconds=args.wait)
            root = cfg.lake.root
            print(f"\ndemo finished in {time.monotonic() - t0:.1f}s")
            print(f"  config : {config_path}")
            print(f"  tables : {root}/bronze, {root}/silver, {root}/gold ({cfg.table_format})")
            versions = complete_versions(root, cfg.pack.dataset, cfg.lake.storage_options)
            if versions:
                print(f"  shards : {root}/shards/{cfg.pack.dataset}/v{versions[-1]} (manifest.json)")
            validate = next((r for r in outcome.results if r.stage == "validate"), None)
            report_run = validate.detail.get("unchanged_since", outcome.run_id) if validate else outcome.run_id
            print(f"  report : {root}/reports/{report_run}/index.html")
            return 0
        cfg = load_config(args.config, _overrides(args))
        stages = ["validate"] if args.command == "validate" else args.stage
        run_pipeline(cfg, stages=stages, quiet=args.quiet, run_id=args.run_id, force=args.force,
                     wait_seconds=args.wait)
        print(f"done in {time.monotonic() - t0:.1f}s")
        return 0
    except ConfigError as exc:
        print(f"tokenlake: {redact(str(exc))}", file=sys.stderr)
        return 2
    except EngineError as exc:
        print(f"tokenlake: {redact(str(exc))}", file=sys.stderr)
        return 3
    except LakeLocked as exc:
        print(f"tokenlake: {redact(str(exc))}", file=sys.stderr)
        return 4
    except Exception as exc:  # noqa: BLE001 - one clear line unless --debug
        if args.debug:
            print(redact(traceback.format_exc()), file=sys.stderr)
            return 1
        print(f"tokenlake: {type(exc).__name__}: {redact(str(exc))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
