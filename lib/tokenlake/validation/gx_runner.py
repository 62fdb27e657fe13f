"""Run GX 1.x expectation suites on the engine's DataFrames and build GX Data Docs.

GX validates Spark DataFrames (Sail's and JVM Spark's alike) through its Spark data source, so the
metrics are computed by the engine, not in pandas. Data Docs are built in a temporary file
context and returned as a directory to copy next to the report.
"""
from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

from .results import CheckResult

log = logging.getLogger(__name__)


def _expectation_class(name: str):
    import great_expectations as gx

    cls_name = "".join(part.capitalize() for part in name.split("_"))
    try:
        return getattr(gx.expectations, cls_name)
    except AttributeError:
        raise ValueError(f"unknown GX expectation {name!r} (no gx.expectations.{cls_name})") from None


def _observed(result: dict[str, Any]) -> tuple[str, list[Any]]:
    if "observed_value" in result:
        return f"observed {result['observed_value']!r}"[:500], []
    if "unexpected_count" in result:
        samples = [str(v)[:200] for v in (result.get("partial_unexpected_list") or [])[:5]]
        return (f"{result['unexpected_count']} unexpected of {result.get('element_count')} "
                f"({(result.get('unexpected_percent') or 0):.2f}%)"), samples
    return "", []


def run_gx(runs: list[tuple[str, str, Any, list[tuple[str, dict, str]]]], run_name: str) -> tuple[list[CheckResult], str]:
    """``runs``: (suite name, table, DataFrame, [(expectation, kwargs, severity)]).

    Returns the results and a local directory holding the built Data Docs site.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    project = tempfile.mkdtemp(prefix="tokenlake-gx-")
    context = gx.get_context(mode="file", project_root_dir=project)
    try:  # no progress bars in pipeline logs
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    except Exception:  # noqa: BLE001 - cosmetic only
        log.debug("could not turn off GX progress bars", exc_info=True)
    source = context.data_sources.add_spark(name="lake")
    results: list[CheckResult] = []
    for suite_name, table, df, expectations in runs:
        asset = source.add_dataframe_asset(name=suite_name)
        batch_def = asset.add_batch_definition_whole_dataframe("whole")
        suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
        for name, kwargs, severity in expectations:
            suite.add_expectation(_expectation_class(name)(**kwargs, meta={"severity": severity}))
        definition = context.validation_definitions.add(gx.ValidationDefinition(name=suite_name, data=batch_def, suite=suite))
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name=suite_name, validation_definitions=[definition], result_format="SUMMARY",
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")]))
        outcome = checkpoint.run(batch_parameters={"dataframe": df}, run_id=RunIdentifier(run_name=run_name))
        for validation in outcome.run_results.values():
            for r in validation.results:
                cfg = r.expectation_config
                observed, samples = _observed(r.result or {})
                if r.exception_info and r.exception_info.get("raised_exception"):
                    observed = "GX raised: " + str(r.exception_info.get("exception_message"))[:300]
                kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id",)}
                results.append(CheckResult(suite_name, table, cfg.type, kwargs, (cfg.meta or {}).get("severity", "error"),
                                           bool(r.success), observed, samples))
    docs = os.path.join(project, "gx", "uncommitted", "data_docs", "local_site")
    return results, docs
