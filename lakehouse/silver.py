"""The I/O of the Bronze -> Silver jobs: read a Bronze table's lines, stage Silver and
quarantine as the run's new versions (published by the run's publish step, after the gate).

The table-specific part is each job's pure `transform(raw, ...)`.
"""
from __future__ import annotations

import logging
import time

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.bronze import list_bronze, read_lines
from lakehouse.contract import QUARANTINE_SCHEMA, TABLES, column_names
from lakehouse.errors import BadInputError
from lakehouse.steps import JobContext, StepResult
from lakehouse.storage import Storage
from lakehouse.tables import TableStore

log = logging.getLogger(__name__)


def extract_bronze(ctx: JobContext, table: str) -> DataFrame:
    """Every line of Bronze `table` as (raw_record, source_file, ingest_date)."""
    try:
        listing = list_bronze(Storage(ctx.spark), ctx.paths.bronze(table))
    except BadInputError as exc:
        raise BadInputError(f"Bronze table {table} {exc}") from None
    return read_lines(ctx.spark, listing)


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
        store.write_staged(silver.repartition(date_column), ctx.paths.silver(table), ctx.run_id,
                           (date_column,))
        store.write_staged(quarantine_rows(classified).coalesce(1), ctx.paths.quarantine(table),
                           ctx.run_id)
        log.info("silver %s: classified in %.2fs, written in %.2fs", table,
                 classified_at - started, time.perf_counter() - classified_at)
    finally:
        classified.unpersist()
    written = counts.pop(None, 0)
    result = StepResult(
        rows_read=written + sum(counts.values()), rows_written=written,
        rows_quarantined=sum(counts.values()),
        outputs=[ctx.paths.staged(ctx.paths.silver(table), ctx.run_id),
                 ctx.paths.staged(ctx.paths.quarantine(table), ctx.run_id)],
        details={"rejects": dict(sorted(counts.items()))})
    log.info("silver %s staged: %d read, %d valid, %d quarantined %s", table, result.rows_read,
             written, result.rows_quarantined, result.details["rejects"])
    return result


def staged_silver_tables(store: TableStore, run_id: str) -> list[str]:
    """The Silver tables run `run_id` staged (what its gate checks)."""
    return [t for t in TABLES if store.has_staged(store.paths.silver(t), run_id)]
