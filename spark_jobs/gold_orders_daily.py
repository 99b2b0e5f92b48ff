"""Silver orders -> Gold orders_daily: orders, cancellations, buyers, items and revenue by day.

    spark-submit spark_jobs/gold_orders_daily.py [--profile tiny] [--data-root data]
"""
from __future__ import annotations

import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.contract import ORDERS, ORDERS_DAILY_SCHEMA
from lakehouse.cli import job_main
from lakehouse.conform import conform
from lakehouse.gold import changed_dates_only, count_if, rate, read_silver, sum_if, write_gold
from lakehouse.steps import JobContext, StepResult

TABLE = "orders_daily"


def transform(orders: DataFrame) -> DataFrame:
    """One row per order_date over each order's latest status; returned counts as non-cancelled."""
    status = F.col("status")
    kept = status != "cancelled"
    daily = orders.groupBy(F.col("order_date").alias("date")).agg(
        F.count(F.lit(1)).alias("orders"),
        count_if(status == "cancelled").alias("cancelled_orders"),
        count_if(status == "returned").alias("returned_orders"),
        count_if(kept).alias("non_cancelled_orders"),
        F.count_distinct(F.when(kept, F.col("user_id"))).alias("unique_buyers"),
        sum_if("quantity", kept).alias("items_sold"),
        sum_if("total_amount_usd", kept).alias("gross_revenue_usd"),
    )
    return conform(daily.select(
        "*",
        rate("cancelled_orders", "orders").alias("cancellation_rate"),
        rate("gross_revenue_usd", "non_cancelled_orders").alias("aov_usd"),
    ), ORDERS_DAILY_SCHEMA)


def run(ctx: JobContext) -> StepResult:
    # in an incremental run, only the dates it changed (None: all of them)
    orders, dates = changed_dates_only(ctx, TABLE, ORDERS, read_silver(ctx, ORDERS))
    daily = transform(orders)
    return write_gold(ctx, daily, TABLE, rows_read=orders.count(), dates=dates)


def main(argv=None) -> int:
    return job_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
