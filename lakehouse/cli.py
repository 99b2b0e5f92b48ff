"""The flags every entry point shares, and one way to turn a ConfigError into exit code 2."""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from lakehouse.config import Config, ConfigError, load_config
from lakehouse.paths import DataPaths

EXIT_OK = 0
EXIT_STEP_FAILED = 1
EXIT_CONFIG_ERROR = 2
EXIT_DQ_FAILED = 3
EXIT_ALREADY_RUNNING = 4
EXIT_BAD_INPUT = 5      # a single job's missing/unusable input (the orchestrator reports it as 1)


class BadInputError(Exception):
    """Input a person must fix (a missing Bronze table, for example). Never retried."""


class DataQualityError(Exception):
    """An `error` data-quality check failed: nothing is published. Never retried."""


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", default=None, help="path to config.yaml (default: the repo's)")
    parser.add_argument("--profile", default="default", help="config profile: tiny, small, default, large")
    parser.add_argument("--data-root", default="data", help="root directory or URI of all data (default: data)")
    return parser


def load_from_args(args: argparse.Namespace) -> tuple[Config, DataPaths]:
    cfg = load_config(args.config, args.profile)
    return cfg, DataPaths.create(args.data_root, cfg.paths)


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
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    except BadInputError as exc:
        print(f"input error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except DataQualityError as exc:
        print(f"data quality gate failed: {exc}", file=sys.stderr)
        return EXIT_DQ_FAILED
