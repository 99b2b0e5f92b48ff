"""Publish everything this run staged (Silver, quarantine, Gold) in one all-or-nothing commit.

    spark-submit spark_jobs/publish.py --run-id RUN_ID [--profile tiny] [--data-root data]

Refuses Silver or quarantine that has not passed the data-quality gate at the staged version.
"""
from __future__ import annotations

import sys

from lakehouse.cli import job_main
from lakehouse.publish import publish_run
from lakehouse.steps import JobContext, StepResult
from lakehouse.tables import TableStore


def run(ctx: JobContext) -> StepResult:
    versions = publish_run(TableStore(ctx.spark, ctx.paths), ctx.run_id)
    return StepResult(outputs=[ctx.paths.publish_current],
                      details={"published": dict(sorted(versions.items()))})


def main(argv=None) -> int:
    return job_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
