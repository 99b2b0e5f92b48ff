"""Delete the data files no published table version still needs, older than a retention window.

    python scripts/vacuum_tables.py [--profile P] [--data-root data] [--retain-hours 168]

Runs Delta Lake's VACUUM on every table of the current publish (`_publish/current.json`). After
it, reading a table as of a run older than the window (time travel) no longer works; the current
version and every version inside the window stay readable. Below Delta's own 7-day safety
minimum, a reader still on an old version could lose its files: pass --retain-hours below 168
only when nothing else reads the tables.
"""
from __future__ import annotations

import sys

from lakehouse.cli import base_parser, context_from_args, run_main
from lakehouse.paths import join
from lakehouse.publish import published_versions
from lakehouse.tables import TableStore


def vacuum_all(store: TableStore, retain_hours: float, only: list[str] | None = None) -> list[str]:
    """VACUUM every published table (or those of `only`, e.g. ["gold/orders_daily"])."""
    from delta.tables import DeltaTable
    tables = [t for t in sorted(published_versions(store)) if only is None or t in only]
    # Delta refuses a window under 7 days unless its safety check is off for this session
    store.spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled",
                         str(retain_hours >= 168).lower())
    # VACUUM lists a table's files with this many tasks (Spark's default: 10,000, per table)
    store.spark.conf.set("spark.sql.sources.parallelPartitionDiscovery.parallelism",
                         str(store.spark.sparkContext.defaultParallelism))
    for rel in tables:
        DeltaTable.forPath(store.spark, join(store.paths.root, rel)).vacuum(retain_hours)
        print(f"vacuumed {rel} (kept versions newer than {retain_hours:g} h)")
    return tables


def main(argv=None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--retain-hours", type=float, default=168.0,
                        help="keep files needed by versions this recent (default: 168, 7 days)")
    parser.add_argument("--table", action="append", default=None, metavar="LAYER/NAME",
                        help="only this table (repeatable), e.g. gold/orders_daily")

    def body(args) -> int:
        ctx = context_from_args(args)
        vacuum_all(TableStore(ctx.spark, ctx.paths), args.retain_hours, args.table)
        return 0

    return run_main(body, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
