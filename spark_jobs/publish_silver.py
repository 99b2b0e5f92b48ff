"""Publish the staged Silver tables and their quarantine (after the data-quality gate passed).

    spark-submit spark_jobs/publish_silver.py [--profile tiny] [--data-root data]
"""
from __future__ import annotations

import sys

from pyspark.sql import SparkSession

from lakehouse.config import Config
from lakehouse.contract import BRONZE_TABLES
from lakehouse.jobs import StepResult, job_main
from lakehouse.paths import DataPaths
from lakehouse.silver import publish_silver


def run(spark: SparkSession, cfg: Config, paths: DataPaths) -> StepResult:
    for table in BRONZE_TABLES:
        publish_silver(spark, paths, table)
    return StepResult(outputs=[paths.silver(t) for t in BRONZE_TABLES]
                      + [paths.quarantine(t) for t in BRONZE_TABLES])


def main(argv=None) -> int:
    return job_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
