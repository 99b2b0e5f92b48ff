"""The I/O of the Bronze -> Silver jobs: read a Bronze table's lines, conform the classified rows
to the contract, stage Silver and quarantine, and publish them after the data-quality gate.

The table-specific part is each job's pure `transform(raw, ...)`.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import time

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.contract import QUARANTINE_SCHEMA, TABLES, column_names
from lakehouse.errors import BadInputError
from lakehouse.parsing import read_lines
from lakehouse.steps import JobContext, StepResult
from lakehouse.storage import Storage
from lakehouse.tables import TableStore

log = logging.getLogger(__name__)

_INGEST_PARTITION = re.compile(r"^ingest_date=(\d{4}-\d{2}-\d{2})$")


def extract_bronze(ctx: JobContext, table: str) -> DataFrame:
    """Every line of Bronze `table` as (raw_record, source_file, ingest_date)."""
    bronze = ctx.paths.bronze(table)
    if not Storage(ctx.spark).exists(bronze):
        raise BadInputError(f"Bronze table {table} not found at {bronze}; "
                            "generate it first (python ingestion/generate_all.py)")
    return read_lines(ctx.spark, bronze)


def ingest_dates(fs: Storage, bronze: str) -> list[dt.date]:
    """The dates of a Bronze table's `ingest_date=YYYY-MM-DD` partitions, in order."""
    dates = []
    for name in fs.list_names(bronze):
        match = _INGEST_PARTITION.match(name)
        if match:
            try:
                dates.append(dt.date.fromisoformat(match.group(1)))
            except ValueError:
                continue
    return sorted(dates)


def silver_rows(classified: DataFrame, table: str) -> DataFrame:
    """The valid rows, in the Silver schema's column order."""
    columns = column_names(TABLES[table].silver_schema)
    return classified.filter(F.col("reject_reason").isNull()).select(*columns)


def quarantine_rows(classified: DataFrame) -> DataFrame:
    columns = column_names(QUARANTINE_SCHEMA)
    return classified.filter(F.col("reject_reason").isNotNull()).select(*columns)


def stage_silver(ctx: JobContext, table: str, classified: DataFrame) -> StepResult:
    """Write the staged Silver and quarantine versions of `table` from its classified rows."""
    store = TableStore(ctx.spark, ctx.paths)
    classified = classified.persist(StorageLevel.MEMORY_AND_DISK)
    started = time.perf_counter()
    try:
        counts = {r["reject_reason"]: r["count"]
                  for r in classified.groupBy("reject_reason").count().collect()}
        classified_at = time.perf_counter()
        date_column = TABLES[table].date_column
        silver = silver_rows(classified, table)
        store.write_staged(silver.repartition(date_column), ctx.paths.silver(table), (date_column,))
        store.write_staged(quarantine_rows(classified).coalesce(1), ctx.paths.quarantine(table))
        log.info("silver %s: classified in %.2fs, written in %.2fs", table,
                 classified_at - started, time.perf_counter() - classified_at)
    finally:
        classified.unpersist()
    written = counts.pop(None, 0)
    result = StepResult(
        rows_read=written + sum(counts.values()), rows_written=written,
        rows_quarantined=sum(counts.values()),
        outputs=[ctx.paths.staged(ctx.paths.silver(table)),
                 ctx.paths.staged(ctx.paths.quarantine(table))],
        details={"rejects": dict(sorted(counts.items()))})
    log.info("silver %s staged: %d read, %d valid, %d quarantined %s", table, result.rows_read,
             written, result.rows_quarantined, result.details["rejects"])
    return result


def staged_tables(store: TableStore) -> list[str]:
    """The Silver tables with a staged version waiting for the gate."""
    return [t for t in TABLES if store.has_staged(store.paths.silver(t))]


def publish_silver(store: TableStore, table: str) -> None:
    """Publish the staged Silver table and its quarantine (call only after the DQ gate passed)."""
    for published in (store.paths.quarantine(table), store.paths.silver(table)):
        if store.has_staged(published):
            store.publish(published)
        elif store.fs.has_data(published):
            log.info("%s: nothing staged, the published version stays (already published?)", published)
        else:
            raise BadInputError(f"{published}: nothing staged to publish; run the Silver job first")
