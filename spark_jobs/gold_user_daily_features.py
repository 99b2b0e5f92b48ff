"""Silver user_events + orders + payments -> Gold user_daily_features (partitioned by date).

One row per (user_id, date) with any event, order or payment; point-in-time correct: every
feature of a row uses only that user's rows on or before its date.

    spark-submit spark_jobs/gold_user_daily_features.py [--profile tiny] [--data-root data]
"""
from __future__ import annotations

import sys

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.contract import ORDERS, PAYMENTS, USER_DAILY_FEATURES, USER_DAILY_FEATURES_SCHEMA, USER_EVENTS
from lakehouse.cli import job_main
from lakehouse.conform import conform
from lakehouse.gold import (changed, count_if, count_rows, rate, read_silver, silver_changes, sum_if,
                           write_gold)
from lakehouse.publish import open_table
from lakehouse.tables import TableStore
from lakehouse.steps import JobContext, StepResult

ACTIVITY = ("views", "add_to_carts", "checkouts", "purchases", "sessions", "orders", "spend_usd",
            "payment_attempts", "failed_payments", "refunded_usd")


def daily_activity(events: DataFrame, orders: DataFrame, payments: DataFrame) -> DataFrame:
    """Per (user_id, date) counts from the three sources; 0 where a source has nothing.

    Orders count on the day they were placed whatever their later status; a payment belongs to
    its order's user on its payment date (payments of unknown orders belong to nobody).
    """
    event_type = F.col("event_type")
    ev = events.groupBy("user_id", F.col("event_date").alias("date")).agg(
        count_if(event_type == "view").alias("views"),
        count_if(event_type == "add_to_cart").alias("add_to_carts"),
        count_if(event_type == "checkout").alias("checkouts"),
        count_if(event_type == "purchase").alias("purchases"),
        F.count_distinct("session_id").alias("sessions"))
    od = orders.groupBy("user_id", F.col("order_date").alias("date")).agg(
        F.count(F.lit(1)).alias("orders"),
        F.sum("total_amount_usd").alias("spend_usd"))
    owners = orders.select("order_id", "user_id")
    status = F.col("status")
    pay = (payments.join(owners, on="order_id", how="inner")
           .groupBy("user_id", F.col("payment_date").alias("date")).agg(
               count_if(status.isin("success", "failed")).alias("payment_attempts"),
               count_if(status == "failed").alias("failed_payments"),
               (-sum_if("amount_usd", status == "refunded")).alias("refunded_usd")))
    stacked = ev.unionByName(od, allowMissingColumns=True).unionByName(pay, allowMissingColumns=True)
    return stacked.groupBy("user_id", "date").agg(
        *[F.coalesce(F.sum(c), F.lit(0)).alias(c) for c in ACTIVITY])


def transform(events: DataFrame, orders: DataFrame, payments: DataFrame,
              high_value_threshold_usd: float) -> DataFrame:
    activity = daily_activity(events, orders, payments)
    day = F.unix_date(F.col("date"))
    by_user = Window.partitionBy("user_id").orderBy(day)
    last_7_days = by_user.rangeBetween(-6, 0)            # calendar days [date-6, date], not rows
    before_today = by_user.rangeBetween(Window.unboundedPreceding, -1)
    previous_order_day = F.max(F.when(F.col("orders") > 0, day)).over(before_today)
    flag = lambda condition: F.when(condition, 1).otherwise(0)  # noqa: E731
    return conform(activity.select(
        "*",
        rate("add_to_carts", "views", when_zero=0.0).alias("view_to_cart_rate"),
        rate("checkouts", "add_to_carts", when_zero=0.0).alias("cart_to_checkout_rate"),
        rate("spend_usd", "orders", when_zero=0.0).alias("avg_order_value_usd"),
        flag((F.col("add_to_carts") > 0) & (F.col("purchases") == 0)).alias("cart_abandon_flag"),
        flag(F.col("orders") > 0).alias("is_buyer_flag"),
        flag(F.col("failed_payments") > 0).alias("has_failed_payment_flag"),
        flag(F.col("spend_usd") >= F.lit(str(high_value_threshold_usd)).cast("decimal(18,2)"))
        .alias("high_value_user_flag"),
        F.sum("spend_usd").over(last_7_days).alias("spend_7d_usd"),
        F.sum("orders").over(last_7_days).alias("orders_7d"),
        (day - previous_order_day).alias("days_since_prev_order"),
    ), USER_DAILY_FEATURES_SCHEMA)


# What a feature row reads of each Silver table: a change elsewhere (an order's status, a re-sent
# event published again unchanged) leaves every feature as it was.
FEATURE_INPUTS = {
    USER_EVENTS: ("event_id", "user_id", "session_id", "event_type", "event_date"),
    ORDERS: ("order_id", "user_id", "order_date", "total_amount_usd"),
    PAYMENTS: ("payment_id", "order_id", "payment_date", "status", "amount_usd"),
}


def affected_users(changes: dict[str, DataFrame], orders: DataFrame, payments: DataFrame) -> DataFrame:
    """(user_id, from_date): per user, the earliest date whose row the changed Silver rows
    affect. That row, and every later row of the user, is recomputed: a later row's 7-day
    window or days_since_prev_order may reach back to it.

    A changed event or order touches its user on its date; a changed payment touches the user
    of its order on its payment date, and so does every payment of an order whose owner changed
    (it arrived after its payment, or left). Owners are looked up in the new and in the removed
    order versions, so the user a payment leaves is recomputed too."""
    ch_events, ch_orders, ch_payments = (changed(changes[t], FEATURE_INPUTS[t])
                                         for t in (USER_EVENTS, ORDERS, PAYMENTS))
    ownership = changed(changes[ORDERS], ("order_id", "user_id"))
    owners = (orders.select("order_id", "user_id")
              .union(changes[ORDERS].select("order_id", "user_id")).distinct())
    paid = (ch_payments.select("order_id", "payment_date")
            .union(payments.join(ownership.select("order_id"), "order_id", "left_semi")
                   .select("order_id", "payment_date")))
    touched = (ch_events.select("user_id", F.col("event_date").alias("date"))
               .union(ch_orders.select("user_id", F.col("order_date").alias("date")))
               .union(paid.join(owners, "order_id").select("user_id", F.col("payment_date").alias("date"))))
    return touched.groupBy("user_id").agg(F.min("date").alias("from_date"))


def run(ctx: JobContext) -> StepResult:
    events, orders, payments = (read_silver(ctx, t) for t in (USER_EVENTS, ORDERS, PAYMENTS))
    threshold = ctx.cfg.features.high_value_threshold_usd
    changes = silver_changes(ctx, USER_DAILY_FEATURES, (USER_EVENTS, ORDERS, PAYMENTS))
    if changes is None:
        features = transform(events, orders, payments, threshold)
        rows_read = count_rows((events, orders, payments))
        return write_gold(ctx, features, USER_DAILY_FEATURES, rows_read, partition_by=("date",))
    # the changed rows drive it (what it reports as read); localCheckpoint keeps the windows
    # from being computed twice (once for the dates, once for the write)
    rows_read = count_rows(list(changes.values()))
    users = affected_users(changes, orders, payments).localCheckpoint()
    # Rows from `first` on need events and payments from `first` on only: the windows and
    # days_since_prev_order read orders, which are passed whole (and own the payments).
    first = users.agg(F.min("from_date")).first()[0]
    if first is not None:
        events = events.filter(F.col("event_date") >= F.lit(first))
        payments = payments.filter(F.col("payment_date") >= F.lit(first))
    mine = lambda df: df.join(users, "user_id", "left_semi")  # noqa: E731
    recomputed = (transform(mine(events), mine(orders), payments, threshold)
                  .join(users, "user_id").filter(F.col("date") >= F.col("from_date"))
                  .drop("from_date").localCheckpoint())
    published = open_table(TableStore(ctx.spark, ctx.paths), ctx.paths.gold(USER_DAILY_FEATURES))
    stale = published.join(users, "user_id").filter(F.col("date") >= F.col("from_date")).select("date")
    dates = sorted(r[0] for r in stale.union(recomputed.select("date")).distinct().collect())
    kept = (published.filter(F.col("date").isin(dates)).join(users, "user_id", "left")
            .filter(F.col("from_date").isNull() | (F.col("date") < F.col("from_date")))
            .select(*published.columns))
    return write_gold(ctx, kept.unionByName(recomputed), USER_DAILY_FEATURES, rows_read,
                      partition_by=("date",), dates=dates)


def main(argv=None) -> int:
    return job_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
