"""Silver payments -> Gold payments_daily: attempts, failures, refunds and net revenue by day.

    spark-submit spark_jobs/gold_payments_daily.py [--profile tiny] [--data-root data]
"""
from __future__ import annotations

import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.config import Enums
from lakehouse.contract import PAYMENTS, payments_daily_schema
from lakehouse.cli import job_main
from lakehouse.conform import conform
from lakehouse.gold import changed_dates_only, count_if, rate, read_silver, sum_if, write_gold
from lakehouse.steps import JobContext, StepResult

TABLE = "payments_daily"


def transform(payments: DataFrame, enums: Enums) -> DataFrame:
    """One row per payment_date; refunded_usd is positive, net = gross - refunded."""
    status = F.col("status")
    success = status == "success"
    daily = payments.groupBy(F.col("payment_date").alias("date")).agg(
        count_if(success).alias("successful_payments"),
        count_if(status == "failed").alias("failed_payments"),
        count_if(status == "refunded").alias("refunds"),
        sum_if("amount_usd", success).alias("gross_payments_usd"),
        (-sum_if("amount_usd", status == "refunded")).alias("refunded_usd"),
        *[sum_if("amount_usd", success & (F.col("method") == m)).alias(f"{m}_usd") for m in enums.method],
    )
    attempts = F.col("successful_payments") + F.col("failed_payments")
    return conform(daily.select(
        "*",
        attempts.alias("payment_attempts"),
        (F.col("gross_payments_usd") - F.col("refunded_usd")).alias("net_revenue_usd"),
        rate("failed_payments", attempts).alias("failure_rate"),
        rate("refunded_usd", "gross_payments_usd").alias("refund_rate"),
    ), payments_daily_schema(enums))


def run(ctx: JobContext) -> StepResult:
    # in an incremental run, only the dates it changed (None: all of them)
    payments, dates = changed_dates_only(ctx, TABLE, PAYMENTS, read_silver(ctx, PAYMENTS))
    daily = transform(payments, ctx.cfg.enums)
    return write_gold(ctx, daily, TABLE, rows_read=payments.count(), dates=dates)


def main(argv=None) -> int:
    return job_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
