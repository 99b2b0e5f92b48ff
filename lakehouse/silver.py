"""The I/O of the Bronze -> Silver jobs: plan which Bronze partitions to read, classify them
(together with the published rows they can collide with, in an incremental run), and stage
Silver, its lineage and quarantine as the run's new versions (published by the run's publish
step, after the gate).

The table-specific part is each job's pure `checked(raw, ...)`: raw lines in, every line typed
and checked against rules 1-6 out; rule 7 (`lakehouse.validation.rank`) then ranks whatever
checked rows it is given.

An incremental or backfill run (docs/incremental.md) ranks the pool a full refresh would rank
for the keys it touches, and nothing else:
- the lines of the ingest partitions it (re)processes, checked;
- for every key among their valid rows: the published survivor, as it was checked when it was
  published (its Silver row, with its line from the lineage table);
- in a backfill, also every key whose published row or quarantined duplicate came from a
  replaced partition, and those keys' quarantined duplicates, checked again (with their
  survivor gone, one of them may win); the old rows of a replaced partition never enter the
  pool: its files are read again instead.
Rule 7 then picks the same survivor as over all Bronze. Silver and lineage are staged as the
date partitions that changed; quarantine as the rows to append (incremental) or whole
(backfill); the Silver rows removed and added as the run's changes, from which Gold recomputes
what they affect.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.bronze import BronzeListing, read_lines
from lakehouse.conform import conform, literal_rows
from lakehouse.contract import (DUPLICATE, QUARANTINE_SCHEMA, TABLES, classified_schema, column_names,
                                lineage_schema)
from lakehouse.incremental import FULL, NOTHING, IngestPlan, plan_run
from lakehouse.publish import open_table, published_versions, recover
from lakehouse.steps import JobContext, StepResult
from lakehouse.tables import TableStore
from lakehouse.validation import rank

log = logging.getLogger(__name__)

Check = Callable[[DataFrame], DataFrame]        # raw lines -> checked rows (rules 1-6)
RAW_COLUMNS = ("raw_record", "source_file", "ingest_date")      # a Bronze line and where it is


def plan_table(ctx: JobContext, table: str) -> IngestPlan:
    """Which Bronze partitions of `table` this run reads (lakehouse/incremental.py)."""
    store = TableStore(ctx.spark, ctx.paths)
    recover(store)          # an interrupted publish completes first: it changes the state
    return plan_run(store.fs, ctx.paths, ctx.mode, (table,))[table]


def _outputs(ctx: JobContext, table: str) -> tuple[str, str, str]:
    return ctx.paths.silver(table), ctx.paths.lineage(table), ctx.paths.quarantine(table)


def read_bronze(ctx: JobContext, listing: BronzeListing) -> DataFrame:
    """The listed partitions' lines as (raw_record, source_file, ingest_date)."""
    if not listing.files:
        return literal_rows(ctx.spark, [], "raw_record string, source_file string, ingest_date date")
    return read_lines(ctx.spark, listing)


def silver_rows(classified: DataFrame, table: str) -> DataFrame:
    """The valid rows, in the Silver schema's column order."""
    columns = column_names(TABLES[table].silver_schema)
    return classified.filter(F.col("reject_reason").isNull()).select(*columns)


def lineage_rows(classified: DataFrame, table: str) -> DataFrame:
    return classified.filter(F.col("reject_reason").isNull()).select(*column_names(lineage_schema(table)))


def quarantine_rows(classified: DataFrame) -> DataFrame:
    columns = column_names(QUARANTINE_SCHEMA)
    return classified.filter(F.col("reject_reason").isNotNull()).select(*columns)


def stage_silver(ctx: JobContext, table: str, check: Check) -> StepResult:
    """Plan, read, classify and stage `table`'s Silver, lineage and quarantine versions."""
    plan = plan_table(ctx, table)
    log.info("silver %s", plan.describe())
    if plan.kind == NOTHING:
        return StepResult(details={"mode": plan.kind, "read": []})
    store = TableStore(ctx.spark, ctx.paths)
    lines = read_bronze(ctx, plan.listing)
    if plan.kind == FULL:
        classified, changes = rank(check(lines), TABLES[table]).persist(StorageLevel.MEMORY_AND_DISK), None
    else:
        classified, changes = _pool_classified(ctx, store, table, plan, lines, check)
    started = time.perf_counter()
    try:
        read = F.col("ingest_date").isin(plan.read_dates)      # the lines read from Bronze
        # one pass counts lines per ingest date and reason, and finds the dates of valid rows
        counts = classified.groupBy(read.alias("read"), "ingest_date", "reject_reason",
                                    F.col(TABLES[table].date_column).alias("date")).count().collect()
        classified_at = time.perf_counter()
        _stage(ctx, store, table, plan, classified, changes, _lines_per_date(counts),
               sorted({r["date"] for r in counts if r["reject_reason"] is None}))
        log.info("silver %s: classified in %.2fs, written in %.2fs", table,
                 classified_at - started, time.perf_counter() - classified_at)
    finally:
        classified.unpersist()
    rejects: dict[str, int] = {}
    for r in counts:
        if r["reject_reason"] is not None:
            rejects[r["reject_reason"]] = rejects.get(r["reject_reason"], 0) + r["count"]
    lines_read = sum(r["count"] for r in counts if r["read"])
    valid = sum(r["count"] for r in counts if r["reject_reason"] is None)
    result = StepResult(
        rows_read=lines_read, rows_written=valid, rows_quarantined=sum(rejects.values()),
        outputs=[ctx.paths.staged(p, ctx.run_id) for p in _outputs(ctx, table)],
        details={"mode": plan.kind, "read": [d.isoformat() for d in plan.read_dates],
                 "replaced": [d.isoformat() for d in plan.replaced],
                 "rejects": dict(sorted(rejects.items()))})
    log.info("silver %s staged (%s): %d Bronze lines read, %d rows ranked, %d valid, %d quarantined %s",
             table, plan.kind, lines_read, valid + result.rows_quarantined, valid,
             result.rows_quarantined, result.details["rejects"])
    return result


def _lines_per_date(counts) -> dict[dt.date, int]:
    lines: dict[dt.date, int] = {}
    for r in counts:
        if r["read"]:
            lines[r["ingest_date"]] = lines.get(r["ingest_date"], 0) + r["count"]
    return lines


def _pool_classified(ctx: JobContext, store: TableStore, table: str, plan: IngestPlan,
                     lines: DataFrame, check: Check) -> tuple[DataFrame, dict]:
    """Rank the new lines together with what they can collide with (module docstring).
    Returns the classified pool and what the staging needs to know about the published rows."""
    spec = TABLES[table]
    key, date_column = spec.key, spec.date_column
    silver, lineage, quarantine = (open_table(store, p) for p in _outputs(ctx, table))
    redo = F.col("ingest_date").isin(plan.reprocessed)
    passed = F.col("reject_reason").isNull()
    # Checked once, and cut from its plan (localCheckpoint) before it feeds the pool: the
    # analyzer re-walks a whole plan on every DataFrame call, and a transform nested in another
    # made that the main cost of a small run.
    new = check(lines).localCheckpoint()
    keys = new.filter(passed).select(key)
    pool = new
    if plan.replaced:
        # A backfill re-ranks every key published from a replaced partition, and may remove a
        # key's survivor: its quarantined duplicates compete again. (An incremental run reads
        # unpublished partitions only: no published row comes from them.)
        duplicates = check(quarantine.filter(F.col("reject_reason") == DUPLICATE)
                           .select(*RAW_COLUMNS)).localCheckpoint()
        keys = (keys.union(lineage.filter(redo).select(key)).union(duplicates.filter(redo).select(key))
                .distinct().localCheckpoint())
        pool = pool.unionByName(duplicates.filter(~redo).join(keys, key, "left_semi"))
        kept_quarantine = (quarantine.filter(~redo & (F.col("reject_reason") != DUPLICATE))
                           .unionByName(duplicates.filter(~redo).join(keys, key, "left_anti")
                                        .withColumn("reject_reason", F.lit(DUPLICATE))
                                        .select(*column_names(QUARANTINE_SCHEMA))))
    else:
        # Only new lines: a quarantined duplicate lost to a survivor that stays in the pool, so
        # it can never win; quarantine only grows (appended).
        keys = keys.distinct().localCheckpoint()
        kept_quarantine = None
    # The published survivors of those keys, as they were checked: their Silver rows with their
    # lines from the lineage table. Found on the key and date columns first, so that both are
    # read from those date partitions only.
    displaced_dates = sorted(r[0] for r in lineage.select(key, date_column).join(keys, key, "left_semi")
                             .select(date_column).distinct().collect())
    in_dates = F.col(date_column).isin(displaced_dates)
    survivor_lines = (lineage.filter(in_dates & ~redo).join(keys, key, "left_semi")
                      .select(key, *RAW_COLUMNS))
    survivors = (silver.filter(in_dates).join(survivor_lines, key)
                 .withColumn("reject_reason", F.lit(None).cast("string")))
    pool = pool.unionByName(conform(survivors, classified_schema(table)))
    published = {"silver": silver, "lineage": lineage, "keys": keys,
                 "displaced_dates": displaced_dates,
                 "quarantine": kept_quarantine, "versions": published_versions(store)}
    return rank(pool, spec).persist(StorageLevel.MEMORY_AND_DISK), published


def _stage(ctx: JobContext, store: TableStore, table: str, plan: IngestPlan, classified: DataFrame,
           published: dict | None, lines: dict[dt.date, int], new_dates: list[dt.date]) -> None:
    """Write the staged versions: in full, or as the changed date partitions plus the changes
    (`new_dates`: the dates of the classified valid rows)."""
    spec = TABLES[table]
    date_column, key = spec.date_column, spec.key
    silver_path, lineage_path, quarantine_path = _outputs(ctx, table)
    ingest = {"table": table, "state": plan.state_after(lines),
              "read": [d.isoformat() for d in plan.read_dates], "kind": plan.kind,
              "kept_lines": sum(e["lines"] for e in plan.kept.values())}
    survivors, survivor_lineage = silver_rows(classified, table), lineage_rows(classified, table)
    quarantined = quarantine_rows(classified)
    partition_by = (date_column,)
    # columns with a different value in every row (rule 7 leaves one valid row per key)
    distinct = {silver_path: (key,), lineage_path: (key, "raw_record"),
                quarantine_path: ("raw_record",)}

    def write(df: DataFrame, path: str, by: tuple[str, ...] = partition_by, **kwargs) -> None:
        store.write_staged(df, path, ctx.run_id, by, distinct=distinct[path], **kwargs)

    if published is None:
        write(survivors.repartition(date_column), silver_path, ingest=ingest)
        write(survivor_lineage.repartition(date_column), lineage_path)
        write(quarantined.coalesce(1), quarantine_path, ())
        return
    keys = published["keys"]
    # the published survivors of the re-ranked keys leave their date partitions
    dates = sorted(set(published["displaced_dates"]) | set(new_dates))
    in_dates = F.col(date_column).isin(dates)
    versions = published["versions"]

    def replace(path: str) -> dict:
        return {"column": date_column, "values": [d.isoformat() for d in dates],
                "base_version": versions[ctx.paths.relative(path)]}

    def append(path: str) -> dict:
        return {"append": True, "base_version": versions[ctx.paths.relative(path)]}

    removed = published["silver"].filter(in_dates).join(keys, key, "left_semi")
    (removed.withColumn("_change", F.lit("removed"))
     .unionByName(survivors.withColumn("_change", F.lit("added")))
     .coalesce(1).write.mode("overwrite").parquet(ctx.paths.changes(table, ctx.run_id)))
    kept = published["silver"].filter(in_dates).join(keys, key, "left_anti")
    write(kept.unionByName(survivors).repartition(date_column), silver_path,
          replace=replace(silver_path), ingest=ingest)
    kept_lineage = published["lineage"].filter(in_dates).join(keys, key, "left_anti")
    write(kept_lineage.unionByName(survivor_lineage).repartition(date_column), lineage_path,
          replace=replace(lineage_path))
    if published["quarantine"] is None:       # appended to the published table
        write(quarantined.coalesce(1), quarantine_path, (), replace=append(quarantine_path))
    else:
        write(published["quarantine"].unionByName(quarantined).coalesce(1), quarantine_path, ())


def staged_silver_tables(store: TableStore, run_id: str) -> list[str]:
    """The Silver tables run `run_id` staged (what its gate checks)."""
    return [t for t in TABLES if store.has_staged(store.paths.silver(t), run_id)]
