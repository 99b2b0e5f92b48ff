"""Gold events_daily + orders_daily + payments_daily -> daily_business_metrics, the master table.

    spark-submit spark_jobs/gold_daily_business_metrics.py [--profile tiny] [--data-root data]
"""
from __future__ import annotations

import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.config import Enums
from lakehouse.contract import daily_business_metrics_schema, schema_columns
from lakehouse.cli import job_main
from lakehouse.conform import conform
from lakehouse.gold import count_rows, rate, read_gold, write_gold
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
    # Always in full: its inputs are the three daily tables, one row a day each; finding the
    # changed dates would cost more than joining them.
    sources = [read_gold(ctx, t) for t in ("events_daily", "orders_daily", "payments_daily")]
    metrics = transform(*sources, ctx.cfg.enums)
    return write_gold(ctx, metrics, TABLE, rows_read=count_rows(sources))


def main(argv=None) -> int:
    return job_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
