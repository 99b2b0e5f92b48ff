"""Gold business tables on hand-written Silver rows, with hand-computed expected rows."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from chispa import assert_df_equality

from spark_jobs import gold_daily_business_metrics as master_job
from spark_jobs import gold_events_daily as events_job
from spark_jobs import gold_orders_daily as orders_job
from spark_jobs import gold_payments_daily as payments_job

from conftest import read_table

D = Decimal
DAY1, DAY2, DAY3 = dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 3)
T = dt.datetime(2026, 1, 1, 12, 0)

# Column lists written out from SPEC §4 (not imported from the code under test).
EVENTS_DAILY_COLUMNS = [
    ("date", "date"), ("total_events", "bigint"), ("views", "bigint"), ("add_to_carts", "bigint"),
    ("checkouts", "bigint"), ("purchases", "bigint"), ("unique_users", "bigint"),
    ("unique_sessions", "bigint"), ("view_to_cart_rate", "double"), ("cart_to_checkout_rate", "double"),
    ("checkout_to_purchase_rate", "double"), ("view_to_purchase_rate", "double"),
    ("session_conversion_rate", "double"), ("mobile_events", "bigint"), ("desktop_events", "bigint"),
    ("tablet_events", "bigint"), ("organic_events", "bigint"), ("paid_search_events", "bigint"),
    ("social_events", "bigint"), ("email_events", "bigint"), ("direct_events", "bigint"),
    ("referral_events", "bigint")]
ORDERS_DAILY_COLUMNS = [
    ("date", "date"), ("orders", "bigint"), ("cancelled_orders", "bigint"), ("returned_orders", "bigint"),
    ("non_cancelled_orders", "bigint"), ("cancellation_rate", "double"), ("unique_buyers", "bigint"),
    ("items_sold", "bigint"), ("gross_revenue_usd", "decimal(18,2)"), ("aov_usd", "double")]
PAYMENTS_DAILY_COLUMNS = [
    ("date", "date"), ("successful_payments", "bigint"), ("failed_payments", "bigint"),
    ("refunds", "bigint"), ("payment_attempts", "bigint"), ("gross_payments_usd", "decimal(18,2)"),
    ("refunded_usd", "decimal(18,2)"), ("net_revenue_usd", "decimal(18,2)"), ("failure_rate", "double"),
    ("refund_rate", "double"), ("card_usd", "decimal(18,2)"), ("paypal_usd", "decimal(18,2)"),
    ("bank_transfer_usd", "decimal(18,2)"), ("wallet_usd", "decimal(18,2)")]
MASTER_COLUMNS = (EVENTS_DAILY_COLUMNS + ORDERS_DAILY_COLUMNS[1:] + PAYMENTS_DAILY_COLUMNS[1:]
                  + [("revenue_per_visitor_usd", "double"), ("orders_per_session", "double"),
                     ("payment_capture_rate", "double")])


def ddl(columns) -> str:
    return ", ".join(f"{n} {t}" for n, t in columns)


def silver_events(spark):
    rows = [
        ("e1", "u1", "s1", "view", DAY1, "mobile", "organic"),
        ("e2", "u1", "s1", "view", DAY1, "mobile", "organic"),
        ("e3", "u1", "s1", "add_to_cart", DAY1, "mobile", "organic"),
        ("e4", "u1", "s1", "checkout", DAY1, "mobile", "organic"),
        ("e5", "u1", "s1", "purchase", DAY1, "mobile", "organic"),
        ("e6", "u2", "s2", "view", DAY1, "desktop", "email"),
        ("e7", "u2", "s2", "add_to_cart", DAY1, "desktop", "email"),
        ("e8", "u3", "s3", "view", DAY1, None, None),           # counts in total only
        ("e9", "u4", "s4", "add_to_cart", DAY2, "tablet", "direct"),  # no views, no checkouts
    ]
    return spark.createDataFrame(rows, "event_id string, user_id string, session_id string, "
                                       "event_type string, event_date date, device string, source string")


def silver_orders(spark):
    rows = [
        (1, "u1", "placed", 2, D("20.00"), DAY1),
        (2, "u2", "cancelled", 1, D("10.00"), DAY1),
        (3, "u1", "returned", 1, D("5.50"), DAY1),     # returned counts as non-cancelled
        (4, "u3", "delivered", 3, D("30.25"), DAY1),
        (5, "u4", "cancelled", 2, D("8.00"), DAY2),    # a day with only cancelled orders
    ]
    return spark.createDataFrame(rows, "order_id bigint, user_id string, status string, quantity int, "
                                       "total_amount_usd decimal(14,2), order_date date")


def silver_payments(spark):
    rows = [
        ("p1", "success", "card", D("20.00"), DAY1),
        ("p2", "failed", "card", D("20.00"), DAY1),
        ("p3", "success", "paypal", D("10.50"), DAY1),
        ("p4", "refunded", "wallet", D("-7.25"), DAY3),  # a day with only a refund
    ]
    return spark.createDataFrame(rows, "payment_id string, status string, method string, "
                                       "amount_usd decimal(14,2), payment_date date")


def expected_events_daily(spark):
    return spark.createDataFrame([
        (DAY1, 8, 4, 2, 1, 1, 3, 3, 0.5, 0.5, 1.0, 0.25, 1 / 3, 5, 2, 0, 5, 0, 0, 2, 0, 0),
        (DAY2, 1, 0, 1, 0, 0, 1, 1, None, 0.0, None, None, 0.0, 0, 0, 1, 0, 0, 0, 0, 1, 0),
    ], ddl(EVENTS_DAILY_COLUMNS))


def expected_orders_daily(spark):
    return spark.createDataFrame([
        (DAY1, 4, 1, 1, 3, 0.25, 2, 6, D("55.75"), 55.75 / 3),
        (DAY2, 1, 1, 0, 0, 1.0, 0, 0, D("0.00"), None),
    ], ddl(ORDERS_DAILY_COLUMNS))


def expected_payments_daily(spark):
    return spark.createDataFrame([
        (DAY1, 2, 1, 0, 3, D("30.50"), D("0.00"), D("30.50"), 1 / 3, 0.0,
         D("20.00"), D("10.50"), D("0.00"), D("0.00")),
        (DAY3, 0, 0, 1, 0, D("0.00"), D("7.25"), D("-7.25"), None, None,
         D("0.00"), D("0.00"), D("0.00"), D("0.00")),
    ], ddl(PAYMENTS_DAILY_COLUMNS))


def test_events_daily(spark, tiny_cfg):
    actual = events_job.transform(silver_events(spark), tiny_cfg.enums)
    assert_df_equality(actual, expected_events_daily(spark), ignore_row_order=True, ignore_nullable=True)


def test_orders_daily(spark):
    actual = orders_job.transform(silver_orders(spark))
    assert_df_equality(actual, expected_orders_daily(spark), ignore_row_order=True, ignore_nullable=True)


def test_payments_daily(spark, tiny_cfg):
    actual = payments_job.transform(silver_payments(spark), tiny_cfg.enums)
    assert_df_equality(actual, expected_payments_daily(spark), ignore_row_order=True, ignore_nullable=True)


def test_daily_business_metrics_fills_missing_sources(spark, tiny_cfg):
    actual = master_job.transform(expected_events_daily(spark), expected_orders_daily(spark),
                                  expected_payments_daily(spark), tiny_cfg.enums)
    zero = D("0.00")
    no_events = (0, 0, 0, 0, 0, 0, 0, None, None, None, None, None, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    no_orders = (0, 0, 0, 0, None, 0, 0, zero, None)
    no_payments = (0, 0, 0, 0, zero, zero, zero, None, None, zero, zero, zero, zero)
    expected = spark.createDataFrame([
        (DAY1, 8, 4, 2, 1, 1, 3, 3, 0.5, 0.5, 1.0, 0.25, 1 / 3, 5, 2, 0, 5, 0, 0, 2, 0, 0,
         4, 1, 1, 3, 0.25, 2, 6, D("55.75"), 55.75 / 3,
         2, 1, 0, 3, D("30.50"), zero, D("30.50"), 1 / 3, 0.0, D("20.00"), D("10.50"), zero, zero,
         30.5 / 3, 4 / 3, 30.5 / 55.75),
        (DAY2, 1, 0, 1, 0, 0, 1, 1, None, 0.0, None, None, 0.0, 0, 0, 1, 0, 0, 0, 0, 1, 0,
         1, 1, 0, 0, 1.0, 0, 0, zero, None,
         *no_payments,
         0.0, 1.0, None),
        (DAY3, *no_events, *no_orders,
         0, 0, 1, 0, zero, D("7.25"), D("-7.25"), None, None, zero, zero, zero, zero,
         None, None, None),
    ], ddl(MASTER_COLUMNS))
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize("table, columns", [
    ("events_daily", EVENTS_DAILY_COLUMNS), ("orders_daily", ORDERS_DAILY_COLUMNS),
    ("payments_daily", PAYMENTS_DAILY_COLUMNS), ("daily_business_metrics", MASTER_COLUMNS),
])
def test_published_gold_tables_have_the_spec_schema(spark, tiny_run, table, columns):
    path = tiny_run / "data" / "gold" / table
    df = read_table(spark, path)
    assert [(f.name, f.dataType.simpleString()) for f in df.schema.fields] == columns
    assert df.count() == 3                                     # the tiny profile's three days
    assert len(list(path.glob("*.parquet"))) == 1              # one un-partitioned file


def test_rerunning_a_gold_job_gives_identical_rows(spark, tiny_cfg, copy_run):
    from conftest import context_for
    root = copy_run() / "data"
    ctx = context_for(spark, root, tiny_cfg)
    before = read_table(spark, root / "gold" / "daily_business_metrics").collect()
    events_job.run(ctx)
    master_job.run(ctx)
    after = read_table(spark, root / "gold" / "daily_business_metrics")
    assert_df_equality(after, spark.createDataFrame(before, after.schema), ignore_row_order=True)


def test_a_computed_column_missing_from_the_schema_is_an_error_not_a_silent_drop(spark):
    from lakehouse.conform import conform
    df = spark.createDataFrame([(DAY1, 3, 9)], "date date, orders bigint, new_kpi bigint")
    with pytest.raises(ValueError, match=r"computed columns \['new_kpi'\] are not in the schema"):
        conform(df, "date date, orders bigint")
    with pytest.raises(ValueError, match=r"columns \['items_sold'\] of the schema are not computed"):
        conform(df.drop("new_kpi"), "date date, orders bigint, items_sold bigint")
    assert conform(df, "date date, new_kpi int, orders bigint").dtypes == [
        ("date", "date"), ("new_kpi", "int"), ("orders", "bigint")]
