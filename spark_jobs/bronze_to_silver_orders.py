"""Bronze orders -> Silver orders (latest version per order_id, + quarantine), staged.

    spark-submit spark_jobs/bronze_to_silver_orders.py [--profile tiny] [--data-root data]
"""
from __future__ import annotations

import sys
from decimal import Decimal

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.config import Config, Enums
from lakehouse.contract import CONTRACTS, ORDERS, classified_columns
from lakehouse.jobs import StepResult, job_main
from lakehouse.parsing import (carried_columns, normalize_currency, normalize_enum, parse_fields,
                               parse_money, parse_timestamp, required_present, to_usd)
from lakehouse.paths import DataPaths
from lakehouse.silver import stage_silver
from lakehouse.validation import Rule, classify, sql_list

CONTRACT = CONTRACTS[ORDERS]


def rules(enums: Enums) -> list[Rule]:
    return [
        ("malformed_json", "is_object"),
        ("missing_required_field", required_present(CONTRACT.required)),
        ("invalid_timestamp", "order_ts IS NOT NULL AND updated_at IS NOT NULL"),
        ("invalid_status", f"status IN {sql_list(enums.order_status)}"),
        ("invalid_currency", f"currency IN {sql_list(enums.currency)}"),
        ("invalid_order_id", "order_id IS NOT NULL"),
        ("invalid_quantity", "quantity >= 1"),
        ("invalid_price", "price > 0"),
        ("amount_mismatch", "abs(total_amount - price * quantity) <= 0.01"),
    ]


def transform(raw: DataFrame, enums: Enums, fx_rates: dict[str, Decimal]) -> DataFrame:
    """Raw lines -> typed orders with `reject_reason`; all but the latest version are duplicates."""
    r = parse_fields(raw, CONTRACT.raw_fields)
    order_ts = parse_timestamp(F.col("r_order_ts"))
    total_amount = parse_money(F.col("r_total_amount"))
    currency = normalize_currency(F.col("r_currency"))
    typed = r.select(
        *carried_columns(CONTRACT.required),
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
    return classify(typed, rules(enums), key="order_id", newest_first=[F.col("updated_at").desc()]).select(
        *classified_columns(ORDERS))


def run(spark: SparkSession, cfg: Config, paths: DataPaths) -> StepResult:
    return stage_silver(spark, cfg, paths, ORDERS,
                        lambda raw, c: transform(raw, c.enums, c.fx_rates_to_usd))


def main(argv=None) -> int:
    return job_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
