"""The Bronze -> Silver flow every table shares: read lines, classify, stage Silver and quarantine.

The table-specific part is the pure `transform(raw, ...)` of each job; this module does the I/O.
Publishing is separate (`publish_silver`), called only after the data-quality gate passes.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.cli import BadInputError
from lakehouse.config import Config
from lakehouse.contract import CONTRACTS, QUARANTINE_SCHEMA, column_names
from lakehouse.jobs import StepResult
from lakehouse.parsing import read_lines
from lakehouse.paths import DataPaths
from lakehouse.tables import TableStore

log = logging.getLogger(__name__)

Transform = Callable[[DataFrame, Config], DataFrame]


def silver_rows(classified: DataFrame, table: str) -> DataFrame:
    """The valid rows, in the Silver schema's column order."""
    columns = column_names(CONTRACTS[table].silver_schema)
    return classified.filter(F.col("reject_reason").isNull()).select(*columns)


def quarantine_rows(classified: DataFrame) -> DataFrame:
    columns = column_names(QUARANTINE_SCHEMA)
    return classified.filter(F.col("reject_reason").isNotNull()).select(*columns)


def stage_silver(spark: SparkSession, cfg: Config, paths: DataPaths, table: str,
                 transform: Transform) -> StepResult:
    """Classify Bronze `table` and write the staged Silver and quarantine versions."""
    store = TableStore(spark, paths)
    bronze = paths.bronze(table)
    if not store.fs.exists(bronze):
        raise BadInputError(f"Bronze table {table} not found at {bronze}; "
                            "generate it first (python ingestion/generate_all.py)")
    classified = transform(read_lines(spark, bronze), cfg).persist(StorageLevel.MEMORY_AND_DISK)
    started = time.perf_counter()
    try:
        counts = {r["reject_reason"]: r["count"]
                  for r in classified.groupBy("reject_reason").count().collect()}
        classified_at = time.perf_counter()
        date_column = CONTRACTS[table].date_column
        silver = silver_rows(classified, table)
        store.write_staged(silver.repartition(date_column), paths.silver(table), (date_column,))
        store.write_staged(quarantine_rows(classified).coalesce(1), paths.quarantine(table))
        log.info("silver %s: classified in %.2fs, written in %.2fs", table,
                 classified_at - started, time.perf_counter() - classified_at)
    finally:
        classified.unpersist()
    written = counts.pop(None, 0)
    result = StepResult(
        rows_read=written + sum(counts.values()), rows_written=written,
        rows_quarantined=sum(counts.values()),
        outputs=[paths.staged(paths.silver(table)), paths.staged(paths.quarantine(table))],
        details={"rejects": dict(sorted(counts.items()))})
    log.info("silver %s staged: %d read, %d valid, %d quarantined %s", table, result.rows_read,
             written, result.rows_quarantined, result.details["rejects"])
    return result


def publish_silver(spark: SparkSession, paths: DataPaths, table: str) -> None:
    """Publish the staged Silver table and its quarantine (call only after the DQ gate passed)."""
    store = TableStore(spark, paths)
    for published in (paths.quarantine(table), paths.silver(table)):
        if store.has_staged(published):
            store.publish(published)
        elif store.fs.has_data(published):
            log.info("%s: nothing staged, the published version stays (already published?)", published)
        else:
            raise BadInputError(f"{published}: nothing staged to publish; run the Silver job first")
