"""Bronze user_events -> Silver user_events (+ quarantine), staged for the data-quality gate.

    spark-submit spark_jobs/bronze_to_silver_users.py [--profile tiny] [--data-root data]
"""
from __future__ import annotations

import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.cli import job_main
from lakehouse.config import Enums
from lakehouse.conform import conform
from lakehouse.contract import classified_schema, TABLES, USER_EVENTS
from lakehouse.parsing import carried_columns, normalize_enum, parse_fields, parse_money, parse_timestamp
from lakehouse.silver import stage_silver
from lakehouse.steps import JobContext, StepResult
from lakehouse.validation import check, rank

SPEC = TABLES[USER_EVENTS]


def checked(raw: DataFrame, enums: Enums, pii_salt: str) -> DataFrame:
    """Raw lines (raw_record, source_file, ingest_date) -> typed rows with the first of rules 1-6
    they break as `reject_reason` (rule 7 ranks them after: `transform`)."""
    r = parse_fields(raw, SPEC.raw_fields)
    event_type = normalize_enum(F.col("r_event_type"))
    event_ts = parse_timestamp(F.col("r_event_ts"))
    typed = r.select(
        *carried_columns(SPEC.required),
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
    # the parser's helper columns (r_*, is_object) end here: drop_extra
    return conform(check(typed, SPEC, enums), classified_schema(USER_EVENTS), drop_extra=True)


def transform(raw: DataFrame, enums: Enums, pii_salt: str) -> DataFrame:
    """Raw lines (raw_record, source_file, ingest_date) -> typed rows with `reject_reason`."""
    return rank(checked(raw, enums, pii_salt), SPEC)


def run(ctx: JobContext) -> StepResult:
    # extract (the Bronze partitions this run reads) -> check -> rank -> load (staged)
    return stage_silver(ctx, USER_EVENTS, lambda raw: checked(raw, ctx.cfg.enums, ctx.cfg.pii_salt))


def main(argv=None) -> int:
    return job_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
