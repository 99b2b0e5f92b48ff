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
from pathlib import Path

from lakehouse.config import Config, load_config
from lakehouse.errors import EXIT_OK, ConfigError, PipelineError
from lakehouse.paths import DataPaths
from lakehouse.steps import JobContext, RunMode, StepResult

Job = Callable[[JobContext], StepResult]


def new_run_id() -> str:
    return f"{dt.datetime.now(dt.timezone.utc):%Y%m%d_%H%M%S}_{uuid.uuid4().hex[:6]}"


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", default=None, help="path to config.yaml (default: the repo's)")
    parser.add_argument("--profile", default="default", help="config profile: tiny, small, default, medium, large")
    parser.add_argument("--data-root", default="data", help="root directory or URI of all data (default: data)")
    parser.add_argument("--run-id", default=None, help="the pipeline run this step belongs to "
                                                       "(default: a new id)")
    add_mode_arguments(parser)
    return parser


def add_mode_arguments(parser: argparse.ArgumentParser) -> None:
    """The run-mode flags every entry point takes (docs/incremental.md)."""
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full-refresh", action="store_true",
                      help="process every Bronze partition (default: only the unpublished ones "
                           "once a run has published)")
    mode.add_argument("--backfill", metavar="START[..END]",
                      help="re-process these ingest dates (their Bronze files were replaced)")
    parser.add_argument("--through", metavar="YYYY-MM-DD",
                        help="generate Bronze up to this ingest date (default: generator.start_date "
                             "+ generator.days - 1)")


def _date_arg(flag: str, text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: expected a date YYYY-MM-DD") from None


def mode_from_args(args: argparse.Namespace) -> RunMode:
    """The RunMode the flags ask for; a ConfigError (exit 2) for a malformed date or range."""
    backfill = None
    if getattr(args, "backfill", None):
        start, _, end = args.backfill.partition("..")
        backfill = (_date_arg("--backfill", start), _date_arg("--backfill", end or start))
        if backfill[1] < backfill[0]:
            raise ConfigError(f"--backfill {args.backfill}: the range ends before it starts")
    through = _date_arg("--through", args.through) if getattr(args, "through", None) else None
    return RunMode(bool(getattr(args, "full_refresh", False)), backfill, through)


def load_from_args(args: argparse.Namespace) -> tuple[Config, DataPaths]:
    cfg = load_config(args.config, args.profile)
    return cfg, DataPaths.create(args.data_root, cfg.paths)


def context_from_args(args: argparse.Namespace) -> JobContext:
    """A step's context for a standalone run; the SparkSession starts when a step first asks."""
    cfg, paths = load_from_args(args)
    run_id = args.run_id or new_run_id()

    def session():
        from lakehouse.spark import get_spark     # deferred: the generators never import pyspark
        # named after the job and its run, as the Spark UI and the History Server list it
        return get_spark(cfg.spark, f"{cfg.spark.app_name} {Path(sys.argv[0]).stem} {run_id}")

    return JobContext(cfg, paths, run_id, session, mode_from_args(args))


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
