"""The data contract as data: one spec per Silver table, and the Gold schemas.

A fact about a table (its raw fields, required fields, Silver schema, date column, key, survivor
order, validation rules) is written once, in its `TableSpec`; the Silver jobs' rule lists, the
reject-reason order, the generator's defect list, the config validation of `defects:` and the
data-quality checks are all derived from it. Enum lists and FX rates live in config.yaml: a rule
names an enum list as a `{placeholder}` that is filled from config.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # config imports this module to validate `defects:`
    from lakehouse.config import Enums

USER_EVENTS, ORDERS, PAYMENTS = "user_events", "orders", "payments"
BRONZE_TABLES = (USER_EVENTS, ORDERS, PAYMENTS)

# The rules every table opens and closes with, added by the rule engine (lakehouse/validation.py).
MALFORMED_JSON, MISSING_REQUIRED_FIELD, DUPLICATE = "malformed_json", "missing_required_field", "duplicate"
# Rejects that count against dq.max_reject_rate: re-sends and superseded versions are normal.
RATE_EXEMPT_REASONS = (DUPLICATE,)


@dataclass(frozen=True)
class Rule:
    """A reject rule: `predicate` is SQL over the typed columns, TRUE for a row that passes;
    `{event_type}`-style placeholders name an enum list of config.yaml. `check` names the
    data-quality check that asserts the same predicate on Silver (None: another check covers it)."""
    reason: str
    predicate: str
    check: str | None = None

    def sql(self, enums: Enums) -> str:
        return self.predicate.format(**enum_sql_lists(enums))


@dataclass(frozen=True)
class TableSpec:
    name: str
    raw_fields: tuple[str, ...]      # fields of the raw JSON object, in file order
    required: tuple[str, ...]        # rule 2: null/empty -> missing_required_field (same names in Silver)
    silver_schema: str               # DDL, column order and types of the Silver table
    date_column: str                 # Silver partition column
    key: str                         # rule 7: dedup key
    rules: tuple[Rule, ...]          # rules 3-6, in order (the engine adds rules 1, 2 and 7)
    survivor_order: tuple[str, ...] = ()   # rule 7: greatest first, then the greatest raw line
    never_null: tuple[str, ...] = ()       # derived Silver columns that are never NULL
    invariants: tuple[tuple[str, str], ...] = ()   # (check, SQL) that hold on every Silver row

    @property
    def reasons(self) -> tuple[str, ...]:
        """Every reject reason of this table, in rule order (also the generator's defect types)."""
        table_reasons = dict.fromkeys(r.reason for r in self.rules)
        return (MALFORMED_JSON, MISSING_REQUIRED_FIELD, *table_reasons, DUPLICATE)

    @property
    def not_null_columns(self) -> tuple[str, ...]:
        return (*self.required, *self.never_null, self.date_column)


def enum_sql_lists(enums: Enums) -> dict[str, str]:
    """`{name: "('a', 'b')"}` for every enum list, quotes escaped, for IN predicates."""
    return {name: sql_list(values) for name, values in dataclasses.asdict(enums).items()}


def sql_list(values) -> str:
    return "(" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + ")"


TABLES: dict[str, TableSpec] = {
    USER_EVENTS: TableSpec(
        name=USER_EVENTS,
        raw_fields=("event_id", "user_id", "session_id", "event_type", "event_ts", "product_id",
                    "category", "price", "device", "source", "order_id", "ip_address",
                    "user_agent"),
        required=("event_id", "user_id", "session_id", "event_type", "event_ts"),
        silver_schema=(
            "event_id string, user_id string, session_id string, event_type string, "
            "event_ts timestamp, product_id string, category string, price decimal(12,2), "
            "device string, source string, order_id bigint, ip_hash string, user_agent string, "
            "event_date date"),
        date_column="event_date",
        key="event_id",
        rules=(
            Rule("invalid_timestamp", "event_ts IS NOT NULL"),
            Rule("invalid_event_type", "event_type IN {event_type}", check="event_type_accepted"),
            # device and source are optional: NULL passes, any other value must be in its list
            Rule("invalid_dimension", "device IS NULL OR device IN {device}", check="device_accepted"),
            Rule("invalid_dimension", "source IS NULL OR source IN {source}", check="source_accepted"),
            Rule("invalid_order_id", "event_type <> 'purchase' OR order_id IS NOT NULL"),
        ),
        invariants=(
            ("purchase_has_order_id", "(event_type = 'purchase') = (order_id IS NOT NULL)"),
            ("event_date_matches_ts", "event_date = to_date(event_ts)"),
        ),
    ),
    ORDERS: TableSpec(
        name=ORDERS,
        raw_fields=("order_id", "user_id", "order_ts", "updated_at", "product_id", "category",
                    "price", "quantity", "total_amount", "currency", "status"),
        required=("order_id", "user_id", "order_ts", "updated_at", "price", "quantity",
                  "total_amount", "currency", "status"),
        silver_schema=(
            "order_id bigint, user_id string, order_ts timestamp, updated_at timestamp, "
            "product_id string, category string, price decimal(12,2), quantity int, "
            "total_amount decimal(12,2), currency string, total_amount_usd decimal(14,2), "
            "status string, order_date date"),
        date_column="order_date",
        key="order_id",
        rules=(
            Rule("invalid_timestamp", "order_ts IS NOT NULL AND updated_at IS NOT NULL"),
            Rule("invalid_status", "status IN {order_status}", check="status_accepted"),
            Rule("invalid_currency", "currency IN {currency}", check="currency_accepted"),
            Rule("invalid_order_id", "order_id IS NOT NULL"),
            Rule("invalid_quantity", "quantity >= 1", check="quantity_positive"),
            Rule("invalid_price", "price > 0", check="price_positive"),
            Rule("amount_mismatch", "abs(total_amount - price * quantity) <= 0.01",
                 check="amount_matches"),
        ),
        survivor_order=("updated_at",),      # the latest version of an order survives
        never_null=("total_amount_usd",),
    ),
    PAYMENTS: TableSpec(
        name=PAYMENTS,
        raw_fields=("payment_id", "order_id", "payment_ts", "method", "status", "amount",
                    "currency"),
        required=("payment_id", "order_id", "payment_ts", "method", "status", "amount",
                  "currency"),
        silver_schema=(
            "payment_id string, order_id bigint, payment_ts timestamp, method string, "
            "status string, amount decimal(12,2), currency string, amount_usd decimal(14,2), "
            "payment_date date"),
        date_column="payment_date",
        key="payment_id",
        rules=(
            Rule("invalid_timestamp", "payment_ts IS NOT NULL"),
            Rule("invalid_status", "status IN {payment_status}", check="status_accepted"),
            Rule("invalid_method", "method IN {method}", check="method_accepted"),
            Rule("invalid_currency", "currency IN {currency}", check="currency_accepted"),
            Rule("invalid_order_id", "order_id IS NOT NULL"),
            # refunds carry negative amounts, every other status a positive one
            Rule("invalid_amount_sign",
                 "CASE WHEN status = 'refunded' THEN amount < 0 ELSE amount > 0 END",
                 check="amount_sign"),
        ),
        never_null=("amount_usd",),
    ),
}


def reason_order(specs) -> tuple[str, ...]:
    """One order of all reject reasons that agrees with every table's rule order (a stable
    topological merge; ties go to the reason seen first, tables in order)."""
    seen = list(dict.fromkeys(r for spec in specs for r in spec.reasons))
    before = {r: set() for r in seen}
    for spec in specs:
        for i, reason in enumerate(spec.reasons):
            before[reason].update(spec.reasons[:i])
    ordered: list[str] = []
    while len(ordered) < len(seen):
        ordered.append(next(r for r in seen if r not in ordered and before[r] <= set(ordered)))
    return tuple(ordered)


# Every reject reason, each table's rule order kept.
REJECT_REASONS = reason_order(TABLES.values())
DEFECT_TYPES: dict[str, tuple[str, ...]] = {name: spec.reasons for name, spec in TABLES.items()}

QUARANTINE_SCHEMA = "raw_record string, reject_reason string, source_file string, ingest_date date"


def schema_columns(ddl: str) -> list[tuple[str, str]]:
    """(name, type) pairs of a DDL string such as "a bigint, b string"."""
    return [tuple(c.split(" ", 1)) for c in ddl.split(", ")]


def column_names(ddl: str) -> list[str]:
    return [name for name, _ in schema_columns(ddl)]


def classified_schema(table: str) -> str:
    """What a Silver transform returns: the Silver columns, then the quarantine columns."""
    silver = TABLES[table].silver_schema
    names = column_names(silver)
    return ", ".join([silver, *[f"{n} {t}" for n, t in schema_columns(QUARANTINE_SCHEMA)
                                if n not in names]])


def lineage_schema(table: str) -> str:
    """The lineage of a Silver table: per Silver row, its key and date, and the Bronze line it
    came from (what an incremental run needs to re-rank a key without rescanning Bronze)."""
    spec = TABLES[table]
    types = dict(schema_columns(spec.silver_schema))
    return (f"{spec.key} {types[spec.key]}, {spec.date_column} date, raw_record string, "
            "source_file string, ingest_date date")


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
