"""Checks on Silver orders: `python data_quality/check_orders.py [--publish]`."""
from __future__ import annotations

import sys

from data_quality.cli import check_main
from data_quality.engine import ERROR, Check, calendar_checks, load_checks, not_null_checks
from lakehouse.config import Config
from lakehouse.contract import ORDERS


def checks(cfg: Config) -> list[Check]:
    e = cfg.enums
    return [
        *load_checks(cfg.dq.max_reject_rate),
        *not_null_checks(("order_id", "user_id", "order_ts", "updated_at", "price", "quantity",
                          "total_amount", "currency", "total_amount_usd", "status", "order_date")),
        Check("order_id_unique", "unique", ERROR, column="order_id"),
        Check("status_accepted", "accepted_values", ERROR, column="status", values=tuple(e.order_status)),
        Check("currency_accepted", "accepted_values", ERROR, column="currency", values=tuple(e.currency)),
        Check("quantity_positive", "predicate", ERROR, expression="quantity >= 1"),
        Check("price_positive", "predicate", ERROR, expression="price > 0"),
        Check("amount_matches", "predicate", ERROR,
              expression="abs(total_amount - price * quantity) <= 0.01"),
        *calendar_checks(cfg.dq.volume_tolerance),
    ]


if __name__ == "__main__":
    sys.exit(check_main(ORDERS, checks))
