"""The command line every check script shares, and the gate the orchestrator calls."""
from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Sequence

from pyspark.sql import SparkSession

from data_quality.engine import Check, CheckResult
from data_quality.runner import check_table, record_results
from lakehouse.cli import DataQualityError, base_parser, load_from_args, run_main
from lakehouse.config import Config
from lakehouse.paths import DataPaths
from lakehouse.silver import publish_silver
from lakehouse.spark import get_spark

log = logging.getLogger(__name__)

ChecksFn = Callable[[Config], list[Check]]


def new_run_id() -> str:
    return f"{dt.datetime.now(dt.timezone.utc):%Y%m%d_%H%M%S}_{uuid.uuid4().hex[:6]}"


def gate(results: Sequence[CheckResult]) -> None:
    """Raise DataQualityError naming every blocking failure."""
    blocking = [r for r in results if r.blocking]
    if blocking:
        detail = "; ".join(f"{r.table}.{r.check}: observed {r.observed}, expected {r.expected}"
                           for r in blocking)
        raise DataQualityError(f"{len(blocking)} error check(s) failed, nothing published: {detail}")


def run_checks(spark: SparkSession, cfg: Config, paths: DataPaths, run_id: str,
               suite: dict[str, ChecksFn], target: str = "staged") -> tuple[list[CheckResult], int]:
    """Check every table of `suite`, record the results, then apply the gate. Returns the
    results and the number of Silver rows checked."""
    # Tables are checked side by side: their small Spark jobs overlap on the shared session.
    with ThreadPoolExecutor(max_workers=len(suite), thread_name_prefix="dq") as pool:
        futures = [pool.submit(check_table, spark, cfg, paths, table, checks(cfg), target)
                   for table, checks in suite.items()]
        checked = [f.result() for f in futures]
    results = [r for table_results, _ in checked for r in table_results]
    record_results(spark, paths, run_id, results)
    gate(results)
    return results, sum(rows for _, rows in checked)


def summarize(results: Sequence[CheckResult]) -> dict:
    """The DQ summary for logs and the run manifest."""
    return {
        "checks": len(results),
        "passed": sum(r.passed for r in results),
        "failed_error": sum(r.blocking for r in results),
        "failed_warn": sum(not r.passed and not r.blocking for r in results),
        "failures": [f"{r.table}.{r.check} ({r.severity}): {r.observed}" for r in results if not r.passed],
    }


def check_main(table: str, checks: ChecksFn, argv: Sequence[str] | None = None) -> int:
    parser = base_parser(f"Data-quality checks on Silver {table}.")
    parser.add_argument("--target", choices=("staged", "published"), default="staged",
                        help="which Silver version to check (default: the staged one)")
    parser.add_argument("--publish", action="store_true",
                        help="publish the staged version when every error check passes")
    parser.add_argument("--run-id", default=None, help="run id for the results history")

    def body(args) -> int:
        cfg, paths = load_from_args(args)
        spark = get_spark(cfg.spark)
        results, rows = run_checks(spark, cfg, paths, args.run_id or new_run_id(), {table: checks},
                                   args.target)
        print(json.dumps({"rows_read": rows, "details": {"dq": summarize(results)}}))
        if args.publish and args.target == "staged":
            publish_silver(spark, paths, table)
        return 0

    return run_main(body, parser, argv)
