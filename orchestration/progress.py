"""Progress of the running steps on the console: on a terminal one live line (elapsed time per
running step and the Spark stages under way), rewritten every second; in a non-interactive log
one line per long-running step every `interval` seconds, so a log is never flooded."""
from __future__ import annotations

import datetime as dt
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from orchestration.runner import StepRecord

TERMINAL_REFRESH_SECONDS = 1.0


def spark_stages() -> str:
    """The active Spark stages of this process's SparkContext ("stage 7 120/200 tasks"), or ""
    when none is running (never starts a JVM: only a context that already exists is asked)."""
    from pyspark import SparkContext
    sc = SparkContext._active_spark_context
    if sc is None:
        return ""
    tracker = sc.statusTracker()
    parts = []
    for stage_id in sorted(tracker.getActiveStageIds())[:3]:
        info = tracker.getStageInfo(stage_id)
        if info is not None:
            parts.append(f"stage {stage_id} {info.numCompletedTasks}/{info.numTasks} tasks")
    return ", ".join(parts)


def describe(records: dict[str, StepRecord], now: dt.datetime, stages: str = "",
             min_seconds: float = 0.0) -> str:
    """`silver_orders 12s, silver_payments 3s (Spark: stage 7 3/8 tasks)`: the steps running
    for at least `min_seconds`, or "" when there are none."""
    running = []
    for r in records.values():
        if r.status == "running" and r.started_at:
            elapsed = (now - dt.datetime.fromisoformat(r.started_at)).total_seconds()
            if elapsed >= min_seconds:
                running.append(f"{r.name} {elapsed:.0f}s")
    if not running:
        return ""
    return ", ".join(running) + (f" (Spark: {stages})" if stages else "")


class Progress:
    """A background reporter, used as a context manager around the steps; `print` goes through
    it so a live terminal line is cleared before a result line."""

    def __init__(self, records: dict[str, StepRecord], interval: float,
                 stages: Callable[[], str] = spark_stages, out: TextIO | None = None):
        self.records, self.interval, self.stages = records, interval, stages
        self.out = out or sys.stdout
        self.live = self.out.isatty()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._shown = False                      # a live line is on screen
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)

    def __enter__(self) -> "Progress":
        if self.interval > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._clear()

    def print(self, text: str, file: TextIO | None = None) -> None:
        with self._lock:
            self._clear()
            print(text, file=file or self.out, flush=True)

    def _clear(self) -> None:
        if self._shown:
            self.out.write("\r\033[K")
            self.out.flush()
            self._shown = False

    def _loop(self) -> None:
        period = TERMINAL_REFRESH_SECONDS if self.live else self.interval
        while not self._stop.wait(period):
            try:
                line = self._line()
            except Exception:       # a progress line is never worth failing a run for
                continue
            with self._lock:
                if self._stop.is_set():
                    return
                if self.live and line:
                    self.out.write(f"\r\033[K    ... {line}"[:200])
                    self._shown = True
                elif line:
                    print(f"    ... running: {line}", file=self.out, flush=True)
                self.out.flush()

    def _line(self) -> str:
        # a log names only the steps that have run longer than one interval
        return describe(self.records, dt.datetime.now(dt.timezone.utc), self.stages(),
                        0.0 if self.live else self.interval)
