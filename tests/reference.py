"""An independent, pure-Python reading of SPEC §2/§6 used as a test oracle: it classifies Bronze
lines without Spark, so the generator's manifest and the Spark jobs are both checked against a
second implementation of the contract."""
from __future__ import annotations

import datetime as dt
import json
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

TS = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
                r"(Z|[+-]\d{2}(?::?\d{2})?)?$")
INT = re.compile(r"^[+-]?\d+$")
REQUIRED = {
    "user_events": ("event_id", "user_id", "session_id", "event_type", "event_ts"),
    "orders": ("order_id", "user_id", "order_ts", "updated_at", "price", "quantity", "total_amount",
               "currency", "status"),
    "payments": ("payment_id", "order_id", "payment_ts", "method", "status", "amount", "currency"),
}


def _reject_constant(name: str):
    raise ValueError(name)


def strict_object(line: str) -> dict | None:
    try:
        value = json.loads(line, parse_float=Decimal, parse_constant=_reject_constant)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def text(value) -> str | None:
    """A field as Spark's string rendering would see it; None when missing/blank."""
    if value is None:
        return None
    if isinstance(value, bool):
        value = "true" if value else "false"
    if isinstance(value, Decimal):
        value = repr(float(value))  # Spark renders JSON floats as Java doubles (2.0 -> "2.0")
    value = str(value)
    return None if value.strip() == "" else value


def timestamp(value: str | None) -> dt.datetime | None:
    m = TS.match(value or "")
    if not m:
        return None
    y, mo, d, h, mi, s, frac, zone = m.groups()
    try:
        t = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0),
                        int((frac or "0")[:6].ljust(6, "0")))
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        hh, mm = int(digits[:2]), int(digits[2:] or 0)
        if hh > 18 or mm > 59:
            return None
        t -= sign * dt.timedelta(hours=hh, minutes=mm)
    return t


def enum(value: str | None) -> str | None:
    return None if value is None else value.strip().lower().replace("-", "_").replace(" ", "_")


def money(value: str | None) -> Decimal | None:
    try:
        d = Decimal(value.strip()).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, AttributeError, ValueError):
        return None
    return d if abs(d) < Decimal("1e10") else None


def integer(value: str | None, bits: int = 64) -> int | None:
    if value is None or not INT.match(value.strip()):
        return None
    n = int(value)
    return n if -(2 ** (bits - 1)) <= n < 2 ** (bits - 1) else None


def reason(table: str, line: str, enums: dict) -> tuple[str | None, object, object]:
    """(reject reason before dedup, dedup key, ordering value) of one line."""
    obj = strict_object(line)
    if obj is None:
        return "malformed_json", None, None
    f = {k: text(v) for k, v in obj.items()}
    if any(f.get(k) is None for k in REQUIRED[table]):
        return "missing_required_field", None, None
    if table == "user_events":
        ts = timestamp(f["event_ts"])
        if ts is None:
            return "invalid_timestamp", None, None
        if enum(f["event_type"]) not in enums["event_type"]:
            return "invalid_event_type", None, None
        for dim in ("device", "source"):
            if f.get(dim) is not None and enum(f[dim]) not in enums[dim]:
                return "invalid_dimension", None, None
        if enum(f["event_type"]) == "purchase" and integer(f.get("order_id")) is None:
            return "invalid_order_id", None, None
        return None, f["event_id"], None
    if table == "orders":
        if timestamp(f["order_ts"]) is None or timestamp(f["updated_at"]) is None:
            return "invalid_timestamp", None, None
        if enum(f["status"]) not in enums["order_status"]:
            return "invalid_status", None, None
        if f["currency"].strip().upper() not in enums["currency"]:
            return "invalid_currency", None, None
        order_id = integer(f["order_id"])
        if order_id is None:
            return "invalid_order_id", None, None
        quantity = integer(f["quantity"], 32)
        if quantity is None or quantity < 1:
            return "invalid_quantity", None, None
        price = money(f["price"])
        if price is None or price <= 0:
            return "invalid_price", None, None
        total = money(f["total_amount"])
        if total is None or abs(total - price * quantity) > Decimal("0.01"):
            return "amount_mismatch", None, None
        return None, order_id, timestamp(f["updated_at"])
    if timestamp(f["payment_ts"]) is None:
        return "invalid_timestamp", None, None
    if enum(f["status"]) not in enums["payment_status"]:
        return "invalid_status", None, None
    if enum(f["method"]) not in enums["method"]:
        return "invalid_method", None, None
    if f["currency"].strip().upper() not in enums["currency"]:
        return "invalid_currency", None, None
    if integer(f["order_id"]) is None:
        return "invalid_order_id", None, None
    amount = money(f["amount"])
    refund = enum(f["status"]) == "refunded"
    if amount is None or (amount >= 0 if refund else amount <= 0):
        return "invalid_amount_sign", None, None
    return None, f["payment_id"], None


def bronze_lines(table_dir: Path) -> list[str]:
    """Every line of a Bronze table; a line ends at \\n, \\r\\n or \\r."""
    lines = []
    for file in sorted(table_dir.glob("ingest_date=*/*.jsonl")):
        lines.extend(raw.decode("utf-8") for raw in file.read_bytes().splitlines())
    return lines


def expected_rejects(table: str, table_dir: Path, enums: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    keys: dict[object, int] = {}
    for line in bronze_lines(table_dir):
        why, key, _ = reason(table, line, enums)
        if why:
            counts[why] = counts.get(why, 0) + 1
        else:
            keys[key] = keys.get(key, 0) + 1
    duplicates = sum(n - 1 for n in keys.values())
    if duplicates:
        counts["duplicate"] = duplicates
    return dict(sorted(counts.items()))


def silver_rows(table: str, table_dir: Path, enums: dict) -> list[dict]:
    """The rows Silver must keep: valid lines, one per key (orders: latest updated_at as an
    instant, then the greatest raw line in UTF-8 byte order; others: the greatest raw line)."""
    best: dict[object, tuple] = {}
    for line in bronze_lines(table_dir):
        why, key, order = reason(table, line, enums)
        if why:
            continue
        rank = (order or dt.datetime.min, line.encode("utf-8"))
        if key not in best or rank > best[key][0]:
            best[key] = (rank, line)
    rows = []
    for _, line in best.values():
        f = {k: text(v) for k, v in strict_object(line).items()}
        rows.append(f)
    return rows


def usd(amount: Decimal, currency: str, rates: dict) -> Decimal:
    return (amount * Decimal(str(rates[currency]))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
