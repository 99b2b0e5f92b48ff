"""Generate all three Bronze tables from one simulation: `python ingestion/generate_all.py`."""
from __future__ import annotations

import sys

from ingestion.cli import main, run

__all__ = ["main", "run"]

if __name__ == "__main__":
    sys.exit(main())
