"""user_daily_features on hand-written Silver rows: grain, features, point-in-time windows."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from chispa import assert_df_equality
from pyspark.sql import functions as F

from spark_jobs import gold_user_daily_features as features_job

from conftest import read_table

D = Decimal
ZERO = D("0.00")
THRESHOLD = 200.0


def day(n: int) -> dt.date:
    return dt.date(2026, 1, n)


COLUMNS = [
    ("user_id", "string"), ("date", "date"), ("views", "bigint"), ("add_to_carts", "bigint"),
    ("checkouts", "bigint"), ("purchases", "bigint"), ("sessions", "bigint"),
    ("view_to_cart_rate", "double"), ("cart_to_checkout_rate", "double"), ("orders", "bigint"),
    ("spend_usd", "decimal(18,2)"), ("avg_order_value_usd", "double"), ("payment_attempts", "bigint"),
    ("failed_payments", "bigint"), ("refunded_usd", "decimal(18,2)"), ("cart_abandon_flag", "int"),
    ("is_buyer_flag", "int"), ("has_failed_payment_flag", "int"), ("high_value_user_flag", "int"),
    ("spend_7d_usd", "decimal(18,2)"), ("orders_7d", "bigint"), ("days_since_prev_order", "int")]
DDL = ", ".join(f"{n} {t}" for n, t in COLUMNS)


def silver(spark, extra_day: bool = False):
    events = [
        ("u1", "s1", "view", day(1)), ("u1", "s1", "view", day(1)), ("u1", "s1", "add_to_cart", day(1)),
        ("u1", "s2", "view", day(2)), ("u1", "s2", "add_to_cart", day(2)),
        ("u1", "s2", "checkout", day(2)), ("u1", "s2", "purchase", day(2)),
        ("u1", "s9", "view", day(9)),
    ]
    orders = [
        (1, "u1", "cancelled", D("100.00"), day(1)),   # cancelled later: still placed on day 1
        (2, "u1", "returned", D("250.00"), day(2)),
        (3, "u1", "placed", D("50.00"), day(8)),       # no events that day
        (4, "u2", "delivered", D("200.00"), day(1)),   # exactly the high-value threshold
    ]
    payments = [
        (1, "success", D("100.00"), day(1)),
        (2, "failed", D("250.00"), day(2)), (2, "success", D("250.00"), day(2)),
        (2, "refunded", D("-250.00"), day(5)),        # a refund days later, no events that day
        (999, "success", D("10.00"), day(3)),         # unknown order: belongs to nobody
    ]
    if extra_day:
        events += [("u1", "s12", "view", day(12)), ("u2", "s13", "add_to_cart", day(12))]
        orders += [(5, "u1", "placed", D("999.00"), day(12))]
        payments += [(5, "failed", D("999.00"), day(12))]
    return (
        spark.createDataFrame(events, "user_id string, session_id string, event_type string, event_date date"),
        spark.createDataFrame(orders, "order_id bigint, user_id string, status string, "
                                      "total_amount_usd decimal(14,2), order_date date"),
        spark.createDataFrame(payments, "order_id bigint, status string, amount_usd decimal(14,2), "
                                        "payment_date date"),
    )


def test_features_by_hand(spark):
    actual = features_job.transform(*silver(spark), THRESHOLD)
    expected = spark.createDataFrame([
        ("u1", day(1), 2, 1, 0, 0, 1, 0.5, 0.0, 1, D("100.00"), 100.0, 1, 0, ZERO, 1, 1, 0, 0,
         D("100.00"), 1, None),                                   # no previous order: NULL
        ("u1", day(2), 1, 1, 1, 1, 1, 1.0, 1.0, 1, D("250.00"), 250.0, 2, 1, ZERO, 0, 1, 1, 1,
         D("350.00"), 2, 1),
        ("u1", day(5), 0, 0, 0, 0, 0, 0.0, 0.0, 0, ZERO, 0.0, 0, 0, D("250.00"), 0, 0, 0, 0,
         D("350.00"), 2, 3),                                      # payments, no events
        ("u1", day(8), 0, 0, 0, 0, 0, 0.0, 0.0, 1, D("50.00"), 50.0, 0, 0, ZERO, 0, 1, 0, 0,
         D("300.00"), 2, 6),                                      # window [day 2, day 8]
        ("u1", day(9), 1, 0, 0, 0, 1, 0.0, 0.0, 0, ZERO, 0.0, 0, 0, ZERO, 0, 0, 0, 0,
         D("50.00"), 1, 1),                                       # window [day 3, day 9]: a gap
        ("u2", day(1), 0, 0, 0, 0, 0, 0.0, 0.0, 1, D("200.00"), 200.0, 0, 0, ZERO, 0, 1, 0, 1,
         D("200.00"), 1, None),                                   # spend == threshold: high value
    ], DDL)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_later_activity_never_changes_earlier_rows(spark):
    before = features_job.transform(*silver(spark), THRESHOLD)
    after = features_job.transform(*silver(spark, extra_day=True), THRESHOLD)
    assert after.where(F.col("date") == day(12)).count() == 2
    assert_df_equality(after.where(F.col("date") < day(12)), before, ignore_row_order=True)


def test_published_features_schema_and_partitioning(spark, tiny_run):
    path = tiny_run / "data" / "gold" / "user_daily_features"
    df = read_table(spark, path)
    # a Hive-style partition column is read back last
    spec_order_date_last = [c for c in COLUMNS if c[0] != "date"] + [("date", "date")]
    assert [(f.name, f.dataType.simpleString()) for f in df.schema.fields] == spec_order_date_last
    assert sorted(p.name for p in path.glob("date=*")) == [
        "date=2026-01-01", "date=2026-01-02", "date=2026-01-03"]
    assert df.groupBy("user_id", "date").count().where("count > 1").count() == 0
