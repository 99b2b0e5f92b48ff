"""What the Gold jobs share: ANSI-safe rates and conditional aggregates, reading Silver, what
changed in this run, and the write.

A Gold job recomputes in full when the run staged a full Silver version (or none, or the Gold
table was never published, or the history is still short: `_cheaper_in_full`); when the run
staged partial Silver versions (an incremental or backfill run), it recomputes only what the
Silver rows the run removed and added affect
(`silver_changes`): the daily rows of their dates, and in user_daily_features the rows of
their users from their earliest changed date on (docs/incremental.md).
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.conform import literal_rows
from lakehouse.contract import TABLES
from lakehouse.publish import is_published, open_table, published_versions, read_input, read_json
from lakehouse.steps import JobContext, StepResult
from lakehouse.tables import TableStore

log = logging.getLogger(__name__)


def rate(numerator: str | Column, denominator: str | Column, when_zero: float | None = None) -> Column:
    """double(a) / double(b); `when_zero` (NULL in business tables, 0.0 in features) when b = 0.

    Cast before dividing: decimal division of wide sums drops digits, and ANSI mode raises on
    division by zero, which the guard avoids.
    """
    a = F.col(numerator) if isinstance(numerator, str) else numerator
    b = F.col(denominator) if isinstance(denominator, str) else denominator
    fallback = F.lit(when_zero).cast("double")
    return F.when(b != 0, a.cast("double") / b.cast("double")).otherwise(fallback)


def count_if(condition: Column) -> Column:
    """Rows where `condition` is true, as bigint (0 when none)."""
    return F.count(F.when(condition, 1))


def sum_if(value: str, condition: Column) -> Column:
    """Sum of `value` where `condition` holds, 0 when none."""
    return F.coalesce(F.sum(F.when(condition, F.col(value))), F.lit(0))


def count_rows(frames: Sequence[DataFrame]) -> int:
    """The rows of all `frames` together, counted in one Spark job instead of one each."""
    return functools.reduce(DataFrame.union, (df.select(F.lit(1)) for df in frames)).count()


def read_silver(ctx: JobContext, table: str) -> DataFrame:
    """This run's gated Silver version if it staged one, else the published one."""
    return read_input(ctx, ctx.paths.silver(table))


def read_gold(ctx: JobContext, table: str) -> DataFrame:
    return read_input(ctx, ctx.paths.gold(table))


def silver_changes(ctx: JobContext, gold_table: str,
                   sources: Sequence[str]) -> dict[str, DataFrame] | None:
    """Per source Silver table, the rows this run removed and added (`_change`; empty when the
    run did not touch the table), or None when `gold_table` is to be recomputed in full."""
    store = TableStore(ctx.spark, ctx.paths)
    infos = {t: store.staged_info(ctx.paths.silver(t), ctx.run_id) for t in sources}
    staged = [i for i in infos.values() if i is not None]
    if (not staged or any(i.get("replace") is None for i in staged)
            or not is_published(store, ctx.paths.gold(gold_table))
            or _cheaper_in_full(ctx, store, gold_table, infos)):
        return None
    return {t: ctx.spark.read.schema(f"{TABLES[t].silver_schema}, _change string")
            .parquet(ctx.paths.changes(t, ctx.run_id)) if infos[t] else
            literal_rows(ctx.spark, [], f"{TABLES[t].silver_schema}, _change string")
            for t in sources}


def _cheaper_in_full(ctx: JobContext, store: TableStore, gold_table: str,
                     infos: dict[str, dict | None]) -> bool:
    """Whether the Silver sources are small enough that recomputing `gold_table` in full costs
    less than finding and recomputing what changed: fewer Bronze lines, once the run is
    published, than `incremental.gold_in_full_below_lines` (docs/incremental.md)."""
    below = ctx.cfg.incremental.gold_in_full_below_lines
    if below == 0:
        return False
    # per source, its ingest state once the run is published: staged with its Silver, or as is
    states = [info["ingest"]["state"] for info in infos.values() if info is not None]
    if len(states) < len(infos):
        published = (read_json(store, ctx.paths.publish_current) or {}).get("ingest", {})
        states += [published.get(table, {}) for table, info in infos.items() if info is None]
    lines = sum(entry["lines"] for state in states for entry in state.values())
    if lines < below:
        log.info("gold %s: recomputed in full: its Silver sources come from %d Bronze lines, fewer "
                 "than incremental.gold_in_full_below_lines (%d)", gold_table, lines, below)
    return lines < below


def changed(df: DataFrame, columns: Sequence[str]) -> DataFrame:
    """The rows of a change set whose `columns` differ between the removed and the added rows
    (a row removed and added again unchanged, e.g. a survivor re-ranked against a re-send, is
    no change)."""
    removed = df.filter(F.col("_change") == "removed").select(*columns)
    added = df.filter(F.col("_change") == "added").select(*columns)
    return removed.exceptAll(added).unionByName(added.exceptAll(removed))


def changed_dates(changes: dict[str, DataFrame]) -> list[dt.date]:
    """The dates (each table's date column) of the changed Silver rows: the daily rows to redo."""
    dates = None
    for table, df in changes.items():
        rows = changed(df, [c for c in df.columns if c != "_change"])
        column = rows.select(F.col(TABLES[table].date_column).alias("date"))
        dates = column if dates is None else dates.union(column)
    return sorted(r[0] for r in dates.distinct().collect())


def changed_dates_only(ctx: JobContext, gold_table: str, source: str,
                       silver: DataFrame) -> tuple[DataFrame, list[dt.date] | None]:
    """For a daily table of Silver `source`: the Silver rows of the dates this run changed and
    those dates, or (`silver`, None) when the table is recomputed in full."""
    changes = silver_changes(ctx, gold_table, (source,))
    if changes is None:
        return silver, None
    dates = changed_dates(changes)
    return silver.filter(F.col(TABLES[source].date_column).isin(dates)), dates


def write_gold(ctx: JobContext, df: DataFrame, table: str, rows_read: int,
               partition_by: Sequence[str] = (), dates: list[dt.date] | None = None) -> StepResult:
    """Stage the run's new version of a Gold table: one file for a daily table, one per date
    when partitioned. With `dates`, `df` holds the recomputed rows of those dates only: a daily
    table is staged whole (its other rows as published), a partitioned one as those date
    partitions. The run's publish step commits it with everything else the run wrote."""
    store = TableStore(ctx.spark, ctx.paths)
    target = ctx.paths.gold(table)
    replace = None
    if dates is not None:
        if partition_by:
            replace = {"column": "date", "values": [d.isoformat() for d in dates],
                       "base_version": published_versions(store)[ctx.paths.relative(target)]}
        else:
            published = open_table(store, target)
            df = published.filter(~F.col("date").isin(dates)).unionByName(df)
    out = df.repartition(*partition_by) if partition_by else df.coalesce(1)
    store.write_staged(out, target, ctx.run_id, partition_by, replace)
    written = store.staged_data(target, ctx.run_id, df.schema).count()
    log.info("gold %s staged: %s, %d rows written", table,
             "full" if dates is None else f"{len(dates)} date(s) recomputed", written)
    return StepResult(rows_read=rows_read, rows_written=written,
                      outputs=[ctx.paths.staged(target, ctx.run_id)],
                      details={"mode": "full" if dates is None else "incremental",
                               "dates": [d.isoformat() for d in dates or []]})
