"""Checks on Silver user_events: `python data_quality/check_user_events.py [--publish]`."""
from __future__ import annotations

import sys

from data_quality.cli import check_main
from data_quality.engine import WARN, Check, calendar_checks, contract_checks, unique_key_check
from lakehouse.config import Config
from lakehouse.contract import ORDERS, TABLES, USER_EVENTS

SPEC = TABLES[USER_EVENTS]


def checks(cfg: Config) -> list[Check]:
    return [
        *contract_checks(SPEC, cfg),
        unique_key_check(SPEC),
        # a purchase may arrive before its order: a warning, never a reject
        Check("purchase_order_exists", "referential", WARN, column="order_id", reference=ORDERS),
        *calendar_checks(cfg.dq.volume_tolerance),
    ]


if __name__ == "__main__":
    sys.exit(check_main(USER_EVENTS, checks))
