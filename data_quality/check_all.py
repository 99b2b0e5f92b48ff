"""All Silver checks and the gate in one go (what the orchestrator's dq_checks step runs).

    spark-submit data_quality/check_all.py [--profile tiny] [--data-root data] [--run-id ID]
"""
from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession

from data_quality.cli import new_run_id, run_checks, summarize
from data_quality.suite import SUITE
from lakehouse.cli import base_parser, load_from_args, run_main
from lakehouse.config import Config
from lakehouse.jobs import StepResult
from lakehouse.paths import DataPaths
from lakehouse.spark import get_spark


def run_all_checks(spark: SparkSession, cfg: Config, paths: DataPaths, run_id: str) -> StepResult:
    """Check every staged Silver table; raises DataQualityError when an error check fails."""
    results, rows_checked = run_checks(spark, cfg, paths, run_id, SUITE)
    return StepResult(rows_read=rows_checked, outputs=[paths.dq_results, paths.dq_reports],
                      details={"dq": summarize(results)})


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser("Data-quality checks on every staged Silver table.")
    parser.add_argument("--run-id", default=None)

    def body(args) -> int:
        cfg, paths = load_from_args(args)
        result = run_all_checks(get_spark(cfg.spark), cfg, paths, args.run_id or new_run_id())
        print(json.dumps(result.as_dict()))
        return 0

    return run_main(body, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
