"""The data contract (SPEC.md) as data: Bronze fields, Silver and Gold schemas, reject reasons.

Enum lists and FX rates live in config.yaml; everything else a job must agree on lives here.
"""
from __future__ import annotations

from dataclasses import dataclass

from lakehouse.config import Enums

USER_EVENTS, ORDERS, PAYMENTS = "user_events", "orders", "payments"
BRONZE_TABLES = (USER_EVENTS, ORDERS, PAYMENTS)

# Every reject reason, in the SPEC's rule order.
REJECT_REASONS = (
    "malformed_json", "missing_required_field", "invalid_timestamp", "invalid_event_type",
    "invalid_status", "invalid_method", "invalid_dimension", "invalid_currency",
    "invalid_order_id", "invalid_quantity", "invalid_price", "amount_mismatch",
    "invalid_amount_sign", "duplicate",
)
# Rejects that count against dq.max_reject_rate: re-sends and superseded versions are normal.
RATE_EXEMPT_REASONS = ("duplicate",)


@dataclass(frozen=True)
class TableContract:
    name: str
    raw_fields: tuple[str, ...]   # fields of the raw JSON object, in file order
    required: tuple[str, ...]     # rule 2: null/empty -> missing_required_field
    key: str                      # rule 7: dedup key
    date_column: str              # Silver partition column
    silver_schema: str            # DDL, column order of the Silver table


CONTRACTS: dict[str, TableContract] = {
    USER_EVENTS: TableContract(
        name=USER_EVENTS,
        raw_fields=("event_id", "user_id", "session_id", "event_type", "event_ts", "product_id",
                    "category", "price", "device", "source", "order_id", "ip_address",
                    "user_agent"),
        required=("event_id", "user_id", "session_id", "event_type", "event_ts"),
        key="event_id",
        date_column="event_date",
        silver_schema=(
            "event_id string, user_id string, session_id string, event_type string, "
            "event_ts timestamp, product_id string, category string, price decimal(12,2), "
            "device string, source string, order_id bigint, ip_hash string, user_agent string, "
            "event_date date"),
    ),
    ORDERS: TableContract(
        name=ORDERS,
        raw_fields=("order_id", "user_id", "order_ts", "updated_at", "product_id", "category",
                    "price", "quantity", "total_amount", "currency", "status"),
        required=("order_id", "user_id", "order_ts", "updated_at", "price", "quantity",
                  "total_amount", "currency", "status"),
        key="order_id",
        date_column="order_date",
        silver_schema=(
            "order_id bigint, user_id string, order_ts timestamp, updated_at timestamp, "
            "product_id string, category string, price decimal(12,2), quantity int, "
            "total_amount decimal(12,2), currency string, total_amount_usd decimal(14,2), "
            "status string, order_date date"),
    ),
    PAYMENTS: TableContract(
        name=PAYMENTS,
        raw_fields=("payment_id", "order_id", "payment_ts", "method", "status", "amount",
                    "currency"),
        required=("payment_id", "order_id", "payment_ts", "method", "status", "amount",
                  "currency"),
        key="payment_id",
        date_column="payment_date",
        silver_schema=(
            "payment_id string, order_id bigint, payment_ts timestamp, method string, "
            "status string, amount decimal(12,2), currency string, amount_usd decimal(14,2), "
            "payment_date date"),
    ),
}

QUARANTINE_SCHEMA = "raw_record string, reject_reason string, source_file string, ingest_date date"


def schema_columns(ddl: str) -> list[tuple[str, str]]:
    """(name, type) pairs of a DDL string such as "a bigint, b string"."""
    return [tuple(c.split(" ", 1)) for c in ddl.split(", ")]


def column_names(ddl: str) -> list[str]:
    return [name for name, _ in schema_columns(ddl)]


def classified_columns(table: str) -> list[str]:
    """What a Silver transform returns: the Silver columns, then the quarantine columns."""
    silver = column_names(CONTRACTS[table].silver_schema)
    return silver + [c for c in column_names(QUARANTINE_SCHEMA) if c not in silver]

# --- Gold --------------------------------------------------------------------------------------
USER_DAILY_FEATURES = "user_daily_features"


def events_daily_schema(enums: Enums) -> str:
    dims = [f"{d}_events bigint" for d in enums.device] + [f"{s}_events bigint" for s in enums.source]
    return ", ".join([
        "date date", "total_events bigint", "views bigint", "add_to_carts bigint",
        "checkouts bigint", "purchases bigint", "unique_users bigint", "unique_sessions bigint",
        "view_to_cart_rate double", "cart_to_checkout_rate double",
        "checkout_to_purchase_rate double", "view_to_purchase_rate double",
        "session_conversion_rate double", *dims])


ORDERS_DAILY_SCHEMA = ", ".join([
    "date date", "orders bigint", "cancelled_orders bigint", "returned_orders bigint",
    "non_cancelled_orders bigint", "cancellation_rate double", "unique_buyers bigint",
    "items_sold bigint", "gross_revenue_usd decimal(18,2)", "aov_usd double"])


def payments_daily_schema(enums: Enums) -> str:
    return ", ".join([
        "date date", "successful_payments bigint", "failed_payments bigint", "refunds bigint",
        "payment_attempts bigint", "gross_payments_usd decimal(18,2)",
        "refunded_usd decimal(18,2)", "net_revenue_usd decimal(18,2)", "failure_rate double",
        "refund_rate double", *[f"{m}_usd decimal(18,2)" for m in enums.method]])


def daily_business_metrics_schema(enums: Enums) -> str:
    def without_date(ddl: str) -> list[str]:
        return [f"{name} {dtype}" for name, dtype in schema_columns(ddl) if name != "date"]
    return ", ".join([
        "date date", *without_date(events_daily_schema(enums)),
        *without_date(ORDERS_DAILY_SCHEMA), *without_date(payments_daily_schema(enums)),
        "revenue_per_visitor_usd double", "orders_per_session double",
        "payment_capture_rate double"])


USER_DAILY_FEATURES_SCHEMA = ", ".join([
    "user_id string", "date date", "views bigint", "add_to_carts bigint", "checkouts bigint",
    "purchases bigint", "sessions bigint", "view_to_cart_rate double",
    "cart_to_checkout_rate double", "orders bigint", "spend_usd decimal(18,2)",
    "avg_order_value_usd double", "payment_attempts bigint", "failed_payments bigint",
    "refunded_usd decimal(18,2)", "cart_abandon_flag int", "is_buyer_flag int",
    "has_failed_payment_flag int", "high_value_user_flag int", "spend_7d_usd decimal(18,2)",
    "orders_7d bigint", "days_since_prev_order int"])
