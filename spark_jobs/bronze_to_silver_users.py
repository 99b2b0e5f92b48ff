"""Bronze user_events -> Silver user_events (+ quarantine), staged for the data-quality gate.

    spark-submit spark_jobs/bronze_to_silver_users.py [--profile tiny] [--data-root data]
"""
from __future__ import annotations

import sys

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.config import Config, Enums
from lakehouse.contract import CONTRACTS, USER_EVENTS, classified_columns
from lakehouse.jobs import StepResult, job_main
from lakehouse.parsing import (carried_columns, normalize_enum, parse_fields, parse_money,
                               parse_timestamp, required_present)
from lakehouse.paths import DataPaths
from lakehouse.silver import stage_silver
from lakehouse.validation import Rule, classify, sql_list

CONTRACT = CONTRACTS[USER_EVENTS]


def rules(enums: Enums) -> list[Rule]:
    return [
        ("malformed_json", "is_object"),
        ("missing_required_field", required_present(CONTRACT.required)),
        ("invalid_timestamp", "event_ts IS NOT NULL"),
        ("invalid_event_type", f"event_type IN {sql_list(enums.event_type)}"),
        ("invalid_dimension", f"(device IS NULL OR device IN {sql_list(enums.device)}) AND "
                              f"(source IS NULL OR source IN {sql_list(enums.source)})"),
        ("invalid_order_id", "event_type <> 'purchase' OR order_id IS NOT NULL"),
    ]


def transform(raw: DataFrame, enums: Enums, pii_salt: str) -> DataFrame:
    """Raw lines (raw_record, source_file, ingest_date) -> typed rows with `reject_reason`."""
    r = parse_fields(raw, CONTRACT.raw_fields)
    event_type = normalize_enum(F.col("r_event_type"))
    event_ts = parse_timestamp(F.col("r_event_ts"))
    typed = r.select(
        *carried_columns(CONTRACT.required),
        F.col("r_event_id").alias("event_id"),
        F.col("r_user_id").alias("user_id"),
        F.col("r_session_id").alias("session_id"),
        event_type.alias("event_type"),
        event_ts.alias("event_ts"),
        F.col("r_product_id").alias("product_id"),
        F.col("r_category").alias("category"),
        parse_money(F.col("r_price")).alias("price"),
        normalize_enum(F.col("r_device")).alias("device"),
        normalize_enum(F.col("r_source")).alias("source"),
        F.when(event_type == "purchase", F.col("r_order_id").try_cast("bigint")).alias("order_id"),
        F.when(F.col("r_ip_address").isNotNull(),
               F.sha2(F.concat(F.lit(pii_salt), F.col("r_ip_address")), 256)).alias("ip_hash"),
        F.col("r_user_agent").alias("user_agent"),
        F.to_date(event_ts).alias("event_date"),
    )
    return classify(typed, rules(enums), key="event_id", newest_first=[]).select(
        *classified_columns(USER_EVENTS))


def run(spark: SparkSession, cfg: Config, paths: DataPaths) -> StepResult:
    return stage_silver(spark, cfg, paths, USER_EVENTS,
                        lambda raw, c: transform(raw, c.enums, c.pii_salt))


def main(argv=None) -> int:
    return job_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
