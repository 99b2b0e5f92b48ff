"""Silver transforms on hand-written Bronze lines: every reject reason, rule order, SPEC §6."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakehouse.parsing import (blank_to_null, normalize_currency, normalize_enum, parse_fields,
                               parse_timestamp, trimmed)
from spark_jobs import bronze_to_silver_orders as orders_job
from spark_jobs import bronze_to_silver_payments as payments_job
from spark_jobs import bronze_to_silver_users as users_job

D = Decimal
FX = {"USD": D("1.000000"), "EUR": D("1.080000"), "GBP": D("1.270000"), "INR": D("0.012000")}
UTC = dt.timezone.utc


def ts(*args) -> dt.datetime:
    return dt.datetime(*args)


def raw(spark, lines):
    rows = [(line, "file:/bronze/t/ingest_date=2026-01-01/part-00000.jsonl", dt.date(2026, 1, 1))
            for line in lines]
    return spark.createDataFrame(rows, "raw_record string, source_file string, ingest_date date")


def event(**overrides) -> str:
    record = {"event_id": "e1", "user_id": "u1", "session_id": "s1", "event_type": "view",
              "event_ts": "2026-01-01T10:00:00Z", "product_id": "P1", "category": "books",
              "price": 12.5, "device": "mobile", "source": "email", "ip_address": "10.0.0.1",
              "user_agent": "ua"}
    record.update(overrides)
    return json.dumps({k: v for k, v in record.items() if v is not ...}, separators=(",", ":"))


def order(**overrides) -> str:
    record = {"order_id": 1, "user_id": "u1", "order_ts": "2026-01-01T10:00:00Z",
              "updated_at": "2026-01-01T10:00:00Z", "product_id": "P1", "category": "books",
              "price": 10.0, "quantity": 3, "total_amount": 30.0, "currency": "USD", "status": "placed"}
    record.update(overrides)
    return json.dumps({k: v for k, v in record.items() if v is not ...}, separators=(",", ":"))


def payment(**overrides) -> str:
    record = {"payment_id": "p1", "order_id": 1, "payment_ts": "2026-01-01T10:00:00Z",
              "method": "card", "status": "success", "amount": 10.0, "currency": "USD"}
    record.update(overrides)
    return json.dumps({k: v for k, v in record.items() if v is not ...}, separators=(",", ":"))


def reasons(df, key: str):
    return {r[key]: r["reject_reason"] for r in df.select(key, "reject_reason").collect()}


# --- strict JSON (§6) ----------------------------------------------------------------------

@pytest.mark.parametrize("line, is_object", [
    ('{"a":"x"}', True),
    ('  {"a":"}{ ] [","b":1}\t', True),          # braces inside strings, JSON whitespace around
    ('{"a":{"b":[1,{"c":2}]}}', True),            # nested values
    ('{}', True),
    ("{'a':'x'}", False),                         # single quotes
    ('{"a":1,}', False),                          # trailing comma
    ('{"a":1} x', False),                         # text after the object
    ('{"a":1}{"a":2}', False),                    # two objects
    ('{"a":1}}', False),
    ('[{"a":1}]', False),                         # top-level array
    ('"just a string"', False),
    ('42', False),
    ('', False),                                  # blank line
    ('   ', False),
    ('{"a":NaN}', False),
    ('{a:1}', False),                             # unquoted name
    ('{"a":1} // comment', False),
    ('{"a":"unterminated}', False),
    ('\u00a0{"a":1}', False),                     # NBSP is not JSON whitespace
])
def test_only_one_strict_json_object_is_an_object(spark, line, is_object):
    parsed = parse_fields(raw(spark, [line]), ("a",))
    assert parsed.first()["is_object"] is is_object


# --- timestamp grammar (§6) ----------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2026-01-03T10:00:00Z", ts(2026, 1, 3, 10, 0, 0)),
    ("2026-01-03 10:00", ts(2026, 1, 3, 10, 0, 0)),                    # no zone means UTC
    ("2026-01-03T10:00:00.1234567Z", ts(2026, 1, 3, 10, 0, 0, 123456)),  # truncated to micros
    ("2026-01-03T01:30:00+05:30", ts(2026, 1, 2, 20, 0, 0)),           # crosses midnight UTC
    ("2026-01-03T01:30:00+0530", ts(2026, 1, 2, 20, 0, 0)),
    ("2026-01-02T22:00:00-05", ts(2026, 1, 3, 3, 0, 0)),
    ("2026-01-03", None),                                               # date only
    ("1767225600", None),                                               # epoch
    ("2026-01-03T10:00:00 Europe/Paris", None),                         # zone name
    ("2026-02-30T10:00:00Z", None),                                     # calendar-checked
    ("2026-01-03T24:00:00Z", None),
    ("2026-1-3T10:00:00Z", None),
    ("2026-01-03T10:00:00z", None),
    (None, None),
])
def test_timestamp_grammar(spark, text, expected):
    df = spark.createDataFrame([(text,)], "t string")
    assert df.select(parse_timestamp(F.col("t")).alias("ts")).first()["ts"] == expected


@pytest.mark.parametrize("text, blank, trimmed_text", [
    ("view", False, "view"),
    ("", True, ""),
    ("   ", True, ""),
    (" \t\x0b\f\r\n", True, ""),                    # every character of the regex's \\s
    ("\u2028", True, "\u2028"),                       # `^\\s*$`: `$` matches before a final line end
    (" \u0085", True, "\u0085"),
    ("\u2028 ", False, "\u2028"),                      # ... only a final one
    ("\u00a0", False, "\u00a0"),                       # no-break space is not \\s
    ("\x0b View\f", False, "View"),
    ("a b ", False, "a b"),
    (None, None, None),
])
def test_blank_and_trim_follow_the_regex_whitespace_class(spark, text, blank, trimmed_text):
    df = spark.createDataFrame([(text,)], "t string")
    row = df.select(blank_to_null(F.col("t")).alias("b"), trimmed(F.col("t")).alias("t")).first()
    assert (row["b"] is None) == (blank is None or blank)
    assert row["t"] == trimmed_text


@pytest.mark.parametrize("text, enum, currency", [
    (" Add-To Cart ", "add_to_cart", "ADD-TO CART"),
    ("PayPal", "paypal", "PAYPAL"),
    ("usd", "usd", "USD"),
    ("CHEC\u212aOUT", "checkout", "CHEC\u212aOUT"),     # Kelvin sign: lower-cases to ASCII k
    ("u\u017fd", "u\u017fd", "USD"),                    # long s: upper-cases to ASCII S
    ("\u0131nr", "\u0131nr", "INR"),                    # dotless i: upper-cases to ASCII I
    ("stra\u00dfe", "stra\u00dfe", "STRASSE"),          # sharp s: one letter, two upper-case
    ("\u00c9T\u00c9", "\u00e9t\u00e9", "\u00c9T\u00c9"),
    ("", "", ""),
    (None, None, None),
])
def test_codes_are_cased_by_unicode_rules_also_where_they_end_up_ascii(spark, text, enum, currency):
    df = spark.createDataFrame([(text,)], "t string")
    row = df.select(normalize_enum(F.col("t")).alias("e"), normalize_currency(F.col("t")).alias("c")).first()
    assert (row["e"], row["c"]) == (enum, currency)


# --- user_events ---------------------------------------------------------------------------

def test_events_normalize_validate_and_pick_the_first_failing_rule(spark, tiny_cfg):
    lines = [
        event(event_id="e1", event_type=" View ", device="MOBILE", source="Paid-Search",
              event_ts="2026-01-01T23:30:00-05:00"),                      # -> 2026-01-02 UTC
        event(event_id="e2", event_type="PURCHASE", order_id="100001",
              event_ts="2026-01-02T01:15:00+05:30"),                      # -> 2026-01-01 UTC
        event(event_id="e3", event_type="purchase", order_id=100002),
        "{'event_id': 'e4'}",
        event(event_id="e5") + " trailing",
        event(event_id="e6", user_id=None, event_type="click"),          # two defects: rule 2 wins
        event(event_id="e7", event_ts="2026-01-03", device="smart_tv"),  # rule 3 wins over 4
        event(event_id="e8", event_type="click", device="smart_tv"),     # event_type before device
        event(event_id="e9", source="tiktok"),
        event(event_id="e10", event_type="purchase", order_id="12.5"),
        event(event_id="e11", event_type="purchase"),                    # purchase without order_id
        event(event_id="e12", device="", source=...),                    # optional: kept as NULL
        event(event_id="e13", order_id="abc"),                           # not a purchase: no rule
        event(event_id="e14", session_id="   "),
        event(event_id="e15", event_type="Add To Cart", ip_address=...),
    ]
    out = users_job.transform(raw(spark, lines), tiny_cfg.enums, "salt")
    valid = out.where("reject_reason IS NULL").select(
        "event_id", "event_type", "event_ts", "device", "source", "order_id", "event_date")
    expected = spark.createDataFrame([
        ("e1", "view", ts(2026, 1, 2, 4, 30), "mobile", "paid_search", None, dt.date(2026, 1, 2)),
        ("e2", "purchase", ts(2026, 1, 1, 19, 45), "mobile", "email", 100001, dt.date(2026, 1, 1)),
        ("e3", "purchase", ts(2026, 1, 1, 10, 0), "mobile", "email", 100002, dt.date(2026, 1, 1)),
        ("e12", "view", ts(2026, 1, 1, 10, 0), None, None, None, dt.date(2026, 1, 1)),
        ("e13", "view", ts(2026, 1, 1, 10, 0), "mobile", "email", None, dt.date(2026, 1, 1)),
        ("e15", "add_to_cart", ts(2026, 1, 1, 10, 0), "mobile", "email", None, dt.date(2026, 1, 1)),
    ], "event_id string, event_type string, event_ts timestamp, device string, source string, "
       "order_id bigint, event_date date")
    assert_df_equality(valid, expected, ignore_row_order=True, ignore_nullable=True)
    rejected = {r["raw_record"]: r["reject_reason"] for r in out.where("reject_reason IS NOT NULL").collect()}
    assert rejected == {
        lines[3]: "malformed_json", lines[4]: "malformed_json",
        lines[5]: "missing_required_field", lines[6]: "invalid_timestamp",
        lines[7]: "invalid_event_type", lines[8]: "invalid_dimension",
        lines[9]: "invalid_order_id", lines[10]: "invalid_order_id",
        lines[13]: "missing_required_field",
    }


def test_events_hash_the_ip_and_keep_no_raw_ip(spark, tiny_cfg):
    out = users_job.transform(raw(spark, [event(event_id="a", ip_address="1.2.3.4"),
                                          event(event_id="b", ip_address=...)]), tiny_cfg.enums, "pepper")
    hashes = {r["event_id"]: r["ip_hash"] for r in out.collect()}
    # sha256 of "pepper" + "1.2.3.4" (echo -n pepper1.2.3.4 | sha256sum)
    assert hashes == {"a": "c9f20bed4bec69fd2ce806dbee10606b4857e4ba7b0172e2835569267242ddfd", "b": None}
    assert "ip_address" not in out.columns


@pytest.mark.parametrize("field", ["event_id", "user_id", "session_id", "event_type", "event_ts"])
@pytest.mark.parametrize("missing", [..., None, "", "  "])
def test_events_every_required_field_missing_is_rejected(spark, tiny_cfg, field, missing):
    out = users_job.transform(raw(spark, [event(**{field: missing})]), tiny_cfg.enums, "s")
    assert out.first()["reject_reason"] == "missing_required_field"


def test_events_duplicates_keep_the_greatest_raw_line_across_ingest_dates(spark, tiny_cfg):
    a = event(event_id="dup", user_agent="a")
    b = event(event_id="dup", user_agent="b")
    rows = [(a, "f1", dt.date(2026, 1, 1)), (b, "f2", dt.date(2026, 1, 2)), (a, "f2", dt.date(2026, 1, 2))]
    df = spark.createDataFrame(rows, "raw_record string, source_file string, ingest_date date")
    out = users_job.transform(df, tiny_cfg.enums, "s")
    kept = out.where("reject_reason IS NULL").collect()
    assert [r["user_agent"] for r in kept] == ["b"]
    assert sorted(r["reject_reason"] or "" for r in out.collect()) == ["", "duplicate", "duplicate"]


# --- orders --------------------------------------------------------------------------------

def test_orders_rules_in_order(spark, tiny_cfg):
    lines = {
        "ok_cent": order(order_id=1, price=10.0, quantity=3, total_amount=30.01),        # diff 0.01
        "bad_cent": order(order_id=2, price=10.0, quantity=3, total_amount=30.02),       # diff 0.02
        "round_down": order(order_id=3, price=10.0, quantity=1, total_amount="10.011"),  # -> 10.01
        "round_up": order(order_id=4, price=10.0, quantity=1, total_amount="10.016"),    # -> 10.02
        "qty_float": order(order_id=5, quantity="2.0"),
        "qty_zero": order(order_id=6, quantity=0),
        "price_zero": order(order_id=7, price=0),
        "price_text": order(order_id=8, price="free"),
        "order_id_text": order(order_id="ORD-9"),
        "status_bad": order(order_id=10, status="lost", currency="XYZ"),                 # status first
        "currency_bad": order(order_id=11, currency="BTC"),
        "ts_bad": order(order_id=12, updated_at="2026-01-01"),
        "total_text": order(order_id=13, total_amount="N/A"),
        "ok_variants": order(order_id="14", quantity="3", price="10.00", currency=" usd ", status="SHIPPED"),
        "missing_price": order(order_id=15, price=None),
        "no_product": order(order_id=16, product_id=..., category=None),                  # optional
    }
    out = orders_job.transform(raw(spark, list(lines.values())), tiny_cfg.enums, FX)
    by_line = {r["raw_record"]: r["reject_reason"] for r in out.collect()}
    assert {name: by_line[line] for name, line in lines.items()} == {
        "ok_cent": None, "bad_cent": "amount_mismatch", "round_down": None,
        "round_up": "amount_mismatch", "qty_float": "invalid_quantity", "qty_zero": "invalid_quantity",
        "price_zero": "invalid_price", "price_text": "invalid_price", "order_id_text": "invalid_order_id",
        "status_bad": "invalid_status", "currency_bad": "invalid_currency", "ts_bad": "invalid_timestamp",
        "total_text": "amount_mismatch", "ok_variants": None, "missing_price": "missing_required_field",
        "no_product": None,
    }
    variant = out.where("order_id = 14").select("order_id", "quantity", "price", "currency", "status",
                                                 "total_amount_usd")
    assert variant.collect()[0].asDict() == {"order_id": 14, "quantity": 3, "price": D("10.00"),
                                             "currency": "USD", "status": "shipped",
                                             "total_amount_usd": D("30.00")}


def test_orders_keep_the_latest_version_as_utc_instants_and_break_ties_by_raw_line(spark, tiny_cfg):
    lines = [
        # 01:00+05:00 is 20:00 UTC the day before: earlier than 21:00Z despite sorting higher
        order(order_id=1, status="placed", updated_at="2026-01-02T01:00:00+05:00"),
        order(order_id=1, status="shipped", updated_at="2026-01-01T21:00:00Z"),
        order(order_id=2, status="placed", updated_at="2026-01-01T12:00:00Z", currency="GBP",
              price=0.5, quantity=3, total_amount=1.5),
        order(order_id=2, status="placed", updated_at="2026-01-01T12:00:00Z", currency="GBP",
              price=0.5, quantity=3, total_amount=1.5, category="zz"),   # tie: greater raw line
    ]
    out = orders_job.transform(raw(spark, lines), tiny_cfg.enums, FX)
    kept = out.where("reject_reason IS NULL").select("order_id", "status", "category", "total_amount_usd")
    expected = spark.createDataFrame([(1, "shipped", "books", D("30.00")), (2, "placed", "zz", D("1.91"))],
                                     "order_id bigint, status string, category string, total_amount_usd decimal(14,2)")
    assert_df_equality(kept, expected, ignore_row_order=True, ignore_nullable=True)
    assert sorted(r["reject_reason"] for r in out.where("reject_reason IS NOT NULL").collect()) == [
        "duplicate", "duplicate"]


@pytest.mark.parametrize("field", ["order_id", "user_id", "order_ts", "updated_at", "price",
                                   "quantity", "total_amount", "currency", "status"])
def test_orders_every_required_field_null_is_rejected(spark, tiny_cfg, field):
    out = orders_job.transform(raw(spark, [order(**{field: None})]), tiny_cfg.enums, FX)
    assert out.first()["reject_reason"] == "missing_required_field"


# --- payments ------------------------------------------------------------------------------

def test_payments_sign_rule_enums_and_half_up_fx(spark, tiny_cfg):
    lines = {
        "refund_gbp": payment(payment_id="p1", status="refunded", amount=-1.5, currency="gbp"),
        "paypal": payment(payment_id="p2", method="PayPal", status="Success", amount="12.345"),
        "bank": payment(payment_id="p3", method="Bank Transfer", status="FAILED", amount=4.0, currency="EUR"),
        "refund_positive": payment(payment_id="p4", status="refunded", amount=5.0),
        "success_negative": payment(payment_id="p5", amount=-5.0),
        "success_zero": payment(payment_id="p6", amount=0),
        "amount_text": payment(payment_id="p7", amount="abc"),
        "status_and_method_bad": payment(payment_id="p8", status="pending", method="crypto"),
        "method_bad": payment(payment_id="p9", method="cash"),
        "order_id_float": payment(payment_id="p10", order_id=12.5),
        "order_id_string": payment(payment_id="p11", order_id="77"),
        "no_currency": payment(payment_id="p12", currency=...),
    }
    out = payments_job.transform(raw(spark, list(lines.values())), tiny_cfg.enums, FX)
    by_line = {r["raw_record"]: r["reject_reason"] for r in out.collect()}
    assert {name: by_line[line] for name, line in lines.items()} == {
        "refund_gbp": None, "paypal": None, "bank": None,
        "refund_positive": "invalid_amount_sign", "success_negative": "invalid_amount_sign",
        "success_zero": "invalid_amount_sign", "amount_text": "invalid_amount_sign",
        "status_and_method_bad": "invalid_status", "method_bad": "invalid_method",
        "order_id_float": "invalid_order_id", "order_id_string": None,
        "no_currency": "missing_required_field",
    }
    valid = out.where("reject_reason IS NULL").select("payment_id", "order_id", "method", "status",
                                                       "amount", "currency", "amount_usd")
    expected = spark.createDataFrame([
        ("p1", 1, "card", "refunded", D("-1.50"), "GBP", D("-1.91")),      # -1.905 half away from 0
        ("p2", 1, "paypal", "success", D("12.35"), "USD", D("12.35")),     # 12.345 half-up
        ("p3", 1, "bank_transfer", "failed", D("4.00"), "EUR", D("4.32")),
        ("p11", 77, "card", "success", D("10.00"), "USD", D("10.00")),
    ], "payment_id string, order_id bigint, method string, status string, amount decimal(12,2), "
       "currency string, amount_usd decimal(14,2)")
    assert_df_equality(valid, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize("job", [users_job, orders_job, payments_job])
def test_each_jobs_rules_are_spec_reasons_in_spec_order(job, tiny_cfg):
    from lakehouse.contract import REJECT_REASONS
    from lakehouse.validation import rules_for
    names = [name for name, _ in rules_for(job.SPEC, tiny_cfg.enums)]
    assert names[:3] == ["malformed_json", "missing_required_field", "invalid_timestamp"]
    assert [REJECT_REASONS.index(n) for n in names] == sorted(REJECT_REASONS.index(n) for n in names)


def test_a_rule_added_to_the_spec_reaches_the_job_the_checks_and_the_defect_list(spark, tiny_cfg,
                                                                                  monkeypatch):
    """Adding a validation rule is one line in the table's spec: the job rejects by it (after the
    rules before it, before `duplicate`), and the data-quality check on Silver follows."""
    import dataclasses
    from data_quality.engine import contract_checks
    from lakehouse.contract import Rule
    spec = orders_job.SPEC
    no_gift = Rule("invalid_category", "category IS NULL OR category <> 'gift'", check="category_allowed")
    monkeypatch.setattr(orders_job, "SPEC", dataclasses.replace(spec, rules=spec.rules + (no_gift,)))
    lines = {"gift": order(order_id=1, category="gift"),
             "gift_and_bad_price": order(order_id=2, category="gift", price=0),   # price rule first
             "books": order(order_id=3), "books_again": order(order_id=3, status="shipped")}
    out = orders_job.transform(raw(spark, list(lines.values())), tiny_cfg.enums, FX)
    by_line = {r["raw_record"]: r["reject_reason"] for r in out.collect()}
    assert {name: by_line[line] for name, line in lines.items()} == {
        "gift": "invalid_category", "gift_and_bad_price": "invalid_price",
        "books": "duplicate", "books_again": None}       # same updated_at: the greater raw line wins
    assert orders_job.SPEC.reasons[-2:] == ("invalid_category", "duplicate")
    checks = {c.name: c.expression for c in contract_checks(orders_job.SPEC, tiny_cfg)}
    assert checks["category_allowed"] == "category IS NULL OR category <> 'gift'"


def test_silver_transforms_return_the_declared_types_and_nothing_else(spark, tiny_cfg):
    out = payments_job.transform(raw(spark, [payment()]), tiny_cfg.enums, FX)
    assert [(f.name, f.dataType.simpleString()) for f in out.schema.fields] == [
        ("payment_id", "string"), ("order_id", "bigint"), ("payment_ts", "timestamp"),
        ("method", "string"), ("status", "string"), ("amount", "decimal(12,2)"),
        ("currency", "string"), ("amount_usd", "decimal(14,2)"), ("payment_date", "date"),
        ("raw_record", "string"), ("reject_reason", "string"), ("source_file", "string"),
        ("ingest_date", "date")]
