"""Every table's checks, in the order the orchestrator runs them."""
from __future__ import annotations

from data_quality import check_orders, check_payments, check_user_events
from data_quality.cli import ChecksFn
from lakehouse.contract import ORDERS, PAYMENTS, USER_EVENTS

SUITE: dict[str, ChecksFn] = {
    USER_EVENTS: check_user_events.checks,
    ORDERS: check_orders.checks,
    PAYMENTS: check_payments.checks,
}
