"""Hadoop's local file system without a process per file.

Without Hadoop's native library (pyspark ships none), Hadoop's local file system starts a
`chmod` process for every file and directory it creates and a `readlink` process for every
rename through FileContext (two per Delta commit, two per Delta checksum): some 500 processes
in a `tiny` run, about 25 ms each, most of them while the publish commits its tables. The
classes in `lakehouse/jvm/` do those two operations through Java's own file API (java.nio) and
leave everything else to Hadoop. They are compiled once per machine into the jar cache with the
JDK's `javac`; without one, Hadoop's stock local file system is used: the same files, slower.

Only for a JVM on this machine: the driver of a `local[...]` master, and the executors of a
standalone cluster on this machine's loopback (`python -m orchestration.cluster`), whose worker
finds the jar at the same path.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import zipfile
from pathlib import Path
from urllib.parse import urlparse

log = logging.getLogger(__name__)

JAVA_SOURCES = Path(__file__).resolve().parent / "jvm"
FILE_SYSTEM = "ecomplatform.hadoop.NioLocalFileSystem"     # fs.file.impl
FILE_CONTEXT = "ecomplatform.hadoop.NioLocalFs"            # fs.AbstractFileSystem.file.impl
LOOPBACK = ("127.0.0.1", "localhost", "::1")
FS_KEYS = ("spark.hadoop.fs.file.impl", "spark.hadoop.fs.AbstractFileSystem.file.impl")
LOCAL_FS_KEYS = (*FS_KEYS, "spark.driver.extraClassPath", "spark.executor.extraClassPath")
_build_lock = threading.Lock()
_said: set[str] = set()


def java_executable() -> Path | None:
    """The java that spark-submit starts: $JAVA_HOME/bin/java, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    return Path(java).resolve() if java and Path(java).exists() else None


def javac_executable() -> Path | None:
    """The javac of the JDK that java belongs to, else the one on PATH (a JRE has none)."""
    java = java_executable()
    beside = java.with_name("javac") if java else None
    if beside is not None and beside.is_file():
        return beside
    found = shutil.which("javac")
    return Path(found) if found else None


def on_this_machine(master: str) -> bool:
    """Whether every JVM of `master` runs here: local mode, or a standalone master on loopback."""
    if master.startswith("local"):
        return True
    url = urlparse(master)
    return url.scheme == "spark" and url.hostname in LOOPBACK


def local_fs_jar(jar_cache: str) -> Path | None:
    """The compiled classes of lakehouse/jvm/ for the installed pyspark's Hadoop, built into
    `jar_cache` when missing; None when they cannot be (no javac: said once per process)."""
    from lakehouse.spark import spark_home
    hadoop = sorted(p.name for p in (spark_home() / "jars").glob("hadoop-client-api-*.jar"))
    sources = sorted(JAVA_SOURCES.glob("*.java"))
    if not hadoop or not sources:
        return None
    digest = hashlib.sha256(" ".join(hadoop).encode())
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    jar = Path(os.path.expanduser(jar_cache)).resolve() / "jvm" / f"nio-local-fs-{digest.hexdigest()[:16]}.jar"
    with _build_lock:
        if jar.is_file():
            return jar
        javac = javac_executable()
        if javac is None:
            _say_once("no javac (a JDK's compiler) found: Hadoop's own local file system is used, "
                      "which starts a chmod or readlink process per file written (slower runs)")
            return None
        try:
            _compile(javac, sources, spark_home() / "jars" / hadoop[-1], jar)
        except (OSError, subprocess.SubprocessError) as exc:
            _say_once(f"could not compile lakehouse/jvm/ ({exc}): Hadoop's own local file system "
                      "is used (slower runs)")
            return None
    log.info("compiled the local file system's classes into %s (once per machine)", jar)
    return jar


def _compile(javac: Path, sources: list[Path], hadoop_jar: Path, jar: Path) -> None:
    """javac `sources` against Hadoop's API, then zip the classes into `jar` (renamed into place
    once complete, so a reader never sees half a jar)."""
    jar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=jar.parent) as tmp:
        classes = Path(tmp) / "classes"
        done = subprocess.run([str(javac), "--release", "17", "-nowarn", "-cp", str(hadoop_jar),
                               "-d", str(classes), *map(str, sources)],
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["no output"])[0]
            raise subprocess.SubprocessError(f"javac exit code {done.returncode}: {first}")
        partial = Path(tmp) / jar.name
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as out:
            for path in sorted(classes.rglob("*.class")):
                out.write(path, path.relative_to(classes).as_posix())
        os.replace(partial, jar)


def local_fs_settings(jar_cache: str, master: str, conf: dict[str, str]) -> dict[str, str]:
    """The settings that make `file:` paths use the classes of lakehouse/jvm/: the jar on the
    driver's (and a loopback cluster's executors') classpath, ahead of any classpath `conf`
    already sets, and the two Hadoop settings naming the classes. Nothing for a master whose
    JVMs may run elsewhere, when `conf` names its own local file system, or when the jar cannot
    be built."""
    if not on_this_machine(master) or any(key in conf for key in FS_KEYS):
        return {}
    jar = local_fs_jar(jar_cache)
    if jar is None:
        return {}
    settings = dict(zip(FS_KEYS, (FILE_SYSTEM, FILE_CONTEXT), strict=True))
    for side in ("driver", "executor"):
        key = f"spark.{side}.extraClassPath"
        settings[key] = os.pathsep.join(p for p in (str(jar), conf.get(key, "")) if p)
    return settings


def _say_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        log.info("%s", message)
