"""Silver user_events -> Gold events_daily: the daily funnel, reach and device/source mix.

    spark-submit spark_jobs/gold_events_daily.py [--profile tiny] [--data-root data]
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.config import Enums
from lakehouse.contract import USER_EVENTS, events_daily_schema
from lakehouse.cli import job_main
from lakehouse.conform import conform
from lakehouse.gold import changed_dates_only, count_if, rate, read_silver, write_gold
from lakehouse.steps import JobContext, StepResult

TABLE = "events_daily"


def transform(events: DataFrame, enums: Enums) -> DataFrame:
    """One row per event_date; rates NULL when their denominator is 0."""
    event_type = F.col("event_type")
    daily = events.groupBy(F.col("event_date").alias("date")).agg(
        F.count(F.lit(1)).alias("total_events"),
        count_if(event_type == "view").alias("views"),
        count_if(event_type == "add_to_cart").alias("add_to_carts"),
        count_if(event_type == "checkout").alias("checkouts"),
        count_if(event_type == "purchase").alias("purchases"),
        F.count_distinct("user_id").alias("unique_users"),
        F.count_distinct("session_id").alias("unique_sessions"),
        F.count_distinct(F.when(event_type == "purchase", F.col("session_id"))).alias("converted_sessions"),
        *_dimension_counts("device", enums.device),
        *_dimension_counts("source", enums.source),
    )
    return conform(daily.select(
        "*",
        rate("add_to_carts", "views").alias("view_to_cart_rate"),
        rate("checkouts", "add_to_carts").alias("cart_to_checkout_rate"),
        rate("purchases", "checkouts").alias("checkout_to_purchase_rate"),
        rate("purchases", "views").alias("view_to_purchase_rate"),
        rate("converted_sessions", "unique_sessions").alias("session_conversion_rate"),
    ).drop("converted_sessions"), events_daily_schema(enums))


def _dimension_counts(column: str, values: Sequence[str]):
    return [count_if(F.col(column) == v).alias(f"{v}_events") for v in values]


def run(ctx: JobContext) -> StepResult:
    # in an incremental run, only the dates it changed (None: all of them)
    events, dates = changed_dates_only(ctx, TABLE, USER_EVENTS, read_silver(ctx, USER_EVENTS))
    daily = transform(events, ctx.cfg.enums)
    return write_gold(ctx, daily, TABLE, rows_read=events.count(), dates=dates)


def main(argv=None) -> int:
    return job_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
