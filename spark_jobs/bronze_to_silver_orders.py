"""Bronze orders -> Silver orders (latest version per order_id, + quarantine), staged.

    spark-submit spark_jobs/bronze_to_silver_orders.py [--profile tiny] [--data-root data]
"""
from __future__ import annotations

import sys
from decimal import Decimal

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.cli import job_main
from lakehouse.config import Enums
from lakehouse.conform import conform
from lakehouse.contract import classified_schema, ORDERS, TABLES
from lakehouse.parsing import (carried_columns, normalize_currency, normalize_enum, parse_fields,
                               parse_money, parse_timestamp, to_usd)
from lakehouse.silver import stage_silver
from lakehouse.steps import JobContext, StepResult
from lakehouse.validation import check, rank

SPEC = TABLES[ORDERS]


def checked(raw: DataFrame, enums: Enums, fx_rates: dict[str, Decimal]) -> DataFrame:
    """Raw lines (raw_record, source_file, ingest_date) -> typed rows with the first of rules 1-6
    they break as `reject_reason` (rule 7 ranks them after: `transform`)."""
    r = parse_fields(raw, SPEC.raw_fields)
    order_ts = parse_timestamp(F.col("r_order_ts"))
    total_amount = parse_money(F.col("r_total_amount"))
    currency = normalize_currency(F.col("r_currency"))
    typed = r.select(
        *carried_columns(SPEC.required),
        F.col("r_order_id").try_cast("bigint").alias("order_id"),
        F.col("r_user_id").alias("user_id"),
        order_ts.alias("order_ts"),
        parse_timestamp(F.col("r_updated_at")).alias("updated_at"),
        F.col("r_product_id").alias("product_id"),
        F.col("r_category").alias("category"),
        parse_money(F.col("r_price")).alias("price"),
        F.col("r_quantity").try_cast("int").alias("quantity"),
        total_amount.alias("total_amount"),
        currency.alias("currency"),
        to_usd(total_amount, currency, fx_rates).alias("total_amount_usd"),
        normalize_enum(F.col("r_status")).alias("status"),
        F.to_date(order_ts).alias("order_date"),
    )
    # the parser's helper columns (r_*, is_object) end here: drop_extra
    return conform(check(typed, SPEC, enums), classified_schema(ORDERS), drop_extra=True)


def transform(raw: DataFrame, enums: Enums, fx_rates: dict[str, Decimal]) -> DataFrame:
    """Raw lines -> typed orders with `reject_reason`; all but the latest version are duplicates."""
    return rank(checked(raw, enums, fx_rates), SPEC)


def run(ctx: JobContext) -> StepResult:
    # extract (the Bronze partitions this run reads) -> check -> rank -> load (staged)
    return stage_silver(ctx, ORDERS, lambda raw: checked(raw, ctx.cfg.enums, ctx.cfg.fx_rates_to_usd))


def main(argv=None) -> int:
    return job_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
