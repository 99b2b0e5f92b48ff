"""Tables: published Delta tables by path, and each run's staged versions.

Every published Silver, quarantine and Gold table is a Delta table. A run writes its new version
of a table as a staged version under `_staging/<run_id>/`; `lakehouse/publish.py` moves its files
into the published path and adds them in one atomic Delta commit per table, tagged with the run
id (through Delta's transaction API: `lakehouse/delta.py`), and records the run's versions at one
commit point. Readers open the published version through
`lakehouse.publish.open_table`.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse import delta
from lakehouse.errors import BadInputError
from lakehouse.paths import DataPaths
from lakehouse.storage import Storage

log = logging.getLogger(__name__)

STAGED_MARKER = "_STAGED"


def replace_values(replace: dict) -> list[dt.date]:
    """The date values a partial version replaces."""
    return [dt.date.fromisoformat(v) for v in replace["values"]]


class TableStore:
    def __init__(self, spark: SparkSession, paths: DataPaths):
        self.spark = spark
        self.paths = paths
        self.fs = Storage(spark)

    # --- any Delta table ------------------------------------------------------------------

    # Versions, run tags and partition columns are read from the table's transaction log (the
    # JSON commit files of the open Delta protocol) instead of through DeltaTable.history() and
    # .detail(), each of which is a Spark job: a run asks these questions dozens of times.

    def is_table(self, path: str) -> bool:
        return self.fs.exists(f"{path.rstrip('/')}/_delta_log")

    def _commits(self, path: str) -> list[int]:
        log_dir = f"{path.rstrip('/')}/_delta_log"
        return sorted(int(n[:-5]) for n in self.fs.list_names(log_dir)
                      if n.endswith(".json") and n[:-5].isdigit())

    def _actions(self, path: str, version: int) -> list[dict]:
        text = self.fs.read_text(f"{path.rstrip('/')}/_delta_log/{version:020d}.json")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def latest_version(self, path: str) -> int:
        commits = self._commits(path)
        if not commits:
            raise BadInputError(f"{path}: not a Delta table (no commits in its _delta_log)")
        return commits[-1]

    def version_committed_by(self, path: str, run_id: str, look_back: int = 20) -> int | None:
        """The version of `path` that run `run_id` committed, if it did (its commits carry the run
        id as Delta's `userMetadata`): what makes re-running a publish safe."""
        if not self.is_table(path):
            return None
        for version in reversed(self._commits(path)[-look_back:]):
            info = next((a["commitInfo"] for a in self._actions(path, version) if "commitInfo" in a), {})
            if info.get("userMetadata") == run_id:
                return version
        return None

    def read_version(self, path: str, version: int) -> DataFrame:
        """Version `version` of the Delta table at `path`, its file list read from the log once
        per session (`lakehouse.delta.read_version`)."""
        return delta.read_version(self.spark, path, version)

    def commit_staged(self, published: str, run_id: str, files: Sequence[dict], schema: str,
                      partition_by: Sequence[str] = (), replace: dict | None = None) -> int:
        """Make run `run_id`'s staged `files` ({"path", "size", "mtime"}, relative to the staged
        version's directory) the table's content — or with `replace` ({"column", "values"}) only
        the rows whose `column` is one of `values`, or ({"append": true}) add them — in one atomic
        Delta commit tagged with `run_id`; returns the new version.

        The files are not rewritten: each is moved into the table's directory under the same
        relative path (a rename; done again after a crash only for those still staged), then one
        commit adds them and removes the files they replace. Earlier versions stay readable (time
        travel) until VACUUM."""
        staged = self.paths.staged(published, run_id)
        adds = delta.add_actions(files, partition_by)
        if replace and not replace.get("append"):
            outside = [a["path"] for a in adds
                       if a["partitionValues"][replace["column"]] not in replace["values"]]
            if outside:
                raise BadInputError(f"{staged}: {outside[0]} lies outside the {replace['column']} "
                                    "values the staged version replaces")
        txn = delta.start_commit(self.spark, published, schema, partition_by, replace)   # refuses first
        for f in files:
            source, target = f"{staged}/{f['path']}", f"{published.rstrip('/')}/{f['path']}"
            if self.fs.exists(source):
                self.fs.move(source, target)
            elif not self.fs.exists(target):
                raise BadInputError(f"{source}: a staged file of run {run_id} is gone; nothing "
                                    "more can be published for this run")
        delta.finish_commit(self.spark, published, txn, run_id, adds, partition_by, replace)
        return self.latest_version(published)

    # --- staged versions ------------------------------------------------------------------
    # A staged version is private to its run until the publish: plain Parquet, laid out as the
    # table's own files (Hive-style partition directories), complete once its marker, written
    # after the data, names it. The marker's token is the staged version the data-quality gate
    # is recorded against; the publish moves the files as they are (`commit_staged`).

    def _marker(self, published: str, run_id: str) -> str:
        return f"{self.paths.staged(published, run_id)}/{STAGED_MARKER}"

    def write_staged(self, df: DataFrame, published: str, run_id: str,
                     partition_by: Sequence[str] = (), replace: dict | None = None,
                     distinct: Sequence[str] = (), **extra) -> str:
        """Write `df` as run `run_id`'s staged version of `published`; returns its version token.

        With `replace` ({"column", "values", "base_version"}) `df` holds only the rows of those
        `column` values, which replace theirs in published version `base_version`; the rest of
        the table stays. With {"append": true, "base_version"} `df` is added to that version.
        `distinct`: columns whose values are all different (a key, a raw line), written without
        Parquet's dictionary encoding, which would fill up and fall back to plain in every file
        after hashing each value. `extra` is kept in the marker (e.g. the Bronze partitions read)."""
        staged = self.paths.staged(published, run_id)
        self.fs.delete(staged)
        writer = df.write.mode("overwrite")
        for column in distinct:
            writer = writer.option(f"parquet.enable.dictionary#{column}", "false")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.parquet(staged)
        token = uuid.uuid4().hex[:12]
        staged_at = dt.datetime.now(dt.timezone.utc).isoformat()
        self.fs.write_text(self._marker(published, run_id), json.dumps(
            {"version": token, "partition_by": list(partition_by), "staged_at": staged_at,
             "replace": replace, "schema": delta.file_order(df.schema, partition_by).json(), **extra},
            default=str))
        return token

    def staged_info(self, published: str, run_id: str) -> dict | None:
        """{"version", "partition_by", "staged_at", "replace", "schema", ...} of the complete
        staged version, None when there is none."""
        marker = self._marker(published, run_id)
        return json.loads(self.fs.read_text(marker)) if self.fs.exists(marker) else None

    def has_staged(self, published: str, run_id: str) -> bool:
        return self.staged_info(published, run_id) is not None

    def staged_marker(self, published: str, run_id: str) -> dict:
        """`staged_info` of a staged version that must exist (BadInputError naming the job to
        run when it does not); its "version" is the token a gate is recorded against."""
        info = self.staged_info(published, run_id)
        if info is None:
            raise BadInputError(f"{self.paths.staged(published, run_id)}: no staged version to "
                                f"check; run the Silver job first (with the same --run-id {run_id})")
        return info

    def read_staged(self, published: str, run_id: str) -> tuple[DataFrame, str]:
        """The table as run `run_id` will publish it, and the staged version's token (what a
        gate is recorded against): the staged rows, plus — for a partial version — the rows of
        the published base version outside the replaced values."""
        info = self.staged_marker(published, run_id)
        replace = info.get("replace")
        if replace is None:
            return self.staged_data(published, run_id), info["version"]
        base = self.read_version(published, replace["base_version"])
        kept = base if replace.get("append") else base.filter(
            ~F.col(replace["column"]).isin(replace_values(replace)))
        staged = self.staged_data(published, run_id, base.schema)
        return kept.unionByName(staged.select(*base.columns)), info["version"]

    def staged_data(self, published: str, run_id: str, schema=None) -> DataFrame:
        """The rows run `run_id` staged for `published`, as written (`schema`: the published
        table's, so that an empty partial version reads as empty, not as an error)."""
        reader = self.spark.read if schema is None else self.spark.read.schema(schema)
        return reader.parquet(self.paths.staged(published, run_id))

    def staged_files(self, published: str, run_id: str) -> list[dict]:
        """The staged version's data files: {"path" (relative to its directory), "size",
        "mtime"}; not its marker, `_SUCCESS` or checksum files."""
        return [{"path": rel, "size": size, "mtime": mtime}
                for rel, size, mtime in self.fs.list_tree(self.paths.staged(published, run_id))]

    def staged_tables(self, run_id: str) -> list[str]:
        """Every table run `run_id` staged completely, as paths relative to the data root."""
        staging = self.paths.staging_dir(run_id)
        return [f"{layer}/{name}" for layer in self.fs.list_names(staging)
                for name in self.fs.list_names(f"{staging}/{layer}")
                if self.fs.exists(f"{staging}/{layer}/{name}/{STAGED_MARKER}")]
