"""Checks on Silver user_events: `python data_quality/check_user_events.py [--publish]`."""
from __future__ import annotations

import sys

from data_quality.cli import check_main
from data_quality.engine import ERROR, WARN, Check, calendar_checks, load_checks, not_null_checks
from lakehouse.config import Config
from lakehouse.contract import ORDERS, USER_EVENTS


def checks(cfg: Config) -> list[Check]:
    e = cfg.enums
    return [
        *load_checks(cfg.dq.max_reject_rate),
        *not_null_checks(("event_id", "user_id", "session_id", "event_type", "event_ts", "event_date")),
        Check("event_id_unique", "unique", ERROR, column="event_id"),
        Check("event_type_accepted", "accepted_values", ERROR, column="event_type", values=tuple(e.event_type)),
        Check("device_accepted", "accepted_values", ERROR, column="device", values=tuple(e.device), allow_null=True),
        Check("source_accepted", "accepted_values", ERROR, column="source", values=tuple(e.source), allow_null=True),
        Check("purchase_has_order_id", "predicate", ERROR,
              expression="(event_type = 'purchase') = (order_id IS NOT NULL)"),
        Check("event_date_matches_ts", "predicate", ERROR, expression="event_date = to_date(event_ts)"),
        Check("purchase_order_exists", "referential", WARN, column="order_id", reference=ORDERS),
        *calendar_checks(cfg.dq.volume_tolerance),
    ]


if __name__ == "__main__":
    sys.exit(check_main(USER_EVENTS, checks))
