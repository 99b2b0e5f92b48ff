"""Compare the published Silver, quarantine and Gold tables of two data roots, row for row.

    python scripts/compare_data_roots.py DATA_ROOT_A DATA_ROOT_B

Every table must hold the same multiset of rows (quarantine's `source_file` is compared relative
to its data root). Prints one line per table; exits 1 when any table differs.
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
    if "source_file" in df.columns:        # an absolute URI: keep the part under the data root
        df = df.withColumn("source_file", F.substring_index("source_file", "/bronze/", -1))
    return df.select(*sorted(df.columns))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    a, b = (Path(p).resolve() for p in argv)
    spark = get_spark(load_config(profile="tiny").spark)
    spark.sparkContext.setLogLevel("ERROR")
    differing = 0
    for table in tables():
        left, right = read(spark, a, table), read(spark, b, table)
        if left.dtypes != right.dtypes:
            print(f"{table:<32} DIFFERENT schema: {left.dtypes} vs {right.dtypes}")
            differing += 1
            continue
        only_a, only_b = left.exceptAll(right).count(), right.exceptAll(left).count()
        same = only_a == only_b == 0
        differing += not same
        print(f"{table:<32} {left.count():>8} rows  "
              + ("identical" if same else f"DIFFERENT: {only_a} only in A, {only_b} only in B"))
    spark.stop()
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
