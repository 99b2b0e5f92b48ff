"""Gold numbers recomputed independently from Bronze with plain Python (tests/reference.py),
compared with what the pipeline published on the tiny profile, cell by cell."""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from decimal import Decimal

from reference import enum, money, silver_rows, timestamp, usd

from conftest import read_table

ZERO = Decimal("0.00")


def published(spark, root, table) -> dict:
    return {r["date"]: r.asDict() for r in read_table(spark, root / "data" / "gold" / table).collect()}


def test_orders_daily_matches_an_independent_recomputation(spark, tiny_run, tiny_cfg):
    enums = dataclasses.asdict(tiny_cfg.enums)
    days = defaultdict(lambda: {"orders": 0, "cancelled_orders": 0, "returned_orders": 0,
                                "non_cancelled_orders": 0, "items_sold": 0,
                                "gross_revenue_usd": ZERO, "buyers": set()})
    for o in silver_rows("orders", tiny_run / "data" / "bronze" / "orders", enums):
        d = days[timestamp(o["order_ts"]).date()]
        status = enum(o["status"])
        d["orders"] += 1
        d["cancelled_orders"] += status == "cancelled"
        d["returned_orders"] += status == "returned"
        if status != "cancelled":
            d["non_cancelled_orders"] += 1
            d["items_sold"] += int(o["quantity"])
            d["gross_revenue_usd"] += usd(money(o["total_amount"]), o["currency"].strip().upper(),
                                          tiny_cfg.fx_rates_to_usd)
            d["buyers"].add(o["user_id"])
    gold = published(spark, tiny_run, "orders_daily")
    assert set(gold) == set(days)
    for date, d in days.items():
        g = gold[date]
        for column in ("orders", "cancelled_orders", "returned_orders", "non_cancelled_orders",
                       "items_sold", "gross_revenue_usd"):
            assert g[column] == d[column], (date, column)
        assert g["unique_buyers"] == len(d["buyers"])
        assert g["cancellation_rate"] == d["cancelled_orders"] / d["orders"]
        n = d["non_cancelled_orders"]
        assert g["aov_usd"] == (float(d["gross_revenue_usd"]) / n if n else None)


def test_payments_daily_matches_an_independent_recomputation(spark, tiny_run, tiny_cfg):
    enums = dataclasses.asdict(tiny_cfg.enums)
    days = defaultdict(lambda: defaultdict(lambda: ZERO))
    counts = defaultdict(lambda: defaultdict(int))
    for p in silver_rows("payments", tiny_run / "data" / "bronze" / "payments", enums):
        date = timestamp(p["payment_ts"]).date()
        status, method = enum(p["status"]), enum(p["method"])
        amount_usd = usd(money(p["amount"]), p["currency"].strip().upper(), tiny_cfg.fx_rates_to_usd)
        counts[date][status] += 1
        if status == "success":
            days[date]["gross"] += amount_usd
            days[date][method] += amount_usd
        elif status == "refunded":
            days[date]["refunded"] -= amount_usd
    gold = published(spark, tiny_run, "payments_daily")
    assert set(gold) == set(counts)
    for date, c in counts.items():
        g, d = gold[date], days[date]
        assert (g["successful_payments"], g["failed_payments"], g["refunds"]) == (
            c["success"], c["failed"], c["refunded"])
        assert g["payment_attempts"] == c["success"] + c["failed"]
        assert (g["gross_payments_usd"], g["refunded_usd"]) == (d["gross"], d["refunded"])
        assert g["net_revenue_usd"] == d["gross"] - d["refunded"]
        for method in tiny_cfg.enums.method:
            assert g[f"{method}_usd"] == d[method]
        attempts = c["success"] + c["failed"]
        assert g["failure_rate"] == (c["failed"] / attempts if attempts else None)
        assert g["refund_rate"] == (float(d["refunded"]) / float(d["gross"]) if d["gross"] else None)


def test_events_daily_matches_an_independent_recomputation(spark, tiny_run, tiny_cfg):
    enums = dataclasses.asdict(tiny_cfg.enums)
    days = defaultdict(lambda: {"types": defaultdict(int), "users": set(), "sessions": set(),
                                "converted": set(), "dims": defaultdict(int), "total": 0})
    for e in silver_rows("user_events", tiny_run / "data" / "bronze" / "user_events", enums):
        d = days[timestamp(e["event_ts"]).date()]
        kind = enum(e["event_type"])
        d["total"] += 1
        d["types"][kind] += 1
        d["users"].add(e["user_id"])
        d["sessions"].add(e["session_id"])
        if kind == "purchase":
            d["converted"].add(e["session_id"])
        for dim in ("device", "source"):
            if e.get(dim) is not None:
                d["dims"][enum(e[dim])] += 1
    gold = published(spark, tiny_run, "events_daily")
    assert set(gold) == set(days)
    for date, d in days.items():
        g = gold[date]
        assert g["total_events"] == d["total"]
        assert (g["views"], g["add_to_carts"], g["checkouts"], g["purchases"]) == (
            d["types"]["view"], d["types"]["add_to_cart"], d["types"]["checkout"], d["types"]["purchase"])
        assert (g["unique_users"], g["unique_sessions"]) == (len(d["users"]), len(d["sessions"]))
        assert g["session_conversion_rate"] == len(d["converted"]) / len(d["sessions"])
        assert g["view_to_cart_rate"] == d["types"]["add_to_cart"] / d["types"]["view"]
        for value in tiny_cfg.enums.device + tiny_cfg.enums.source:
            assert g[f"{value}_events"] == d["dims"][value], (date, value)
