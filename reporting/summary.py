"""The report's figures, computed from the gathered values with plain Python (pure: values in,
values out): the headline KPIs, the chart series, and number formatting."""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

# (label, daily_business_metrics column, format, +1 when up is good / -1 when up is bad)
KPIS = (
    ("Net revenue", "net_revenue_usd", "usd", 1),
    ("Orders", "orders", "int", 1),
    ("Average order value", "aov_usd", "usd", 1),
    ("Session conversion", "session_conversion_rate", "pct", 1),
    ("Payment failure rate", "failure_rate", "pct", -1),
    ("Refund rate", "refund_rate", "pct", -1),
)
FUNNEL = (("views", "views"), ("add to cart", "add_to_carts"), ("checkout", "checkouts"),
          ("purchase", "purchases"))
AVERAGE_DAYS = 7
SUPERSEDED = "duplicate"      # re-sends and superseded order versions: traffic, not bad data
# how the DQ engine words a conservation and a reject-rate result (data_quality/engine.py)
_CONSERVATION = re.compile(r"silver (\d+) \+ quarantine (\d+) = (\d+)")
_BRONZE_LINES = re.compile(r"bronze lines (\d+)")
_RATE = re.compile(r"([0-9.]+) \((\d+)/(\d+)\)")


def fmt(value: float | int | None, kind: str) -> str:
    """A number as a person reads it: `usd` $1,234.56, `int` 1,234, `pct` (a fraction) 12.3%."""
    if value is None:
        return "–"
    if kind == "usd":
        return f"${value:,.0f}" if abs(value) >= 10_000 else f"${value:,.2f}"
    if kind == "pct":
        return f"{value:.2%}" if 0 < abs(value) < 0.01 else f"{value:.1%}"
    if kind == "rate":
        return f"{value:.2%}"
    return f"{value:,.0f}" if isinstance(value, int) or float(value).is_integer() else f"{value:,.2f}"


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def headline(columns: dict[str, list]) -> list[dict]:
    """Each KPI on the last date against the average of the up to 7 dates before it. Counts and
    money change in percent, rates in percentage points."""
    dates = columns["date"]
    out = []
    for label, column, kind, good in KPIS:
        values = columns[column]
        last, before = values[-1], values[-1 - AVERAGE_DAYS:-1]
        average = _mean(before)
        if last is None or average is None:
            change = None
        elif kind == "pct":
            change = last - average
        else:
            change = (last - average) / average if average else None
        out.append({"label": label, "column": column, "kind": kind, "date": dates[-1],
                    "value": last, "average": average, "days_averaged": len([v for v in before if v is not None]),
                    "change": change, "good": None if not change else (change > 0) == (good > 0)})
    return out


def total(columns: dict[str, list], column: str) -> float:
    """The column's sum over all dates (money rounded to the cent, as in the table)."""
    return round(sum(v for v in columns[column] if v is not None), 2)


def business_charts(columns: dict[str, list], enums: dict[str, Sequence[str]]) -> dict:
    """The series every business chart is drawn from (and the page embeds as data)."""
    dates = columns["date"]
    return {
        "revenue": {"dates": dates, "series": {
            "gross revenue (orders)": columns["gross_revenue_usd"],
            "net revenue (payments)": columns["net_revenue_usd"]}},
        "funnel": {"stages": [(label, int(total(columns, c))) for label, c in FUNNEL]},
        "funnel_daily": {"dates": dates, "series": {
            "view → cart": columns["view_to_cart_rate"],
            "cart → checkout": columns["cart_to_checkout_rate"],
            "checkout → purchase": columns["checkout_to_purchase_rate"]}},
        "mix": {
            "events by device": {d: int(total(columns, f"{d}_events")) for d in enums["device"]},
            "events by source": {s: int(total(columns, f"{s}_events")) for s in enums["source"]},
            "payments by method (USD)": {m: total(columns, f"{m}_usd") for m in enums["method"]}},
        "rates": {"dates": dates, "series": {
            "cancellation rate": columns["cancellation_rate"],
            "payment failure rate": columns["failure_rate"],
            "refund rate": columns["refund_rate"]}},
    }


def split_rejects(reasons: dict[str, int]) -> tuple[int, dict[str, int]]:
    """(superseded rows, real rejects per reason)."""
    return reasons.get(SUPERSEDED, 0), {r: n for r, n in reasons.items() if r != SUPERSEDED}


def history_series(history: list[dict], tables: Sequence[str]) -> dict:
    """Silver rows and reject rate per table over the runs that recorded checks."""
    runs = sorted({(h["checked_at"], h["run_id"]) for h in history})
    index = {(h["checked_at"], h["run_id"], h["table"]): h for h in history}

    def series(field: str) -> dict[str, list]:
        return {t: [index.get((c, r, t), {}).get(field) for c, r in runs] for t in tables}
    return {"runs": [r for _, r in runs], "checked_at": [c for c, _ in runs],
            "silver_rows": series("silver"), "reject_rate": series("reject_rate")}


def step_timeline(run: dict) -> list[tuple[str, float, float, str]]:
    """(step, seconds from the run's start, duration, status) of every step that ran."""
    started = dt.datetime.fromisoformat(run["started_at"])
    out = []
    for s in run["steps"]:
        if s.get("started_at") and s["status"] not in ("reused", "not_planned"):
            offset = (dt.datetime.fromisoformat(s["started_at"]) - started).total_seconds()
            out.append((s["name"], round(offset, 3), round(s["duration_s"], 3), s["status"]))
    return out


def date_span(dates: Sequence[str]) -> str:
    """`2026-01-01..2026-01-31 (31 dates)`, or the dates themselves when there are few."""
    if not dates:
        return "none"
    if len(dates) <= 3:
        return ", ".join(dates)
    return f"{dates[0]}..{dates[-1]} ({len(dates)} dates)"


def conservation_figures(observed: str, expected: str) -> dict | None:
    """Silver rows, quarantined rows and Bronze lines from a conservation check's result."""
    m, b = _CONSERVATION.fullmatch(observed), _BRONZE_LINES.fullmatch(expected)
    if not (m and b):
        return None
    return {"silver": int(m[1]), "quarantine": int(m[2]), "bronze": int(b[1])}


def reject_rate(observed: str) -> float | None:
    m = _RATE.fullmatch(observed)
    return int(m[2]) / int(m[3]) if m and int(m[3]) else (0.0 if m else None)
