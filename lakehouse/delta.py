"""Delta Lake through its own JVM API (py4j): reading a version of a table from its file list,
and committing files already in the table's directory as one transaction.

A published version never changes, so its file list (its AddFile actions) is read once per
SparkSession (`version_files`: from the version's checksum file when it holds the list, else
from the log) and every later read of it plans over that list through
Delta's `DeltaLog.createDataFrame`, partition filters pruning it on the driver; a plain Delta read
lists the version's files again with a Spark job for every query that scans it.
"""
from __future__ import annotations

import collections
import datetime as dt
import json
import threading
import urllib.parse
import uuid
import weakref
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from lakehouse.errors import BadInputError
from lakehouse.storage import Storage, java_class

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"     # a NULL partition value's directory name
DELTA = "org.apache.spark.sql.delta."
SCALA_CONVERTERS = "scala.jdk.javaapi.CollectionConverters"


def replace_predicate(replace: dict) -> str:
    """`event_date IN (DATE'2026-01-01', ...)`: the rows a partial version replaces."""
    dates = ", ".join(f"DATE'{v}'" for v in replace["values"])
    return f"`{replace['column']}` IN ({dates})"


# --- reading a version -------------------------------------------------------------------------

VERSIONS_KEPT = 64      # file lists kept per session (least recently read dropped first)
_versions: "weakref.WeakKeyDictionary[SparkSession, collections.OrderedDict]" = weakref.WeakKeyDictionary()
_versions_lock = threading.Lock()


def version_files(spark: SparkSession, path: str, version: int):
    """(DeltaLog, snapshot, its AddFile actions as a Scala list) of `path` at `version`, read from
    the log once per session. The version's commit file (size, modification time) is part of
    the key, so a table deleted and created again at the same path is read again."""
    commit = Storage(spark).status(f"{path.rstrip('/')}/_delta_log/{version:020d}.json")
    key = (path.rstrip("/"), version, commit)     # (no commit file: Delta says what is missing)
    with _versions_lock:
        cached = _versions.setdefault(spark, collections.OrderedDict())
        entry = cached.setdefault(key, {"lock": threading.Lock()})
        cached.move_to_end(key)
        while len(cached) > VERSIONS_KEPT:
            cached.popitem(last=False)
    with entry["lock"]:          # one listing per version, also when steps read it side by side
        if "files" not in entry:
            option = java_class(spark, "scala.Option")
            delta_log = java_class(spark, DELTA + "DeltaLog").forTable(spark._jsparkSession, path)
            snapshot = delta_log.getSnapshotAt(version, option.empty(), option.empty(), False)
            files = checksum_files(snapshot)
            if files is None:               # no file list in the checksum: rebuild the state
                collected = snapshot.allFiles().collectAsList()
                files = java_class(spark, SCALA_CONVERTERS).asScala(collected).toList()
            entry["log"], entry["snapshot"], entry["files"] = delta_log, snapshot, files
    return entry["log"], entry["snapshot"], entry["files"]


def checksum_files(snapshot):
    """The version's AddFile actions as its checksum file (`<version>.crc`) holds them, or None.
    Delta writes the table's whole file list into the checksum of every commit while the table
    has fewer than `spark.databricks.delta.allFilesInCrc.thresholdNumFiles` files (set in
    lakehouse/spark.py); reading it there costs no Spark job, where rebuilding the state from
    the log costs two (a version without a checksum, e.g. after a crash right after its commit,
    is rebuilt)."""
    checksum = snapshot.checksumOpt()
    files = checksum.get().allFiles() if checksum.isDefined() else None
    return files.get().toList() if files is not None and files.isDefined() else None


def read_version(spark: SparkSession, path: str, version: int) -> DataFrame:
    """Version `version` of the Delta table at `path`, over its file list (`version_files`)."""
    delta_log, snapshot, files = version_files(spark, path, version)
    no_action_type = java_class(spark, "scala.Option").empty()
    return DataFrame(delta_log.createDataFrame(snapshot, files, False, no_action_type), spark)


# --- one Delta commit of files already in place -----------------------------------------------

def add_actions(files: Sequence[dict], partition_by: Sequence[str]) -> list[dict]:
    """The Delta `add` actions of files ({"path", "size", "mtime"}) already in the table's
    directory, under Hive-style partition paths."""
    return [{"path": _uri_path(f["path"]), "partitionValues": _partition_values(f["path"], partition_by),
             "size": f["size"], "modificationTime": f["mtime"], "dataChange": True} for f in files]


def _partition_values(relative: str, partition_by: Sequence[str]) -> dict[str, str | None]:
    """{column: value} from a Hive-style relative path `event_date=2026-01-01/part-0.parquet`."""
    values = {}
    for part in relative.split("/")[:-1]:
        column, _, value = part.partition("=")
        values[column] = None if value == HIVE_NULL else urllib.parse.unquote(value)
    if sorted(values) != sorted(partition_by):
        raise BadInputError(f"{relative}: its directories name {sorted(values)}, "
                            f"the table is partitioned by {list(partition_by)}")
    return values


def file_order(schema: StructType, partition_by: Sequence[str]) -> StructType:
    """The schema as the staged files read back: partition columns last (Hive-style)."""
    return StructType([f for f in schema.fields if f.name not in partition_by]
                      + [schema[c] for c in partition_by])


def _uri_path(relative: str) -> str:
    """A relative file path as the Delta log stores it: a URI path (RFC 2396)."""
    return urllib.parse.quote(relative, safe="/=:@!$&'()*+,;-._~")


def _nullable(schema: dict) -> dict:
    """The schema with every field nullable, as Delta stores a written DataFrame's schema."""
    if isinstance(schema, dict):
        return {k: (True if k in ("nullable", "containsNull", "valueContainsNull") else _nullable(v))
                for k, v in schema.items()}
    return [_nullable(v) for v in schema] if isinstance(schema, list) else schema


def start_commit(spark: SparkSession, path: str, schema: str, partition_by: Sequence[str],
                 replace: dict | None):
    """A Delta transaction on the table at `path` (through Delta's own API, so its conflict
    checks, checksum and checkpoints apply), its metadata set: created from `schema`, or the
    table's schema replaced by it (`replace` None); refused when a partial version (`replace`)
    would change it."""
    action = java_class(spark, DELTA + "actions.Action")
    txn = java_class(spark, DELTA + "DeltaLog").forTable(spark._jsparkSession, path).startTransaction()
    schema_string = json.dumps(_nullable(json.loads(schema)))
    if txn.readVersion() < 0:
        txn.updateMetadataForNewTable(action.fromJson(json.dumps({"metaData": {
            "id": str(uuid.uuid4()), "format": {"provider": "parquet", "options": {}},
            "schemaString": schema_string, "partitionColumns": list(partition_by),
            "configuration": {}, "createdTime": int(dt.datetime.now().timestamp() * 1000)}})))
        return txn
    metadata = json.loads(txn.metadata().json())["metaData"]
    if (json.loads(metadata["schemaString"]), metadata["partitionColumns"]) != \
            (json.loads(schema_string), list(partition_by)):
        if replace is not None:
            raise BadInputError(f"{path}: the staged rows' schema or partitioning differs "
                                "from the table's; a partial version cannot change it")
        metadata.update(schemaString=schema_string, partitionColumns=list(partition_by))
        txn.updateMetadata(action.fromJson(json.dumps({"metaData": metadata})), False)
    return txn


def finish_commit(spark: SparkSession, path: str, txn, run_id: str, adds: list[dict],
                  partition_by: Sequence[str], replace: dict | None) -> None:
    """Commit `txn`: `adds`, and the removal of what they replace: every file of the table
    (`replace` None), the files of the replaced partition values, or nothing (an append)."""
    array_list, action = java_class(spark, "java.util.ArrayList"), java_class(spark, DELTA + "actions.Action")
    scala_list = java_class(spark, SCALA_CONVERTERS).asScala
    actions = array_list()
    appending = bool(replace and replace.get("append"))
    if not appending and txn.readVersion() >= 0:
        # the files of the version the transaction read, listed once per session (a read of it
        # in this run listed them already), marked as read for Delta's conflict checks, as
        # txn.filterFiles() would
        files = version_files(spark, path, txn.readVersion())[2]
        txn.readWholeTable()
        txn.trackFilesRead(files)
        replaced = None if replace is None else set(replace["values"])
        current = files.iterator()
        while current.hasNext():
            file = current.next()
            values = json.loads(file.json())["add"]["partitionValues"]
            if replaced is None or values.get(replace["column"]) in replaced:
                actions.add(file.remove())
    for add in adds:
        actions.add(action.fromJson(json.dumps({"add": add})))
    option = java_class(spark, "scala.Option")
    predicate = replace_predicate(replace) if replace and not appending else None
    save_mode = java_class(spark, "org.apache.spark.sql.SaveMode")
    operation = java_class(spark, DELTA + "DeltaOperations$Write")(
        save_mode.Append if appending else save_mode.Overwrite,
        option.apply(scala_list(array_list(list(partition_by))).toList()),
        option.apply(predicate), option.apply(run_id),
        option.empty(), option.empty(), option.empty(), option.empty(), option.empty())
    txn.commit(scala_list(actions).toList(), operation)
