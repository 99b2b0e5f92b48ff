"""Run a table's checks against its staged (or published) Silver version, record the results
(append-only history), write the per-run report, and decide the gate."""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from data_quality.engine import Check, CheckResult, TableData, evaluate
from lakehouse.conform import literal_rows
from lakehouse.contract import ORDERS, TABLES
from lakehouse.paths import join
from lakehouse.publish import open_table, published_versions
from lakehouse.bronze import list_bronze
from lakehouse.steps import JobContext
from lakehouse.tables import TableStore

log = logging.getLogger(__name__)

RESULTS_SCHEMA = ("run_id string, checked_at timestamp, table string, check string, kind string, "
                  "severity string, passed boolean, observed string, expected string")


def table_data(ctx: JobContext, table: str, target: str = "staged") -> TableData:
    """Gather what the checks of `table` look at: the whole Silver table as it will be published,
    its quarantine counts, the Bronze lines behind them, the ingest dates this run read (and all
    dates, for the volume history), and the orders table for referential checks (staged if this
    run staged it, else published)."""
    spark, paths = ctx.spark, ctx.paths
    store = TableStore(spark, paths)
    versions = {}
    ingest = None
    if target == "staged":
        (silver, versions["silver"]), (quarantine, versions["quarantine"]) = (
            store.read_staged(p, ctx.run_id) for p in (paths.silver(table), paths.quarantine(table)))
        # lineage is gated with its Silver table; no check reads its rows
        versions["lineage"] = store.staged_marker(paths.lineage(table), ctx.run_id)["version"]
        ingest = store.staged_marker(paths.silver(table), ctx.run_id).get("ingest")
    else:
        silver, quarantine = (open_table(store, p) for p in (paths.silver(table), paths.quarantine(table)))
    counts = {r["reject_reason"]: r["count"] for r in quarantine.groupBy("reject_reason").count().collect()}
    orders_path = paths.silver(ORDERS)
    if target == "staged" and store.has_staged(orders_path, ctx.run_id):
        orders = store.read_staged(orders_path, ctx.run_id)[0]
    elif paths.relative(orders_path) in published_versions(store):
        orders = open_table(store, orders_path)
    else:
        orders = None
    if ingest is None:     # the published table: every Bronze line there is
        bronze = list_bronze(store.fs, paths.bronze(table))
        files, kept_lines, read, history = bronze.files, 0, bronze.dates, bronze.dates
    else:                  # the lines this run read, counted again here, + those published before
        read = [dt.date.fromisoformat(d) for d in ingest["read"]]
        files = [join(paths.bronze(table), f"ingest_date={d}", name)
                 for d in ingest["read"] for name in ingest["state"][d]["files"]]
        kept_lines = ingest["kept_lines"]
        history = [dt.date.fromisoformat(d) for d in ingest["state"]]
    lines = spark.read.text(files).count() if files else 0
    return TableData(
        table=table, rows=silver, date_column=TABLES[table].date_column,
        bronze_lines=kept_lines + lines, quarantine_counts=counts,
        expected_dates=read, history_dates=history, references={ORDERS: orders},
        versions=versions)


def check_table(ctx: JobContext, table: str, checks: Sequence[Check],
                target: str = "staged") -> tuple[list[CheckResult], TableData]:
    """The table's check results, and what they looked at (rows checked, staged versions)."""
    data = table_data(ctx, table, target)
    results = evaluate(data, checks)
    for r in results:
        level = logging.INFO if r.passed else (logging.ERROR if r.blocking else logging.WARNING)
        log.log(level, "DQ %-11s %-34s %-5s %-4s observed: %s | expected: %s", table, r.check,
                r.severity, "PASS" if r.passed else "FAIL", r.observed, r.expected)
    return results, data


def record_results(ctx: JobContext, results: Sequence[CheckResult]) -> str:
    """Append this run's results to the history (never overwritten) and write its report;
    returns the report's path."""
    checked_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    spark, paths, run_id = ctx.spark, ctx.paths, ctx.run_id
    rows = [(run_id, checked_at, r.table, r.check, r.kind, r.severity, r.passed, r.observed,
             r.expected) for r in results]
    literal_rows(spark, rows, RESULTS_SCHEMA).coalesce(1).write.mode("append").parquet(paths.dq_results)
    report = join(paths.dq_reports, f"{run_id}.md")
    TableStore(spark, paths).fs.write_text(report, render_report(run_id, checked_at, results))
    return report


def render_report(run_id: str, checked_at: dt.datetime, results: Sequence[CheckResult]) -> str:
    blocking = [r for r in results if r.blocking]
    warnings = [r for r in results if not r.passed and not r.blocking]
    verdict = "FAILED: nothing published" if blocking else "PASSED"
    lines = [
        f"# Data-quality report — run {run_id}", "",
        f"Checked at {checked_at:%Y-%m-%d %H:%M:%S} UTC. Gate: **{verdict}**. "
        f"{len(results)} checks, {len(blocking)} blocking failures, {len(warnings)} warnings.", "",
        "| table | check | kind | severity | result | observed | expected |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        status = "pass" if r.passed else ("**FAIL**" if r.blocking else "warn")
        lines.append(f"| {r.table} | {r.check} | {r.kind} | {r.severity} | {status} | "
                     f"{_cell(r.observed)} | {_cell(r.expected)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
