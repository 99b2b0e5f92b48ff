"""The project's exceptions, its exit codes, and the one mapping between them.

Every entry point (a job, a check script, a generator, the orchestrator) turns these exceptions
into the same exit codes; --submit mode turns a child's exit code back into the same exception.
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_STEP_FAILED = 1
EXIT_CONFIG_ERROR = 2
EXIT_DQ_FAILED = 3
EXIT_ALREADY_RUNNING = 4
EXIT_BAD_INPUT = 5      # a single job's missing/unusable input (the orchestrator reports it as 1)


class PipelineError(Exception):
    """A failure a person must fix; never retried. `exit_code` is what an entry point returns,
    `label` starts its one-line message."""

    exit_code = EXIT_STEP_FAILED
    label = "error"


class ConfigError(PipelineError):
    """A configuration or usage problem (config file, profile, env override, flag)."""

    exit_code = EXIT_CONFIG_ERROR
    label = "config error"


class BadInputError(PipelineError):
    """Input a person must fix (a missing Bronze table, nothing staged to check, ...)."""

    exit_code = EXIT_BAD_INPUT
    label = "input error"


class DataQualityError(PipelineError):
    """An `error` data-quality check failed: nothing is published."""

    exit_code = EXIT_DQ_FAILED
    label = "data quality gate failed"


PERMANENT_ERRORS: tuple[type[PipelineError], ...] = (ConfigError, BadInputError, DataQualityError)


def run_exit_code(exc: PipelineError) -> int:
    """The orchestrator's exit code for a step that failed with `exc`: a single job's bad input is
    a failed step (1) for the run as a whole."""
    return EXIT_STEP_FAILED if isinstance(exc, BadInputError) else exc.exit_code


def error_for_exit_code(code: int, message: str) -> Exception:
    """The exception a child process meant by exiting with `code` (anything else: retryable)."""
    for error in PERMANENT_ERRORS:
        if error.exit_code == code:
            return error(message)
    return RuntimeError(message)
