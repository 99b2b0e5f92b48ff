"""Bronze payments -> Silver payments (+ quarantine), staged for the data-quality gate.

    spark-submit spark_jobs/bronze_to_silver_payments.py [--profile tiny] [--data-root data]
"""
from __future__ import annotations

import sys
from decimal import Decimal

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.config import Config, Enums
from lakehouse.contract import CONTRACTS, PAYMENTS, classified_columns
from lakehouse.jobs import StepResult, job_main
from lakehouse.parsing import (carried_columns, normalize_currency, normalize_enum, parse_fields,
                               parse_money, parse_timestamp, required_present, to_usd)
from lakehouse.paths import DataPaths
from lakehouse.silver import stage_silver
from lakehouse.validation import Rule, classify, sql_list

CONTRACT = CONTRACTS[PAYMENTS]

# Refunds carry negative amounts; every other status a positive one.
AMOUNT_SIGN_RULE = "CASE WHEN status = 'refunded' THEN amount < 0 ELSE amount > 0 END"


def rules(enums: Enums) -> list[Rule]:
    return [
        ("malformed_json", "is_object"),
        ("missing_required_field", required_present(CONTRACT.required)),
        ("invalid_timestamp", "payment_ts IS NOT NULL"),
        ("invalid_status", f"status IN {sql_list(enums.payment_status)}"),
        ("invalid_method", f"method IN {sql_list(enums.method)}"),
        ("invalid_currency", f"currency IN {sql_list(enums.currency)}"),
        ("invalid_order_id", "order_id IS NOT NULL"),
        ("invalid_amount_sign", AMOUNT_SIGN_RULE),
    ]


def transform(raw: DataFrame, enums: Enums, fx_rates: dict[str, Decimal]) -> DataFrame:
    """Raw lines -> typed payments with `reject_reason`."""
    r = parse_fields(raw, CONTRACT.raw_fields)
    payment_ts = parse_timestamp(F.col("r_payment_ts"))
    amount = parse_money(F.col("r_amount"))
    currency = normalize_currency(F.col("r_currency"))
    typed = r.select(
        *carried_columns(CONTRACT.required),
        F.col("r_payment_id").alias("payment_id"),
        F.col("r_order_id").try_cast("bigint").alias("order_id"),
        payment_ts.alias("payment_ts"),
        normalize_enum(F.col("r_method")).alias("method"),
        normalize_enum(F.col("r_status")).alias("status"),
        amount.alias("amount"),
        currency.alias("currency"),
        to_usd(amount, currency, fx_rates).alias("amount_usd"),
        F.to_date(payment_ts).alias("payment_date"),
    )
    return classify(typed, rules(enums), key="payment_id", newest_first=[]).select(
        *classified_columns(PAYMENTS))


def run(spark: SparkSession, cfg: Config, paths: DataPaths) -> StepResult:
    return stage_silver(spark, cfg, paths, PAYMENTS,
                        lambda raw, c: transform(raw, c.enums, c.fx_rates_to_usd))


def main(argv=None) -> int:
    return job_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
