"""Publish the staged Silver tables and their quarantine (after the data-quality gate passed).

    spark-submit spark_jobs/publish_silver.py [--profile tiny] [--data-root data]
"""
from __future__ import annotations

import sys

from lakehouse.cli import job_main
from lakehouse.errors import BadInputError
from lakehouse.silver import publish_silver, staged_tables
from lakehouse.steps import JobContext, StepResult
from lakehouse.tables import TableStore


def run(ctx: JobContext) -> StepResult:
    """Publish what this run staged (the tables the data-quality gate just checked)."""
    store = TableStore(ctx.spark, ctx.paths)
    tables = staged_tables(store)
    if not tables:
        raise BadInputError("nothing staged to publish; run the Silver jobs and dq_checks first")
    for table in tables:
        publish_silver(store, table)
    return StepResult(outputs=[ctx.paths.silver(t) for t in tables]
                      + [ctx.paths.quarantine(t) for t in tables],
                      details={"published": tables})


def main(argv=None) -> int:
    return job_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
