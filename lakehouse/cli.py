"""The command line every entry point shares (`--config`, `--profile`, `--data-root`,
`--run-id`), and the one place a PipelineError becomes a one-line message and its exit code.

Nothing here imports pyspark: the generators use it too.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import uuid
from collections.abc import Callable, Sequence

from lakehouse.config import Config, load_config
from lakehouse.errors import EXIT_OK, PipelineError
from lakehouse.paths import DataPaths
from lakehouse.steps import JobContext, StepResult

Job = Callable[[JobContext], StepResult]


def new_run_id() -> str:
    return f"{dt.datetime.now(dt.timezone.utc):%Y%m%d_%H%M%S}_{uuid.uuid4().hex[:6]}"


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", default=None, help="path to config.yaml (default: the repo's)")
    parser.add_argument("--profile", default="default", help="config profile: tiny, small, default, large")
    parser.add_argument("--data-root", default="data", help="root directory or URI of all data (default: data)")
    parser.add_argument("--run-id", default=None, help="the pipeline run this step belongs to "
                                                       "(default: a new id)")
    return parser


def load_from_args(args: argparse.Namespace) -> tuple[Config, DataPaths]:
    cfg = load_config(args.config, args.profile)
    return cfg, DataPaths.create(args.data_root, cfg.paths)


def context_from_args(args: argparse.Namespace) -> JobContext:
    """A step's context for a standalone run; the SparkSession starts when a step first asks."""
    cfg, paths = load_from_args(args)

    def session():
        from lakehouse.spark import get_spark     # deferred: the generators never import pyspark
        return get_spark(cfg.spark)

    return JobContext(cfg, paths, args.run_id or new_run_id(), session)


def setup_logging(level: int = logging.INFO) -> None:
    """Logs to stderr, so stdout carries only a job's JSON result line."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr, force=True)
    logging.getLogger("py4j").setLevel(logging.WARNING)


def run_main(body: Callable[[argparse.Namespace], int | None], parser: argparse.ArgumentParser,
             argv: Sequence[str] | None = None) -> int:
    """Parse flags, run `body`, and map the project's errors to exit codes with a one-line message."""
    setup_logging()
    args = parser.parse_args(argv)
    try:
        return body(args) or EXIT_OK
    except PipelineError as exc:
        print(f"{exc.label}: {exc}", file=sys.stderr)
        return exc.exit_code


def job_main(run: Job, description: str, argv: Sequence[str] | None = None,
             parser: argparse.ArgumentParser | None = None) -> int:
    """`spark-submit <step>.py [--config] [--profile] [--data-root] [--run-id]` for any step:
    run it and print its result as one JSON line on stdout (what --submit mode reads back)."""
    def body(args) -> int:
        result = run(context_from_args(args))
        print(json.dumps(result.as_dict(), default=str))
        return EXIT_OK

    return run_main(body, parser or base_parser(description), argv)
