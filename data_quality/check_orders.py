"""Checks on Silver orders: `python data_quality/check_orders.py [--publish]`."""
from __future__ import annotations

import sys

from data_quality.cli import check_main
from data_quality.engine import Check, calendar_checks, contract_checks, unique_key_check
from lakehouse.config import Config
from lakehouse.contract import ORDERS, TABLES

SPEC = TABLES[ORDERS]


def checks(cfg: Config) -> list[Check]:
    return [
        *contract_checks(SPEC, cfg),
        unique_key_check(SPEC),
        *calendar_checks(cfg.dq.volume_tolerance),
    ]


if __name__ == "__main__":
    sys.exit(check_main(ORDERS, checks))
