"""The data-quality gate: checks on every Silver table this run staged (the dq_checks step).

    spark-submit data_quality/check_all.py [--profile tiny] [--data-root data] [--run-id ID]
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

from data_quality.cli import run_checks, summarize
from data_quality.suite import SUITE
from lakehouse.cli import job_main
from lakehouse.errors import BadInputError
from lakehouse.silver import staged_silver_tables
from lakehouse.steps import JobContext, StepResult
from lakehouse.tables import TableStore


def run(ctx: JobContext) -> StepResult:
    """Check every staged Silver table; raises DataQualityError when an error check fails."""
    staged = staged_silver_tables(TableStore(ctx.spark, ctx.paths), ctx.run_id)
    if not staged:
        raise BadInputError(f"run {ctx.run_id} staged no Silver table to check; run a Silver step "
                            "first (e.g. --only silver_orders dq_checks); a failed run continues "
                            "with --resume RUN_ID")
    results, rows_checked, report = run_checks(ctx, {t: SUITE[t] for t in staged})
    return StepResult(rows_read=rows_checked, outputs=[ctx.paths.dq_results, report],
                      details={"dq": summarize(results, report), "checked": staged})


def main(argv: Sequence[str] | None = None) -> int:
    return job_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
