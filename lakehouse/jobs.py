"""What every Spark job shares: its result record and its command line."""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from pyspark.sql import SparkSession

from lakehouse.cli import base_parser, load_from_args, run_main
from lakehouse.config import Config
from lakehouse.paths import DataPaths
from lakehouse.spark import get_spark


@dataclass
class StepResult:
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    outputs: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


JobFn = Callable[[SparkSession, Config, DataPaths], StepResult]


def job_main(run: JobFn, description: str, argv: Sequence[str] | None = None) -> int:
    """`spark-submit spark_jobs/<job>.py [--config] [--profile] [--data-root]` for any job."""
    parser = base_parser(description)

    def body(args) -> int:
        cfg, paths = load_from_args(args)
        spark = get_spark(cfg.spark)
        result = run(spark, cfg, paths)
        print(json.dumps(result.as_dict(), default=str))
        return 0

    return run_main(body, parser, argv)
