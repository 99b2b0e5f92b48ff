"""Filesystem operations through Hadoop's FileSystem API, so they work on file://, hdfs:// and
s3a:// alike: existence, listing, deleting, and small text files written atomically (the publish
records). Tables are Delta tables (lakehouse/tables.py), whose commits are atomic on their own.
"""
from __future__ import annotations

import os
import shutil
import uuid

from py4j.java_gateway import JavaClass
from pyspark.sql import SparkSession

from lakehouse.localfs import write_text_atomic
from lakehouse.paths import is_local, local_path


def is_hidden(name: str) -> bool:
    """`.x` and `_x`: checksums, markers, Delta's log, Spark's `_SUCCESS`; never data."""
    return name.startswith((".", "_"))


def _os_status(st: os.stat_result) -> tuple[int, int]:
    """(length in bytes, modification time in ms) of a file, as Hadoop reports them: a Bronze
    partition's fingerprint must read the same through either storage."""
    return st.st_size, st.st_mtime_ns // 1_000_000


def _hadoop_status(status) -> tuple[int, int]:
    return int(status.getLen()), int(status.getModificationTime())


class _Listing:
    """What both storages derive from `list_files`."""

    def list_files(self, uri: str) -> list[tuple[str, bool, int, int]]:
        raise NotImplementedError

    def list_names(self, uri: str) -> list[str]:
        return [name for name, _ in self.list_status(uri)]

    def list_status(self, uri: str) -> list[tuple[str, bool]]:
        """(name, is_directory) of each entry of a directory, by name; [] when it is missing."""
        return [(name, is_dir) for name, is_dir, _, _ in self.list_files(uri)]


def java_class(spark: SparkSession, name: str) -> JavaClass:
    """The class `name` of the session's JVM ("org.apache.hadoop.fs.Path"; a nested class as
    "Outer$Inner"), without a call to the JVM. py4j's attribute path (`jvm.org.apache.hadoop.fs
    .Path`) asks the JVM for a class named after every package on the way ("org", "org.apache",
    ...): each is a failed search of the ~280 jars on the classpath, 1-3 ms, and a `tiny` run
    made some 3,000 of them (docs/benchmarks.md)."""
    return JavaClass(name, spark.sparkContext._gateway._gateway_client)


class Storage(_Listing):
    def __init__(self, spark: SparkSession):
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()
        self._hadoop_path = java_class(spark, "org.apache.hadoop.fs.Path")
        self._reader = java_class(spark, "java.io.BufferedReader")
        self._decoder = java_class(spark, "java.io.InputStreamReader")

    def _path(self, uri: str):
        return self._hadoop_path(uri)

    def _fs(self, uri: str):
        return self._path(uri).getFileSystem(self._conf)

    def exists(self, uri: str) -> bool:
        return bool(self._fs(uri).exists(self._path(uri)))

    def delete(self, uri: str) -> None:
        if self.exists(uri):
            self._fs(uri).delete(self._path(uri), True)

    def mkdirs(self, uri: str) -> None:
        self._fs(uri).mkdirs(self._path(uri))

    def rename(self, src: str, dst: str) -> None:
        parent = self._path(dst).getParent()
        if parent is not None:
            self._fs(dst).mkdirs(parent)
        if not self._fs(src).rename(self._path(src), self._path(dst)):
            raise OSError(f"rename failed: {src} -> {dst}")

    def move(self, src: str, dst: str) -> None:
        """Move one file (its parent directories created); local files by the OS, without
        Hadoop's checksum side files and permission calls."""
        if is_local(src) and is_local(dst):
            os.makedirs(os.path.dirname(local_path(dst)), exist_ok=True)
            shutil.move(local_path(src), local_path(dst))      # a rename on one filesystem
        else:
            self.rename(src, dst)

    def list_tree(self, uri: str) -> list[tuple[str, int, int]]:
        """(path relative to `uri`, length in bytes, modification time in ms) of every file
        under a directory, hidden ones (`.x`, `_x`) left out; [] when it is missing."""
        if is_local(uri):
            root = local_path(uri)
            out = []
            for folder, dirs, names in os.walk(root):
                dirs[:] = [d for d in dirs if not is_hidden(d)]
                for name in names:
                    if not is_hidden(name):
                        path = os.path.join(folder, name)
                        rel = os.path.relpath(path, root).replace(os.sep, "/")
                        out.append((rel, *_os_status(os.stat(path))))
            return sorted(out)
        if not self.exists(uri):
            return []
        base = str(self._fs(uri).getFileStatus(self._path(uri)).getPath().toUri().getPath()).rstrip("/")
        out = []
        files = self._fs(uri).listFiles(self._path(uri), True)
        while files.hasNext():
            status = files.next()
            rel = str(status.getPath().toUri().getPath())[len(base) + 1:]
            if not any(is_hidden(part) for part in rel.split("/")):
                out.append((rel, *_hadoop_status(status)))
        return sorted(out)

    def status(self, uri: str) -> tuple[int, int] | None:
        """(length in bytes, modification time in ms) of a file; None when it is missing."""
        if is_local(uri):
            try:
                return _os_status(os.stat(local_path(uri)))
            except FileNotFoundError:
                return None
        if not self.exists(uri):
            return None
        return _hadoop_status(self._fs(uri).getFileStatus(self._path(uri)))

    def list_files(self, uri: str) -> list[tuple[str, bool, int, int]]:
        """(name, is_directory, length in bytes, modification time in ms) of each entry of a
        directory, by name; [] when it is missing."""
        if not self.exists(uri):
            return []
        return sorted((str(s.getPath().getName()), bool(s.isDirectory()), *_hadoop_status(s))
                      for s in self._fs(uri).listStatus(self._path(uri)))

    def write_text(self, uri: str, text: str) -> None:
        """Write a small text file atomically (temp name in the same directory, then rename).
        Local files are written by Python: Hadoop's local filesystem would add `.crc` files."""
        if is_local(uri):
            write_text_atomic(local_path(uri), text)
            return
        tmp = f"{uri}.tmp-{uuid.uuid4().hex[:8]}"
        out = self._fs(tmp).create(self._path(tmp), True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()
        self.delete(uri)
        self.rename(tmp, uri)

    def read_text(self, uri: str) -> str:
        stream = self._fs(uri).open(self._path(uri))
        reader = self._reader(self._decoder(stream, "UTF-8"))
        try:
            lines = []
            line = reader.readLine()
            while line is not None:
                lines.append(line)
                line = reader.readLine()
            return "\n".join(lines)
        finally:
            reader.close()


class LocalStorage(_Listing):
    """The read side of `Storage` for a local data root, in plain Python: what the orchestrator
    uses to plan a run (and --dry-run to show it) without starting a JVM."""

    def exists(self, uri: str) -> bool:
        return os.path.exists(local_path(uri))

    def list_files(self, uri: str) -> list[tuple[str, bool, int, int]]:
        """As `Storage.list_files`: the same lengths and millisecond modification times."""
        path = local_path(uri)
        if not os.path.isdir(path):
            return []
        out = []
        for entry in os.scandir(path):
            size, mtime = _os_status(entry.stat())
            out.append((entry.name, entry.is_dir(), 0 if entry.is_dir() else size, mtime))
        return sorted(out)

    def read_text(self, uri: str) -> str:
        with open(local_path(uri), encoding="utf-8") as f:
            return f.read()
