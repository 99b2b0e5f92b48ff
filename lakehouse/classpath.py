"""pyspark's jars as one jar, for the driver JVM this project starts.

pyspark ships some 280 jars, and the JVM's class loader looks through them one after the other
for every class it has not loaded yet. A name that is no class costs a search of every jar, and
Spark asks for many: its code generator (Janino) resolves each name in the Java it generates
(a package, a guessed import) by asking the class loader, and py4j does the same for the names
PySpark calls. On this machine a failed lookup took about 60 microseconds over the 280 jars and
12 in one jar; about a tenth of a run's JVM samples were such lookups (docs/benchmarks.md).

`launch_home` builds, once per machine and pyspark, a Spark home in the jar cache whose `jars/`
holds one jar merged from pyspark's, and whose `bin/` is a copy of pyspark's launch scripts.
The session starts its JVM from there. The merged jar holds what the JVM found on the old
classpath:
- the first copy of an entry wins, taking the jars in the order the JVM's `jars/*` classpath
  lists them (the directory's own order);
- files read from every jar are combined, not chosen: the service lists
  (`META-INF/services/*`, concatenated) and log4j's plugin indexes (`Log4j2Plugins.dat`, merged);
- the jars' signature files are dropped (two jars are signed, and their signatures cannot hold
  for a merged jar), and the manifest is a new one, marked multi-release, as many of the jars are;
- compressed entries are copied as they are, never decompressed: about 3 s, 390 MB.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import struct
import tempfile
import threading
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)

MERGED_JAR = "spark-jars.jar"
MANIFEST = "META-INF/MANIFEST.MF"
SERVICES = "META-INF/services/"
LOG4J_PLUGINS = "META-INF/org/apache/logging/log4j/core/config/plugins/Log4j2Plugins.dat"
_SIGNATURES = (".SF", ".RSA", ".DSA", ".EC")
_build_lock = threading.Lock()
_failed: set[str] = set()


def launch_home(jar_cache: str, pyspark_home: Path) -> Path | None:
    """The Spark home with pyspark's jars merged into one, under `jar_cache`, built when missing;
    None when it cannot be built (logged, and a failed build is not tried again in this process:
    the JVM then starts from pyspark's own home, with the same classes)."""
    jars_dir = pyspark_home / "jars"
    try:
        jars = [e for e in os.scandir(jars_dir) if e.name.endswith(".jar") and e.is_file()]
        identity = "\n".join(f"{e.name} {e.stat().st_size}" for e in sorted(jars, key=lambda e: e.name))
    except OSError as exc:
        return _cannot(f"cannot list {jars_dir}: {exc}")
    key = hashlib.sha256(f"{pyspark_home}\n{identity}".encode()).hexdigest()[:16]
    home = Path(os.path.expanduser(jar_cache)).resolve() / f"spark-home-{key}"
    with _build_lock:
        if (home / "jars" / MERGED_JAR).is_file():
            return home
        if str(home) in _failed:
            return None
        try:
            home.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=home.parent, prefix=f"{home.name}.") as tmp:
                partial = Path(tmp) / "home"
                shutil.copytree(pyspark_home / "bin", partial / "bin")
                (partial / "jars").mkdir()
                # the order the JVM's `jars/*` lists them in: the directory's own
                merge_jars([Path(e.path) for e in jars], partial / "jars" / MERGED_JAR)
                try:
                    partial.rename(home)        # complete, or not there at all
                except OSError:
                    if not (home / "jars" / MERGED_JAR).is_file():   # not another process's
                        raise
        except (OSError, zipfile.BadZipFile, ValueError, struct.error) as exc:
            _failed.add(str(home))
            return _cannot(f"could not merge pyspark's jars into {home} ({exc})")
    log.info("merged pyspark's %d jars into %s (once per machine)", len(jars), home / "jars" / MERGED_JAR)
    return home


def _cannot(message: str) -> None:
    log.info("%s: the JVM starts from pyspark's own jars (slower class lookups)", message)
    return None


def merge_jars(jars: list[Path], target: Path) -> None:
    """Write the jars' entries into one jar at `target` (module docstring)."""
    seen: set[str] = {MANIFEST}
    services: dict[str, list[bytes]] = {}
    plugins: list[bytes] = []
    with zipfile.ZipFile(target, "w") as out:
        out.writestr(MANIFEST, "Manifest-Version: 1.0\r\nMulti-Release: true\r\n"
                               "Created-By: ecommerce-data-platform\r\n\r\n")
        for jar in jars:
            with zipfile.ZipFile(jar) as source, open(jar, "rb") as raw:
                for info in source.infolist():
                    name = info.filename
                    if name == LOG4J_PLUGINS:
                        plugins.append(source.read(info))
                    elif name.startswith(SERVICES) and "/" not in name[len(SERVICES):] and not info.is_dir():
                        services.setdefault(name, []).append(source.read(info))
                    elif name in seen or name == "META-INF/INDEX.LIST" or (
                            name.startswith("META-INF/") and name.upper().endswith(_SIGNATURES)):
                        continue
                    else:
                        seen.add(name)
                        _copy_raw(out, raw, info)
        for name, parts in services.items():
            out.writestr(name, b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts))
        if plugins:
            out.writestr(LOG4J_PLUGINS, merge_log4j_plugins(plugins))


_LOCAL_HEADER = struct.Struct("<4s5H3L2H")     # a zip entry's local header (30 bytes)


def _copy_raw(out: zipfile.ZipFile, raw, info: zipfile.ZipInfo) -> None:
    """Copy one entry's stored bytes (compressed or not) into `out` without decompressing them.
    zipfile has no public call for it: the entry is appended the way ZipFile.writestr does,
    with the CRC and sizes the source's central directory gives."""
    raw.seek(info.header_offset)
    header = _LOCAL_HEADER.unpack(raw.read(_LOCAL_HEADER.size))
    if header[0] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"no local header for {info.filename}")
    raw.seek(header[-2] + header[-1], os.SEEK_CUR)       # past the name and extra field
    data = raw.read(info.compress_size)
    entry = zipfile.ZipInfo(info.filename, info.date_time)
    entry.compress_type, entry.CRC = info.compress_type, info.CRC
    entry.compress_size, entry.file_size = info.compress_size, info.file_size
    entry.external_attr = info.external_attr
    entry.header_offset = out.fp.tell()
    out.fp.write(entry.FileHeader(zip64=None))
    out.fp.write(data)
    out.filelist.append(entry)
    out.NameToInfo[entry.filename] = entry
    out.start_dir = out.fp.tell()


def merge_log4j_plugins(indexes: list[bytes]) -> bytes:
    """log4j's plugin indexes as one (its PluginCache format: per category, the plugins by key;
    the first of a category's keys wins)."""
    categories: dict[bytes, dict[bytes, tuple]] = {}
    for index in indexes:
        for category, entries in _read_plugins(index):
            merged = categories.setdefault(category, {})
            for entry in entries:
                merged.setdefault(entry[0], entry)
    out = [struct.pack(">i", len(categories))]
    for category, entries in categories.items():
        out += [_utf(category), struct.pack(">i", len(entries))]
        for key, class_name, name, printable, defer in entries.values():
            out += [_utf(key), _utf(class_name), _utf(name), bytes((printable, defer))]
    return b"".join(out)


def _utf(value: bytes) -> bytes:
    return struct.pack(">H", len(value)) + value


def _read_plugins(index: bytes) -> list[tuple[bytes, list[tuple]]]:
    """Java DataOutput as log4j writes it: int categories; per category its name (writeUTF), int
    entries; per entry key, class name, name (writeUTF each), printable, defer (booleans)."""
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(index):
            raise ValueError("a truncated Log4j2Plugins.dat")
        pos += n
        return index[pos - n:pos]

    def utf() -> bytes:
        return take(struct.unpack(">H", take(2))[0])

    def count() -> int:
        return struct.unpack(">i", take(4))[0]

    categories = []
    for _ in range(count()):
        category = utf()
        entries = [(utf(), utf(), utf(), *take(2)) for _ in range(count())]
        categories.append((category, entries))
    if pos != len(index):
        raise ValueError("trailing bytes in a Log4j2Plugins.dat")
    return categories
