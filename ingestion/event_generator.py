"""Generate Bronze `user_events`: `python ingestion/event_generator.py [--profile tiny] [--data-root DIR]`."""
from __future__ import annotations

import sys

from ingestion.cli import generator_main
from lakehouse.contract import USER_EVENTS

if __name__ == "__main__":
    sys.exit(generator_main((USER_EVENTS,)))
