"""The gate (run checks, record them, stop on an `error` failure) and the command line every
check script shares."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from data_quality.engine import Check, CheckResult
from data_quality.runner import check_table, record_results
from lakehouse.cli import base_parser, context_from_args, run_main
from lakehouse.config import Config
from lakehouse.errors import DataQualityError
from lakehouse.publish import publish_run, record_gate
from lakehouse.steps import JobContext
from lakehouse.tables import TableStore

log = logging.getLogger(__name__)

ChecksFn = Callable[[Config], list[Check]]


def gate(results: Sequence[CheckResult]) -> None:
    """Raise DataQualityError naming every blocking failure."""
    blocking = [r for r in results if r.blocking]
    if blocking:
        detail = "; ".join(f"{r.table}.{r.check}: observed {r.observed}, expected {r.expected}"
                           for r in blocking)
        raise DataQualityError(f"{len(blocking)} error check(s) failed, nothing published: {detail}")


def run_checks(ctx: JobContext, suite: dict[str, ChecksFn],
               target: str = "staged") -> tuple[list[CheckResult], int, str]:
    """Check every table of `suite`, record the results, then apply the gate. Returns the
    results, the number of Silver rows checked and the report's path."""
    # Tables are checked side by side: their small Spark jobs overlap on the shared session.
    with ThreadPoolExecutor(max_workers=len(suite), thread_name_prefix="dq") as pool:
        futures = [pool.submit(check_table, ctx, table, checks(ctx.cfg), target)
                   for table, checks in suite.items()]
        checked = [f.result() for f in futures]
    results = [r for table_results, _ in checked for r in table_results]
    report = record_results(ctx, results)
    if target == "staged":     # the verdict, per table, on exactly the versions checked
        record_gate(TableStore(ctx.spark, ctx.paths), ctx.run_id, {
            f"{layer}/{data.table}": (version, not any(r.blocking for r in table_results))
            for table_results, data in checked for layer, version in data.versions.items()})
    try:
        gate(results)
    except DataQualityError as exc:
        raise DataQualityError(f"{exc} (report: {report})") from None
    return results, sum(data.rows_checked for _, data in checked), report


def summarize(results: Sequence[CheckResult], report: str) -> dict:
    """The DQ summary for logs and the run manifest."""
    return {
        "checks": len(results),
        "passed": sum(r.passed for r in results),
        "failed_error": sum(r.blocking for r in results),
        "failed_warn": sum(not r.passed and not r.blocking for r in results),
        "failures": [f"{r.table}.{r.check} ({r.severity}): {r.observed}" for r in results if not r.passed],
        "report": report,
    }


def check_main(table: str, checks: ChecksFn, argv: Sequence[str] | None = None) -> int:
    parser = base_parser(f"Data-quality checks on Silver {table}.")
    parser.add_argument("--target", choices=("staged", "published"), default="staged",
                        help="which Silver version to check (default: the staged one)")
    parser.add_argument("--publish", action="store_true",
                        help="publish what the run staged when every error check passes")

    def body(args) -> int:
        ctx = context_from_args(args)
        results, rows, report = run_checks(ctx, {table: checks}, args.target)
        print(json.dumps({"rows_read": rows, "details": {"dq": summarize(results, report)}}))
        if args.publish and args.target == "staged":
            publish_run(TableStore(ctx.spark, ctx.paths), ctx.run_id)
        return 0

    return run_main(body, parser, argv)
