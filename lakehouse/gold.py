"""What the Gold jobs share: ANSI-safe rates, conforming to the contract's schema, the write."""
from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.contract import schema_columns
from lakehouse.jobs import StepResult
from lakehouse.paths import DataPaths
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


def conform(df: DataFrame, ddl: str) -> DataFrame:
    """Select exactly the contract's columns, in its order, with its types."""
    return df.select(*[F.col(name).cast(dtype).alias(name) for name, dtype in schema_columns(ddl)])


def read_silver(spark: SparkSession, paths: DataPaths, table: str) -> DataFrame:
    return TableStore(spark, paths).read_published(paths.silver(table))


def read_gold(spark: SparkSession, paths: DataPaths, table: str) -> DataFrame:
    return TableStore(spark, paths).read_published(paths.gold(table))


def write_gold(spark: SparkSession, paths: DataPaths, df: DataFrame, table: str,
               rows_read: int, partition_by: Sequence[str] = ()) -> StepResult:
    """Write a Gold table atomically: one file for a daily table, one per date when partitioned."""
    out = df.repartition(*partition_by) if partition_by else df.coalesce(1)
    target = paths.gold(table)
    store = TableStore(spark, paths)
    store.write_atomic(out, target, partition_by)
    return StepResult(rows_read=rows_read, rows_written=spark.read.parquet(target).count(),
                      outputs=[target])
