"""Running one step with retries and exponential backoff, and the record of how it went."""
from __future__ import annotations

import logging
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from lakehouse.errors import EXIT_STEP_FAILED, PipelineError, run_exit_code
from lakehouse.steps import StepResult

log = logging.getLogger("orchestrator")


class StepFailed(Exception):
    """A step failed for good; `exit_code` is the run's exit code."""

    def __init__(self, step: str, exit_code: int, message: str):
        super().__init__(message)
        self.step, self.exit_code = step, exit_code


@dataclass
class Step:
    name: str
    run: Callable[[], StepResult]       # bound to the run's context by the orchestrator


@dataclass
class RetryPolicy:
    max_retries: int
    base_seconds: float
    max_seconds: float

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with full jitter, capped: attempt 1 waits up to base, then 2x..."""
        ceiling = min(self.max_seconds, self.base_seconds * (2 ** (attempt - 1)))
        return rng.uniform(ceiling / 2, ceiling) if ceiling > 0 else 0.0


@dataclass
class StepRecord:
    name: str
    status: str = "pending"            # pending | running | succeeded | failed | skipped | reused
    attempts: int = 0
    started_at: str | None = None
    duration_s: float = 0.0
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    outputs: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    error: str | None = None


def run_step(step: Step, record: StepRecord, policy: RetryPolicy, sleep=time.sleep,
             rng: random.Random | None = None) -> StepResult:
    """Run one step with retries; raise StepFailed when it fails for good."""
    rng = rng or random.Random()
    attempts = policy.max_retries + 1
    attempt = 0
    while True:
        attempt += 1
        record.attempts = attempt
        started = time.perf_counter()
        log.info("step %s: attempt %d/%d started", step.name, attempt, attempts)
        try:
            result = step.run()
        except PipelineError as exc:      # no retry can fix it
            record.duration_s += time.perf_counter() - started
            code = run_exit_code(exc)
            log.error("step %s: attempt %d failed (not retryable): %s\n%s", step.name, attempt,
                      exc, traceback.format_exc())
            raise StepFailed(step.name, code, f"{type(exc).__name__}: {exc}") from exc
        except Exception as exc:  # anything else may be transient: retry
            record.duration_s += time.perf_counter() - started
            log.error("step %s: attempt %d/%d failed: %s: %s\n%s", step.name, attempt, attempts,
                      type(exc).__name__, exc, traceback.format_exc())
            if attempt == attempts:
                raise StepFailed(step.name, EXIT_STEP_FAILED,
                                 f"{type(exc).__name__}: {exc} (after {attempt} attempts)") from exc
            delay = policy.delay(attempt, rng)
            log.info("step %s: retrying in %.1fs", step.name, delay)
            sleep(delay)
        else:
            record.duration_s += time.perf_counter() - started
            log.info("step %s: attempt %d succeeded in %.2fs", step.name, attempt, record.duration_s)
            return result
