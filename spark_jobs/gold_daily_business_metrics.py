"""Gold events_daily + orders_daily + payments_daily -> daily_business_metrics, the master table.

    spark-submit spark_jobs/gold_daily_business_metrics.py [--profile tiny] [--data-root data]
"""
from __future__ import annotations

import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.config import Enums
from lakehouse.contract import (ORDERS, PAYMENTS, USER_EVENTS, daily_business_metrics_schema,
                                schema_columns)
from lakehouse.cli import job_main
from lakehouse.conform import conform
from lakehouse.gold import changed_dates, rate, read_gold, silver_changes, write_gold
from lakehouse.steps import JobContext, StepResult

TABLE = "daily_business_metrics"


def transform(events_daily: DataFrame, orders_daily: DataFrame, payments_daily: DataFrame,
              enums: Enums) -> DataFrame:
    """One row per date in any source: counts and money 0 where a source has no row, rates NULL."""
    joined = (events_daily.join(orders_daily, on="date", how="full")
              .join(payments_daily, on="date", how="full"))
    ddl = daily_business_metrics_schema(enums)
    filled = [
        F.col(name) if dtype == "double" or name == "date" else F.coalesce(F.col(name), F.lit(0)).alias(name)
        for name, dtype in schema_columns(ddl) if name in joined.columns]
    base = joined.select(*filled)
    return conform(base.select(
        "*",
        rate("net_revenue_usd", "unique_users").alias("revenue_per_visitor_usd"),
        rate("orders", "unique_sessions").alias("orders_per_session"),
        rate("gross_payments_usd", "gross_revenue_usd").alias("payment_capture_rate"),
    ), ddl)


def run(ctx: JobContext) -> StepResult:
    sources = [read_gold(ctx, t) for t in ("events_daily", "orders_daily", "payments_daily")]
    changes = silver_changes(ctx, TABLE, (USER_EVENTS, ORDERS, PAYMENTS))
    dates = None if changes is None else changed_dates(changes)
    if dates is not None:                     # recompute the changed dates only
        sources = [df.filter(F.col("date").isin(dates)) for df in sources]
    metrics = transform(*sources, ctx.cfg.enums)
    return write_gold(ctx, metrics, TABLE, rows_read=sum(df.count() for df in sources), dates=dates)


def main(argv=None) -> int:
    return job_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
