"""The orchestrator's machinery: steps with retries and backoff, the run lock, the run manifest.

It knows nothing of the pipeline's steps; orchestrator.py declares them.
"""
from __future__ import annotations

import json
import logging
import os
import random
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lakehouse.cli import (EXIT_CONFIG_ERROR, EXIT_DQ_FAILED, EXIT_STEP_FAILED, BadInputError,
                           DataQualityError)
from lakehouse.config import ConfigError
from lakehouse.jobs import StepResult

log = logging.getLogger("orchestrator")


class StepFailed(Exception):
    """A step failed for good; `exit_code` is the run's exit code."""

    def __init__(self, step: str, exit_code: int, message: str):
        super().__init__(message)
        self.step, self.exit_code = step, exit_code


# Failures no retry can fix, and the run's exit code for each.
PERMANENT: dict[type[BaseException], int] = {
    ConfigError: EXIT_CONFIG_ERROR,
    DataQualityError: EXIT_DQ_FAILED,
    BadInputError: EXIT_STEP_FAILED,
}


@dataclass
class Step:
    name: str
    run: Callable[[], StepResult]       # bound to the run's context by the orchestrator
    depends_on: tuple[str, ...] = ()


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
    for attempt in range(1, attempts + 1):
        record.attempts = attempt
        started = time.perf_counter()
        log.info("step %s: attempt %d/%d started", step.name, attempt, attempts)
        try:
            result = step.run()
        except tuple(PERMANENT) as exc:
            record.duration_s += time.perf_counter() - started
            code = next(c for t, c in PERMANENT.items() if isinstance(exc, t))
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
    raise AssertionError("unreachable")  # pragma: no cover


# --- lock -----------------------------------------------------------------------------------

class AlreadyRunning(Exception):
    pass


class RunLock:
    """One run per data root: an O_EXCL lock file holding the owner's pid and host. A lock whose
    process is gone (same host) is stale and taken over."""

    def __init__(self, path: Path):
        self.path = path

    def acquire(self, run_id: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "run_id": run_id})
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner and self._alive(owner):
                    raise AlreadyRunning(
                        f"another pipeline run ({owner.get('run_id')}, pid {owner.get('pid')} on "
                        f"{owner.get('host')}) holds {self.path}; wait for it to finish") from None
                log.warning("taking over stale lock %s (owner %s is gone)", self.path, owner)
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(payload)
            return
        raise AlreadyRunning(f"could not take the lock {self.path}")

    def release(self) -> None:
        owner = self._owner()
        if owner and owner.get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)

    def _owner(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    @staticmethod
    def _alive(owner: dict) -> bool:
        if owner.get("host") != socket.gethostname():
            return True  # another machine's process: cannot tell, assume alive
        try:
            os.kill(int(owner["pid"]), 0)
        except (ProcessLookupError, ValueError, KeyError, TypeError):
            return False
        except PermissionError:
            return True
        return True


def write_json_atomic(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
