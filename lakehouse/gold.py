"""What the Gold jobs share: ANSI-safe rates and conditional aggregates, reading Silver, the write."""
from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.publish import read_input
from lakehouse.steps import JobContext, StepResult
from lakehouse.tables import TableStore


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


def read_silver(ctx: JobContext, table: str) -> DataFrame:
    """This run's gated Silver version if it staged one, else the published one."""
    return read_input(ctx, ctx.paths.silver(table))


def read_gold(ctx: JobContext, table: str) -> DataFrame:
    return read_input(ctx, ctx.paths.gold(table))


def write_gold(ctx: JobContext, df: DataFrame, table: str, rows_read: int,
               partition_by: Sequence[str] = ()) -> StepResult:
    """Stage the run's new version of a Gold table: one file for a daily table, one per date
    when partitioned. The run's publish step commits it with everything else the run wrote."""
    out = df.repartition(*partition_by) if partition_by else df.coalesce(1)
    store = TableStore(ctx.spark, ctx.paths)
    target = ctx.paths.gold(table)
    store.write_staged(out, target, ctx.run_id, partition_by)
    return StepResult(rows_read=rows_read,
                      rows_written=store.read_staged(target, ctx.run_id)[0].count(),
                      outputs=[ctx.paths.staged(target, ctx.run_id)])
