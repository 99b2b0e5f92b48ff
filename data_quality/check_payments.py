"""Checks on Silver payments: `python data_quality/check_payments.py [--publish]`."""
from __future__ import annotations

import sys

from data_quality.cli import check_main
from data_quality.engine import ERROR, WARN, Check, calendar_checks, load_checks, not_null_checks
from lakehouse.config import Config
from lakehouse.contract import ORDERS, PAYMENTS
from spark_jobs.bronze_to_silver_payments import AMOUNT_SIGN_RULE


def checks(cfg: Config) -> list[Check]:
    e = cfg.enums
    return [
        *load_checks(cfg.dq.max_reject_rate),
        *not_null_checks(("payment_id", "order_id", "payment_ts", "method", "status", "amount",
                          "currency", "amount_usd", "payment_date")),
        Check("payment_id_unique", "unique", ERROR, column="payment_id"),
        Check("status_accepted", "accepted_values", ERROR, column="status", values=tuple(e.payment_status)),
        Check("method_accepted", "accepted_values", ERROR, column="method", values=tuple(e.method)),
        Check("currency_accepted", "accepted_values", ERROR, column="currency", values=tuple(e.currency)),
        Check("amount_sign", "predicate", ERROR, expression=AMOUNT_SIGN_RULE),
        Check("order_exists", "referential", WARN, column="order_id", reference=ORDERS),
        *calendar_checks(cfg.dq.volume_tolerance),
    ]


if __name__ == "__main__":
    sys.exit(check_main(PAYMENTS, checks))
