"""Checks on Silver orders: `python data_quality/check_orders.py [--publish]`."""
from __future__ import annotations

import sys

from data_quality.cli import check_main
from data_quality.engine import ERROR, WARN, Check
from lakehouse.config import Config
from lakehouse.contract import ORDERS


def checks(cfg: Config) -> list[Check]:
    e = cfg.enums
    return [
        Check("row_conservation", "conservation", ERROR),
        Check("reject_rate", "reject_rate", ERROR, threshold=cfg.dq.max_reject_rate),
        *[Check(f"{c}_not_null", "not_null", ERROR, column=c)
          for c in ("order_id", "user_id", "order_ts", "updated_at", "price", "quantity",
                    "total_amount", "currency", "total_amount_usd", "status", "order_date")],
        Check("order_id_unique", "unique", ERROR, column="order_id"),
        Check("status_accepted", "accepted_values", ERROR, column="status", values=tuple(e.order_status)),
        Check("currency_accepted", "accepted_values", ERROR, column="currency", values=tuple(e.currency)),
        Check("quantity_positive", "predicate", ERROR, expression="quantity >= 1"),
        Check("price_positive", "predicate", ERROR, expression="price > 0"),
        Check("amount_matches", "predicate", ERROR,
              expression="abs(total_amount - price * quantity) <= 0.01"),
        Check("dates_complete", "date_completeness", WARN),
        Check("daily_volume", "daily_volume", WARN, threshold=cfg.dq.volume_tolerance),
    ]


if __name__ == "__main__":
    sys.exit(check_main(ORDERS, checks))
