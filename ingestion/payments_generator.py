"""Generate Bronze `payments`: `python ingestion/payments_generator.py [--profile tiny] [--data-root DIR]`."""
from __future__ import annotations

import sys

from ingestion.cli import generator_main
from lakehouse.contract import PAYMENTS

if __name__ == "__main__":
    sys.exit(generator_main((PAYMENTS,)))
