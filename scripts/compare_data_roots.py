"""Compare the published Silver, quarantine and Gold tables of two data roots, row for row.

    python scripts/compare_data_roots.py DATA_ROOT_A DATA_ROOT_B

Every table must hold the same multiset of rows; quarantine the same multiset of
(raw_record, reject_reason): of two byte-identical lines either copy may be the one kept, so where
a quarantined copy came from may differ (each still points at a Bronze file holding its line).
Prints one line per table; exits 1 when any table differs.
"""
from __future__ import annotations

import sys
from pathlib import Path

from pyspark.sql import functions as F

from lakehouse.config import load_config
from lakehouse.contract import BRONZE_TABLES, USER_DAILY_FEATURES
from lakehouse.spark import get_spark

GOLD = ("events_daily", "orders_daily", "payments_daily", "daily_business_metrics", USER_DAILY_FEATURES)


def tables() -> list[str]:
    return ([f"silver/{t}" for t in BRONZE_TABLES] + [f"quarantine/{t}" for t in BRONZE_TABLES]
            + [f"gold/{t}" for t in GOLD])


def read(spark, root: Path, table: str):
    path = root / table
    is_delta = (path / "_delta_log").is_dir()      # Delta tables, or Parquet from older versions
    df = spark.read.format("delta").load(str(path)) if is_delta else spark.read.parquet(str(path))
    if table.startswith("quarantine/"):
        df = df.select("raw_record", "reject_reason")
    return df.select(*sorted(df.columns))


def compare_roots(spark, a: str, b: str, report=print) -> dict[str, str]:
    """Table -> how it differs, for every table that differs between data roots `a` and `b`."""
    differing = {}
    for table in tables():
        left, right = read(spark, Path(a), table), read(spark, Path(b), table)
        if left.dtypes != right.dtypes:
            differing[table] = f"DIFFERENT schema: {left.dtypes} vs {right.dtypes}"
        else:   # one job: each distinct row's count in A minus its count in B
            sides = (left.withColumn("_side", F.lit(1))
                     .unionByName(right.withColumn("_side", F.lit(-1))))
            diff = sides.groupBy(*left.columns).agg(F.sum("_side").alias("_n"))
            totals = diff.agg(F.sum(F.when(F.col("_n") > 0, F.col("_n"))).alias("a"),
                              F.sum(F.when(F.col("_n") < 0, -F.col("_n"))).alias("b")).first()
            only_a, only_b = int(totals["a"] or 0), int(totals["b"] or 0)
            if only_a or only_b:
                differing[table] = f"DIFFERENT: {only_a} rows only in A, {only_b} only in B"
        report(f"{table:<32} {differing.get(table, 'identical')}")
    return differing


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    spark = get_spark(load_config(profile="tiny").spark)
    spark.sparkContext.setLogLevel("ERROR")
    try:
        differing = compare_roots(spark, *(str(Path(p).resolve()) for p in argv))
    finally:
        spark.stop()
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
