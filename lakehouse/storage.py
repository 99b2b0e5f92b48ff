"""Filesystem operations through Hadoop's FileSystem API, so they work on file://, hdfs:// and
s3a:// alike, and the atomic swap every write relies on.

Publishing protocol (write-audit-publish and every Gold write):
  1. the new version is fully written to a staging path on the same filesystem;
  2. the published directory, if any, is renamed to a trash path;
  3. the staged directory is renamed to the published path;
  4. the trash copy is deleted.
A crash between 2 and 3 leaves the old version in trash; `recover()` (run before every write and
every read of a published table by the jobs) renames it back. Directory renames are atomic on
local filesystems and HDFS. On S3 a rename is a copy: there, use a table format (Delta, Iceberg)
or a pointer file instead; see docs/architecture.md.
"""
from __future__ import annotations

import logging
import uuid

from pyspark.sql import SparkSession

from lakehouse.localfs import write_text_atomic
from lakehouse.paths import is_local, local_path

log = logging.getLogger(__name__)


class Storage:
    def __init__(self, spark: SparkSession):
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _path(self, uri: str):
        return self._jvm.org.apache.hadoop.fs.Path(uri)

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

    def list_names(self, uri: str) -> list[str]:
        if not self.exists(uri):
            return []
        return sorted(str(s.getPath().getName()) for s in self._fs(uri).listStatus(self._path(uri)))

    def has_data(self, uri: str) -> bool:
        """True when the directory holds a complete Spark output (its _SUCCESS marker)."""
        return self.exists(f"{uri.rstrip('/')}/_SUCCESS")

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
        reader = self._jvm.java.io.BufferedReader(
            self._jvm.java.io.InputStreamReader(stream, "UTF-8"))
        try:
            lines = []
            line = reader.readLine()
            while line is not None:
                lines.append(line)
                line = reader.readLine()
            return "\n".join(lines)
        finally:
            reader.close()

    # --- atomic publish -------------------------------------------------------------------

    def recover(self, published: str, trash_dir_of: str) -> None:
        """Undo a publish that died between its two renames: put the trashed version back."""
        if self.exists(published):
            return
        parent, name = trash_dir_of.rsplit("/", 1)
        candidates = [n for n in self.list_names(parent) if n.startswith(f"{name}.")]
        if candidates:
            restored = f"{parent}/{candidates[-1]}"
            log.warning("restoring %s from %s (a previous publish was interrupted)", published, restored)
            self.rename(restored, published)

    def swap_in(self, staged: str, published: str, trash: str) -> None:
        """Replace `published` with the complete `staged` directory (see the module docstring)."""
        if not self.has_data(staged):
            raise OSError(f"refusing to publish {staged}: it has no _SUCCESS marker (incomplete write)")
        if self.exists(published):
            self.rename(published, trash)
        self.rename(staged, published)
        self.delete(trash)
