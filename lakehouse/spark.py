"""The one SparkSession builder every job and test uses: UTC, ANSI on, Delta Lake enabled.

Delta Lake's jars are resolved once per machine by Spark's own package resolver into a local
cache (`spark.jar_cache` in config.yaml), then every later session (and every spark-submit of
--submit mode) loads them from there with `spark.jars`: no resolution on every start, and on a
cluster `spark.jars` ships them to the executors.

The same cache holds an archive of the driver JVM's classes (Java's class data sharing, CDS),
written by the first pipeline run on a machine as its JVM exits; later JVMs map the classes
from it instead of loading and verifying them from the jars again. Local paths go through the
java.nio-based file system of lakehouse/jvm_fs.py, and the driver JVM starts on pyspark's jars
merged into one (lakehouse/classpath.py).
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import logging
import os
import sys
import threading
import warnings
from pathlib import Path

import psutil
from pyspark import SparkConf
from pyspark.sql import SparkSession

from lakehouse.classpath import launch_home
from lakehouse.config import SparkConfig
from lakehouse.jvm_fs import LOCAL_FS_KEYS, java_executable, local_fs_settings
from lakehouse.paths import is_local, local_path

log = logging.getLogger(__name__)

# PySpark warns on every run that it "does not yet fully support pandas >= 3.0.0" (pandas 3 is
# pinned for reading Gold without Spark, README). This project hands Spark no pandas data: the
# import comes from py4j's numpy converters, which check whether numpy is there.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                        category=FutureWarning)

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
    settings = {**delta_jar_conf(cfg.jar_cache), **event_log_settings(cfg), **cfg.conf,
                **local_fs_settings(cfg.jar_cache, cfg.master, cfg.conf)}
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


def session_settings(cfg: SparkConfig, master: str | None = None) -> dict[str, str]:
    """Every spark.* setting a session of this project gets on `master` (default: the config's)."""
    return {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "true",
        "spark.sql.shuffle.partitions": str(cfg.shuffle_partitions),
        "spark.sql.adaptive.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        "spark.scheduler.mode": "FAIR",   # steps run side by side share the cores fairly
        "spark.sql.sources.partitionColumnTypeInference.enabled": "true",
        # A Silver step caches its classified rows for the four reads that follow: building a
        # compressed cache (each column's compressibility measured row by row) took more CPU
        # than the reads save; uncompressed it is ~10% larger (docs/benchmarks.md).
        "spark.sql.inMemoryColumnarStorage.compressed": "false",
        # Timestamps as Parquet's INT64 microseconds (Spark's default is the deprecated INT96:
        # converted to a Julian day and nanoseconds per value, and dictionary-encoded as 12-byte
        # binaries): a medium Silver events step 0.97 of the time (docs/benchmarks.md).
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        **DELTA_SESSION,
        **delta_jar_conf(cfg.jar_cache),
        **event_log_settings(cfg),
        **cfg.conf,
        **local_fs_settings(cfg.jar_cache, master or cfg.master, cfg.conf),
    }


# --- the driver JVM's class archive (CDS) ------------------------------------------------------
# A run's JVM loads some 15,000 classes from pyspark's ~280 jars. `-XX:ArchiveClassesAtExit`
# writes the classes a JVM loaded into an archive as it exits; `-XX:SharedArchiveFile` maps them
# into later JVMs, which then skip reading, parsing and verifying them. Java checks that the
# archive matches the JVM and its classpath, and runs without it otherwise.

_pending_archive: list[tuple[Path, Path]] = []      # (being written, its final name)
QUIET_ARCHIVING = "-Xlog:cds=off,cds+dynamic=off"


def launcher_conf_dir(home: Path | None = None) -> Path:
    """The directory spark-submit puts on the driver's classpath first, launched from `home`
    (default: $SPARK_HOME, else pyspark's)."""
    if os.environ.get("SPARK_CONF_DIR"):
        return Path(os.environ["SPARK_CONF_DIR"])
    return Path(home or os.environ.get("SPARK_HOME") or spark_home()) / "conf"


def class_archive(cfg: SparkConfig, classpath: str = "", home: Path | None = None) -> Path | None:
    """This machine's class archive for this Java, this Spark and this classpath (the jars of
    the Spark home `home` (default: pyspark's) after `classpath`, the driver's extra classpath),
    or None when
    none can be used: turned off (`spark.class_archive_dir` is ""), no java found, a path with a
    space (JVM options are split on spaces), or a non-empty directory on the classpath (an
    environment's own SPARK_CONF_DIR), which Java refuses to archive."""
    if not cfg.class_archive_dir:
        return None
    java, conf_dir = java_executable(), launcher_conf_dir(home)
    if java is None or (conf_dir.is_dir() and any(conf_dir.iterdir())):
        return None
    import pyspark
    jars = sorted((e.name, e.stat().st_size) for e in os.scandir(spark_home() / "jars"))
    identity = json.dumps([str(java), java.stat().st_mtime_ns, pyspark.__version__, str(conf_dir), jars,
                           classpath])
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    path = Path(os.path.expanduser(cfg.class_archive_dir)).resolve() / f"classes-{key}.jsa"
    return None if " " in str(path) else path


def class_archive_option(cfg: SparkConfig, write: bool, classpath: str = "",
                         home: Path | None = None) -> str:
    """The JVM option that maps this machine's class archive; with `write`, when there is none
    yet, the one that writes it as the JVM exits (`stop_jvm` gives it its final name)."""
    archive = class_archive(cfg, classpath, home)
    if archive is None:
        return ""
    if archive.is_file():
        return f"-XX:SharedArchiveFile={archive}"
    if not write:
        return ""
    archive.parent.mkdir(parents=True, exist_ok=True)
    pending = archive.with_name(f"{archive.name}.{os.getpid()}.tmp")
    _pending_archive.append((pending, archive))
    log.info("the JVM writes its class archive %s as it exits (once per machine)", archive)
    # Writing it, the JVM prints a warning to stdout for each class it cannot archive (some
    # 2,000: signed jars, generated classes): the console would end in them.
    return f"-XX:ArchiveClassesAtExit={pending} {QUIET_ARCHIVING}"


def driver_java_options(cfg: SparkConfig, write_class_archive: bool, classpath: str = "",
                        home: Path | None = None) -> str:
    """`spark.driver.extraJavaOptions` from config, plus the repo's log4j2 settings (unless the
    environment names its own SPARK_CONF_DIR) and the option of the class archive for a driver
    with the extra classpath `classpath`, launched from the Spark home `home`."""
    options = [cfg.conf.get("spark.driver.extraJavaOptions", "")]
    log4j = LOCAL_CONF_DIR / "log4j2.properties"
    if not os.environ.get("SPARK_CONF_DIR") and log4j.is_file() and " " not in str(log4j):
        options.append(f"-Dlog4j2.configurationFile={log4j.as_uri()}")
    options.append(class_archive_option(cfg, write_class_archive, classpath, home))
    return " ".join(o for o in options if o)


def launched_conf() -> SparkConf:
    """The spark.* properties spark-submit passed to this driver (none outside spark-submit).
    Under spark-submit the JVM is already up (PYSPARK_GATEWAY_PORT); a SparkConf only sees its
    properties once Python is connected to it, so connect first."""
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        from pyspark import SparkContext
        SparkContext._ensure_initialized()
        return SparkConf()
    return SparkConf(loadDefaults=False)


def merged_spark_home(cfg: SparkConfig) -> Path | None:
    """pyspark's Spark home with its jars merged into one (lakehouse/classpath.py), unless
    `merge_jars` is off or the environment names its own SPARK_HOME."""
    if not cfg.merge_jars or os.environ.get("SPARK_HOME"):
        return None
    return launch_home(cfg.jar_cache, spark_home())


def merged_launch_home(cfg: SparkConfig) -> Path | None:
    """The merged Spark home when this process is about to start a JVM: not under spark-submit
    (its JVM is up), nor with a JVM already running."""
    from pyspark import SparkContext
    if "PYSPARK_GATEWAY_PORT" in os.environ or SparkContext._gateway is not None:
        return None
    return merged_spark_home(cfg)


@contextlib.contextmanager
def launched_from(home: Path | None):
    """pyspark starts its JVM with $SPARK_HOME/bin/spark-submit: `home`'s, while in this block."""
    if home is None:
        yield
        return
    os.environ["SPARK_HOME"] = str(home)
    try:
        yield
    finally:
        os.environ.pop("SPARK_HOME", None)


def get_spark(cfg: SparkConfig, app_name: str | None = None,
              write_class_archive: bool = False) -> SparkSession:
    """Return the active session or build one: UTC, ANSI on, Delta, settings from config.

    Under spark-submit its command line wins (the master, the driver memory, the jars, the event
    log directory): a setting is only taken from config when the command line did not set it.
    A JVM this starts maps the machine's class archive, or with `write_class_archive` writes it
    when there is none yet.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if LOCAL_CONF_DIR.is_dir() and " " in str(LOCAL_CONF_DIR):
        # a path JVM options cannot carry: the log4j2 settings come from the classpath instead
        os.environ.setdefault("SPARK_CONF_DIR", str(LOCAL_CONF_DIR))
    launched = launched_conf()
    home = merged_launch_home(cfg)
    builder = SparkSession.builder.appName(app_name or cfg.app_name)
    if not launched.contains("spark.master"):
        builder = builder.master(cfg.master)
    if not launched.contains("spark.driver.memory"):
        builder = builder.config("spark.driver.memory", cfg.driver_memory)
    settings = session_settings(cfg, launched.get("spark.master", cfg.master))
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        # a JVM spark-submit started: its classpath is set, with the local file system's jar
        # only if spark_submit_args() put it there, and then its settings came along
        settings = {k: v for k, v in settings.items() if k not in LOCAL_FS_KEYS}
    if not launched.contains("spark.driver.extraJavaOptions"):
        settings["spark.driver.extraJavaOptions"] = driver_java_options(
            cfg, write_class_archive, settings.get("spark.driver.extraClassPath", ""), home)
    for key, value in settings.items():
        if launched.contains(key) or (key.startswith("spark.jars") and launched.contains("spark.jars")):
            continue
        builder = builder.config(key, value)
    with launched_from(home):
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    warm_up(spark)
    return spark


# Classes whose static initializer is slow, single-threaded and paid once per JVM whatever the
# data size, or else inside the first task that needs them (and every task that needs them
# meanwhile waits): `lower`/`upper` under Spark's ICU case mappings build a table over all
# Unicode code points, about 1.3 s (docs/benchmarks.md).
WARM_UP_CLASSES = ("org.apache.spark.sql.catalyst.util.CollationAwareUTF8String",)


def warm_up(spark: SparkSession) -> threading.Thread:
    """Initialize WARM_UP_CLASSES in the driver JVM from a background thread, while the run
    plans its first queries (a core is mostly idle then). The thread also imports what py4j's
    first conversion of a Python value imports (pandas and pyarrow, through pyspark.testing:
    about 0.3 s holding the interpreter, inside whichever step converts first)."""
    jvm = spark.sparkContext._jvm

    def load() -> None:
        try:
            import pyspark.testing.utils  # noqa: F401
            for name in WARM_UP_CLASSES:
                jvm.java.lang.Class.forName(name)
        except Exception as exc:        # only a head start: a task initializes them anyway
            log.debug("JVM warm-up skipped: %s", exc)

    thread = threading.Thread(target=load, name="jvm-warm-up", daemon=True)
    thread.start()
    return thread


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
    finish_class_archive(end_process(proc, timeout_s))


def end_process(proc, timeout_s: float) -> int | None:
    """Close a process's stdin (a JVM pyspark launched exits then), wait for it (killed after
    `timeout_s`) and return its exit code (None when killed).

    spark-submit's shell leaves a finished subshell behind as the JVM's child, which the JVM
    never waits for: adopted as the JVM exits, such children are reaped here instead of lingering
    as zombies until init gets to them."""
    orphans = _children(proc.pid) if _adopt_orphans(True) else []
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        code = proc.wait(timeout=timeout_s)
    except Exception:                           # noqa: BLE001 - never fail a finished run here
        proc.kill()
        proc.wait()
        code = None
    finally:
        _adopt_orphans(False)
    for pid in orphans:
        try:
            os.waitpid(pid, os.WNOHANG)         # reaped if it has exited; else left running
        except ChildProcessError:               # reaped by someone else, or never adopted
            pass
    return code


_PR_SET_CHILD_SUBREAPER = 36


def _adopt_orphans(adopt: bool) -> bool:
    """Make this process the one its orphaned descendants are reparented to (Linux only)."""
    if sys.platform != "linux":
        return False
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, int(adopt), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _children(pid: int) -> list[int]:
    """The pids of a process's children (none once it has gone)."""
    try:
        return [child.pid for child in psutil.Process(pid).children()]
    except psutil.Error:
        return []


def finish_class_archive(jvm_exit_code: int | None) -> None:
    """Give a class archive the JVM wrote as it exited its final name, once the JVM has exited
    cleanly (only then is it complete); else remove what it wrote."""
    while _pending_archive:
        pending, archive = _pending_archive.pop()
        if jvm_exit_code == 0 and pending.is_file():
            os.replace(pending, archive)
            log.info("wrote the JVM's class archive %s", archive)
        else:
            pending.unlink(missing_ok=True)


class SessionStarter:
    """Starts the shared SparkSession in a background thread, so the JVM boots while the
    (pure Python) generator runs (`background`; otherwise on the first `get()`); `get()` waits
    for it."""

    def __init__(self, cfg: SparkConfig, app_name: str | None = None, py_files: list[Path] = (),
                 background: bool = True, write_class_archive: bool = False):
        self._cfg, self._app_name, self._py_files = cfg, app_name, list(py_files)
        self._write_class_archive = write_class_archive
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
            spark = get_spark(self._cfg, self._app_name, self._write_class_archive)
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
