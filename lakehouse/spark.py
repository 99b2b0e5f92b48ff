"""The one SparkSession builder every job and test uses: UTC, ANSI on, Delta Lake enabled.

Delta Lake's jars are resolved once per machine by Spark's own package resolver into a local
cache (`spark.jar_cache` in config.yaml), then every later session (and every spark-submit of
--submit mode) loads them from there with `spark.jars`: no resolution on every start, and on a
cluster `spark.jars` ships them to the executors.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from pyspark import SparkConf
from pyspark.sql import SparkSession

from lakehouse.config import SparkConfig

log = logging.getLogger(__name__)

# The repo's conf/ (quiet log4j2 settings), used unless the environment names its own.
LOCAL_CONF_DIR = Path(__file__).resolve().parent.parent / "conf"

# Delta Lake's Spark build must match the Spark it runs on: delta-spark 4.4.0 (pinned in
# requirements.txt) publishes a build for Spark 4.0 (`delta-spark_4.0_2.13`).
DELTA_VERSION = "4.4.0"
# Only delta-spark and delta-storage are needed for path-based tables; Delta's kernel and
# Unity Catalog client modules (and the Hadoop, Parquet and Jackson copies they bring) would
# put a second version of Spark's own libraries on the classpath.
DELTA_EXCLUDES = ("io.delta:delta-kernel-api", "io.delta:delta-kernel-defaults",
                  "io.delta:delta-kernel-unitycatalog", "io.unitycatalog:unitycatalog-client",
                  "io.unitycatalog:unitycatalog-hadoop")
DELTA_SESSION = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    # Delta rebuilds a table's state from its log with this many tasks (default 50): our
    # tables' logs are small, and 50 tiny tasks per read cost seconds on two cores.
    "spark.databricks.delta.snapshotPartitions": "2",
}


def delta_coordinates() -> str:
    import pyspark
    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_2.13:{DELTA_VERSION}"


def delta_jar_conf(jar_cache: str) -> dict[str, str]:
    """The settings that put Delta's jars on the classpath: the cached jars when they are there,
    else a resolution into the cache (the first run on a machine pays it once)."""
    cache = Path(os.path.expanduser(jar_cache))
    artifact = delta_coordinates().split(":")[1]
    jars = sorted((cache / "jars").glob("io.delta_*.jar"))
    if any(j.name == f"io.delta_{artifact}-{DELTA_VERSION}.jar" for j in jars):
        return {"spark.jars": ",".join(str(j) for j in jars if DELTA_VERSION in j.name)}
    log.info("resolving %s into %s (once per machine)", delta_coordinates(), cache)
    return {"spark.jars.packages": delta_coordinates(), "spark.jars.ivy": str(cache),
            "spark.jars.excludes": ",".join(DELTA_EXCLUDES)}


def spark_submit_args(cfg: SparkConfig) -> list[str]:
    """What `spark-submit` needs on its command line for Delta Lake: the jars must be on the
    driver's classpath before the JVM starts, which settings made from Python are too late for."""
    return [f"--conf={k}={v}" for k, v in delta_jar_conf(cfg.jar_cache).items()]


def session_settings(cfg: SparkConfig) -> dict[str, str]:
    """Every spark.* setting a session of this project gets (also passed to spark-submit)."""
    return {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "true",
        "spark.sql.shuffle.partitions": str(cfg.shuffle_partitions),
        "spark.sql.adaptive.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        "spark.scheduler.mode": "FAIR",   # steps run side by side share the cores fairly
        "spark.sql.sources.partitionColumnTypeInference.enabled": "true",
        **DELTA_SESSION,
        **delta_jar_conf(cfg.jar_cache),
        **cfg.conf,
    }


def get_spark(cfg: SparkConfig, app_name: str | None = None) -> SparkSession:
    """Return the active session or build one: UTC, ANSI on, Delta, settings from config.

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
    for key, value in session_settings(cfg).items():
        if not (key.startswith("spark.jars") and launched.contains("spark.jars")):
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def main(argv: list[str] | None = None) -> int:
    """`spark-submit $(python -m lakehouse.spark [--profile P]) spark_jobs/<job>.py ...`"""
    import argparse

    from lakehouse.config import load_config
    parser = argparse.ArgumentParser(description="Print the spark-submit arguments for Delta Lake.")
    parser.add_argument("--config", default=None)
    parser.add_argument("--profile", default="default")
    args = parser.parse_args(argv)
    print(" ".join(spark_submit_args(load_config(args.config, args.profile).spark)))
    return 0


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


if __name__ == "__main__":
    raise SystemExit(main())
