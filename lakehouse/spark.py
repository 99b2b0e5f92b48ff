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
from lakehouse.paths import is_local, local_path

log = logging.getLogger(__name__)

# The repo's conf/ (quiet log4j2 settings), used unless the environment names its own.
LOCAL_CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def spark_home() -> Path:
    """The installed pyspark package: its bin/ (spark-submit, spark-class) and its jars (which
    hold the standalone Master, Worker and History Server)."""
    import pyspark
    return Path(pyspark.__file__).resolve().parent


# Delta Lake's Spark build must match the Spark it runs on: Delta 4.4.0 publishes builds for
# Spark 4.0 and 4.2 (`delta-spark_4.2_2.13`, for pyspark 4.2.0 in requirements.txt).
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
    # Delta rebuilds a table's state from its log with this many tasks (default 50): the publish
    # does it for every table it replaces or partly replaces (to list the files it removes), and
    # readers for every table they open. Our tables' logs are small: rebuilding a 60-file table's
    # state took 9.9-12.2 s of a Delta overwrite with 50 tasks, 1.9-2.5 s with 2, 2.1-2.5 s with 1
    # (docs/benchmarks.md).
    "spark.databricks.delta.snapshotPartitions": "2",
    # Every commit's checksum file holds the table's whole file list while it has fewer files
    # than this (Delta's default: 50, about seven weeks of a daily-partitioned table), and a
    # version is then listed from it without a Spark job (lakehouse/delta.py). 10,000 AddFiles
    # make a checksum of about 2.5 MB.
    "spark.databricks.delta.allFilesInCrc.thresholdNumFiles": "10000",
}


def delta_coordinates() -> str:
    import pyspark
    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_2.13:{DELTA_VERSION}"


def delta_jar_conf(jar_cache: str) -> dict[str, str]:
    """The settings that put Delta's jars on the classpath: the cached jars when they are there,
    else a resolution into the cache (the first run on a machine pays it once)."""
    cache = Path(os.path.expanduser(jar_cache)) / "jars"
    artifact = delta_coordinates().split(":")[1]
    # exactly this Spark's build and delta-storage: a cache that also holds another Spark's
    # build (after an upgrade) must not put both on the classpath
    jars = [cache / f"io.delta_{name}-{DELTA_VERSION}.jar" for name in (artifact, "delta-storage")]
    if all(j.is_file() for j in jars):
        return {"spark.jars": ",".join(str(j) for j in jars)}
    log.info("resolving %s into %s (once per machine)", delta_coordinates(), cache)
    # Ivy puts the resolved jars into <spark.jars.ivy>/jars: where they are looked for above
    return {"spark.jars.packages": delta_coordinates(), "spark.jars.ivy": str(cache.parent),
            "spark.jars.excludes": ",".join(DELTA_EXCLUDES)}


def spark_submit_args(cfg: SparkConfig) -> list[str]:
    """What `spark-submit` needs on its command line: Delta Lake's jars and the config's
    `spark.conf` (the jars and the driver's JVM options must be set before the driver's JVM
    starts, which settings made from Python are too late for), and the event log directory,
    resolved where the command is built."""
    settings = {**delta_jar_conf(cfg.jar_cache), **event_log_settings(cfg), **cfg.conf}
    return [f"--conf={k}={v}" for k, v in settings.items()]


def event_log_settings(cfg: SparkConfig) -> dict[str, str]:
    """Spark's event log into `spark.event_log_dir` (a relative path: from the working directory,
    made absolute so every process of a run writes to the same place); nothing when it is ""."""
    if not cfg.event_log_dir:
        return {}
    target = cfg.event_log_dir
    if is_local(target):
        local = Path(os.path.expanduser(local_path(target))).resolve()
        local.mkdir(parents=True, exist_ok=True)      # Spark refuses a missing directory
        target = local.as_uri()
    return {"spark.eventLog.enabled": "true", "spark.eventLog.dir": target,
            "spark.eventLog.compress": "true"}


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
        **event_log_settings(cfg),
        **cfg.conf,
    }


def launched_conf() -> SparkConf:
    """The spark.* properties spark-submit passed to this driver (none outside spark-submit).
    Under spark-submit the JVM is already up (PYSPARK_GATEWAY_PORT); a SparkConf only sees its
    properties once Python is connected to it, so connect first."""
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        from pyspark import SparkContext
        SparkContext._ensure_initialized()
        return SparkConf()
    return SparkConf(loadDefaults=False)


def get_spark(cfg: SparkConfig, app_name: str | None = None) -> SparkSession:
    """Return the active session or build one: UTC, ANSI on, Delta, settings from config.

    Under spark-submit its command line wins (the master, the driver memory, the jars, the event
    log directory): a setting is only taken from config when the command line did not set it.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if LOCAL_CONF_DIR.is_dir():
        os.environ.setdefault("SPARK_CONF_DIR", str(LOCAL_CONF_DIR))
    launched = launched_conf()
    builder = SparkSession.builder.appName(app_name or cfg.app_name)
    if not launched.contains("spark.master"):
        builder = builder.master(cfg.master)
    if not launched.contains("spark.driver.memory"):
        builder = builder.config("spark.driver.memory", cfg.driver_memory)
    for key, value in session_settings(cfg).items():
        if launched.contains(key) or (key.startswith("spark.jars") and launched.contains("spark.jars")):
            continue
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
    spark = load_config(args.config, args.profile).spark
    # what a shell's unquoted $(...) can pass on: the values without spaces
    print(" ".join(arg for arg in spark_submit_args(spark) if " " not in arg))
    return 0


def stop_jvm(timeout_s: float = 60.0) -> None:
    """End the JVM pyspark launched for this process and wait for it, instead of leaving it to
    notice on its own that Python has gone (a later session starts a new one)."""
    from pyspark import SparkContext
    gateway = SparkContext._gateway
    proc = getattr(gateway, "proc", None)
    if gateway is None or proc is None:         # not launched by this process (spark-submit)
        return
    gateway.shutdown()
    SparkContext._gateway = SparkContext._jvm = None
    if proc.stdin is not None:
        proc.stdin.close()                      # the JVM exits when its stdin closes
    try:
        proc.wait(timeout=timeout_s)
    except Exception:                           # noqa: BLE001 - never fail a finished run here
        proc.kill()


class SessionStarter:
    """Starts the shared SparkSession in a background thread, so the JVM boots while the
    (pure Python) generator runs (`background`; otherwise on the first `get()`); `get()` waits
    for it."""

    def __init__(self, cfg: SparkConfig, app_name: str | None = None, py_files: list[Path] = (),
                 background: bool = True):
        self._cfg, self._app_name, self._py_files = cfg, app_name, list(py_files)
        self._result: list = []
        self._created = False       # whether this starter made the session (not an existing one)
        self._thread = threading.Thread(target=self._start, name="spark-session-starter", daemon=True)
        self._lock = threading.Lock()
        if background:
            self._begin()

    def _begin(self) -> None:
        with self._lock:
            if self._thread.ident is None:
                self._thread.start()

    def _start(self) -> None:
        try:
            from pyspark import SparkContext
            self._created = SparkContext._active_spark_context is None
            spark = get_spark(self._cfg, self._app_name)
            for py_file in self._py_files:     # what executors on a cluster import
                spark.sparkContext.addPyFile(str(py_file))
            self._result.append(spark)
        except BaseException as exc:  # re-raised in the step that needs the session
            self._result.append(exc)

    def stop(self) -> None:
        """Stop the session and its JVM if this starter made them (an existing session, such
        as a test suite's, is left alone), also one no step asked for: its JVM's work is
        finished, and the JVM gone, before the process exits."""
        if self._thread.ident is None:           # never started
            return
        self._thread.join()
        if self._created and self._result and not isinstance(self._result[0], BaseException):
            self._result[0].stop()
            stop_jvm()

    def get(self):
        self._begin()
        self._thread.join()
        if isinstance(self._result[0], BaseException):
            raise self._result[0]
        return self._result[0]


if __name__ == "__main__":
    raise SystemExit(main())
