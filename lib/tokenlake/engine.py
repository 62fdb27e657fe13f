"""Engine factory: one Spark Connect-compatible code path, three places to run it.

- ``sail``: a pysail Spark Connect server started in this process on 127.0.0.1 (local default).
- ``spark``: classic JVM Spark (``local[*]`` here, or whatever spark-submit/Databricks provides).
- ``connect``: any Spark Connect endpoint (a Spark Connect server, Databricks Connect, remote Sail).

Stage code only receives a ``SparkSession`` and must use the Connect-compatible API
(DataFrames, SQL, mapInArrow); it never touches RDDs or ``sparkContext``.
"""
from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from .config import PipelineConfig
from .secrets import redact

log = logging.getLogger(__name__)


class EngineError(RuntimeError):
    """The engine could not be started or lacks something the config needs (e.g. Delta)."""


DELTA_HINT = (
    "the JVM Spark engine has no Delta Lake data source on its classpath. Either add it: "
    "spark-submit --packages io.delta:delta-spark_4.2_2.13:4.4.1 "
    "--conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension "
    "--conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog "
    "(Databricks has it built in), or write plain Parquet tables with `table_format: parquet` "
    "(--set table_format=parquet)."
)


@dataclass
class Engine:
    kind: str
    spark: Any
    _stoppers: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        for stop in reversed(self._stoppers):
            try:
                stop()
            except Exception:  # noqa: BLE001 - shutting down; nothing useful to do with the error
                log.debug("engine stop step failed", exc_info=True)
        self._stoppers.clear()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _common_conf(cfg: PipelineConfig) -> dict[str, str]:
    conf = {
        # UTC everywhere: timestamps are then the same whatever the machine's zone (and Sail's
        # Delta writer rejects mixing "Etc/UTC" with "UTC").
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(cfg.engine.partitions),
    }
    conf.update(cfg.engine.conf)
    return conf


def _start_sail(cfg: PipelineConfig) -> Engine:
    from pysail.spark import SparkConnectServer
    from pyspark.sql import SparkSession

    server = SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    host, port = server.listening_address
    # create(), not getOrCreate(): a process may hold sessions to several servers (tests, notebooks).
    spark = SparkSession.builder.remote(f"sc://{host}:{port}").create()
    for key, value in _common_conf(cfg).items():
        spark.conf.set(key, value)
    # Sail runs our Python UDFs in this process: spread their work over processes (see offload.py).
    from .offload import enable_for_this_process

    enable_for_this_process(min(os.cpu_count() or 1, cfg.engine.partitions))
    return Engine("sail", spark, [server.stop, spark.stop])


def _launched_by_spark_submit() -> bool:
    return "PYSPARK_GATEWAY_PORT" in os.environ or "DATABRICKS_RUNTIME_VERSION" in os.environ


def _start_spark(cfg: PipelineConfig) -> Engine:
    from pyspark.sql import SparkSession

    # pyspark marks the whole process as Connect-only once any remote session was made (it sets
    # this variable, which child processes inherit); a classic session must not see it.
    os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
    builder = SparkSession.builder.appName("tokenlake")
    if not _launched_by_spark_submit():
        # Local JVM: Python workers must be this interpreter, which has tokenlake installed.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        builder = builder.master(cfg.engine.master).config("spark.ui.enabled", "false")
    for key, value in _common_conf(cfg).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    engine = Engine("spark", spark, [spark.stop])
    if cfg.table_format == "delta" and not has_delta(spark):
        engine.stop()
        raise EngineError(DELTA_HINT)
    return engine


def _start_connect(cfg: PipelineConfig) -> Engine:
    from pyspark.sql import SparkSession

    url = cfg.engine.url or os.environ.get("SPARK_REMOTE")
    if not url:
        raise EngineError("engine.kind=connect needs engine.url (sc://host:port) or the SPARK_REMOTE environment variable")
    spark = SparkSession.builder.remote(url).create()
    for key, value in _common_conf(cfg).items():
        spark.conf.set(key, value)
    return Engine("connect", spark, [spark.stop])


def has_delta(spark: Any) -> bool:
    """True when the session can read and write the delta format."""
    try:
        spark.read.format("delta").load("/nonexistent-tokenlake-probe").schema  # noqa: B018
    except Exception as exc:  # noqa: BLE001 - classify by message: both engines raise different classes
        text = str(exc)
        return "DATA_SOURCE_NOT_FOUND" not in text and "Failed to find the data source" not in text
    return True


_STARTERS = {"sail": _start_sail, "spark": _start_spark, "connect": _start_connect}


def start_engine(cfg: PipelineConfig) -> Engine:
    kind = cfg.engine.kind
    log.info("starting engine %s", kind)
    try:
        return _STARTERS[kind](cfg)
    except EngineError:
        raise
    except Exception as exc:
        raise EngineError(f"could not start the {kind} engine: {type(exc).__name__}: {redact(str(exc))}") from None
