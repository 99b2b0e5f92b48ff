"""The one SparkSession builder every job and test uses."""
from __future__ import annotations

import os
import threading
from pathlib import Path

from pyspark import SparkConf
from pyspark.sql import SparkSession

from lakehouse.config import SparkConfig

# The repo's conf/ (quiet log4j2 settings), used unless the environment names its own.
LOCAL_CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def get_spark(cfg: SparkConfig, app_name: str | None = None) -> SparkSession:
    """Return the active session or build one: UTC, ANSI on, settings from config.

    Under spark-submit the master and driver memory come from the command line, so they are only
    set here when nothing set them already.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if LOCAL_CONF_DIR.is_dir():
        os.environ.setdefault("SPARK_CONF_DIR", str(LOCAL_CONF_DIR))
    launched = SparkConf()  # holds spark.* properties passed by spark-submit
    builder = SparkSession.builder.appName(app_name or cfg.app_name)
    if not launched.contains("spark.master"):
        builder = builder.master(cfg.master)
    if not launched.contains("spark.driver.memory"):
        builder = builder.config("spark.driver.memory", cfg.driver_memory)
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "true",
        "spark.sql.shuffle.partitions": str(cfg.shuffle_partitions),
        "spark.sql.adaptive.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        "spark.scheduler.mode": "FAIR",   # steps run side by side share the cores fairly
        "spark.sql.sources.partitionColumnTypeInference.enabled": "true",
        **cfg.conf,
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


class SessionStarter:
    """Starts the shared SparkSession in a background thread, so the JVM boots while the
    (pure Python) generator runs; `get()` waits for it."""

    def __init__(self, cfg: SparkConfig):
        self._cfg = cfg
        self._result: list = []
        self._thread = threading.Thread(target=self._start, name="spark-session-starter", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            self._result.append(get_spark(self._cfg))
        except BaseException as exc:  # re-raised in the step that needs the session
            self._result.append(exc)

    def get(self):
        self._thread.join()
        if isinstance(self._result[0], BaseException):
            raise self._result[0]
        return self._result[0]
