"""One pipeline run: its step records, its manifest (written atomically after every change),
and the DAG executor that runs the selected steps with retries, side by side where allowed."""
from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path

from lakehouse.config import Config
from lakehouse.errors import EXIT_OK
from lakehouse.localfs import write_json_atomic
from lakehouse.steps import StepResult
from orchestration.plan import PLAN, STEP_NAMES
from orchestration.progress import Progress
from orchestration.runner import RetryPolicy, Step, StepFailed, StepRecord, run_step

log = logging.getLogger("orchestrator")

DONE = ("succeeded", "reused")


class Run:
    """One pipeline run: its records, its manifest, its console output."""

    def __init__(self, run_id: str, cfg: Config, data_root: str, mode: str, log_dir: Path,
                 log_file: Path, selected: list[str], previous: dict | None):
        self.run_id, self.cfg, self.data_root, self.mode = run_id, cfg, data_root, mode
        self.log_file = log_file
        self.manifest_path = log_dir / f"run_{run_id}.json"
        self.started = time.time()
        self.records = {n: StepRecord(n) for n in STEP_NAMES}
        done_before = {s["name"] for s in previous["steps"] if s["status"] in DONE} if previous else set()
        for name in STEP_NAMES:
            if name not in selected:
                self.records[name].status = "reused" if name in done_before else "not_planned"
        self.status, self.exit_code = "running", None
        self.run_mode: dict = {}          # the mode asked for, and each table's partitions read
        self.report: str | None = None    # the HTML run report, once written
        self.resumed_from = previous["run_id"] if previous else None
        # the id its staged tables, gate and publish are recorded under: a resumed run continues
        # the original run's
        self.data_run_id = previous.get("data_run_id", previous["run_id"]) if previous else run_id

    @property
    def dq(self) -> dict | None:
        return self.records["dq_checks"].details.get("dq")

    def save(self) -> None:
        write_json_atomic(self.manifest_path, {
            "run_id": self.run_id, "status": self.status, "exit_code": self.exit_code,
            "resumed_from": self.resumed_from, "data_run_id": self.data_run_id,
            "started_at": dt.datetime.fromtimestamp(self.started, dt.timezone.utc).isoformat(),
            "duration_s": round(time.time() - self.started, 3),
            "mode": self.mode, "data_root": self.data_root, "log_file": str(self.log_file),
            "run_mode": self.run_mode,
            "config": {"path": self.cfg.source, "profile": self.cfg.profile,
                       "digest": self.cfg.digest(), "settings": self.cfg.as_dict()},
            "dq": self.dq, "report": self.report, "steps": [asdict(r) for r in self.records.values()],
        })

    def finish(self, exit_code: int) -> int:
        self.status = "succeeded" if exit_code == EXIT_OK else "failed"
        self.exit_code = exit_code
        self.save()
        return exit_code


def execute(run: Run, selected: list[str], step_fns: dict[str, Callable[[], StepResult]],
            policy: RetryPolicy, max_parallel: int = 1, finish: bool = True,
            ordered: bool = True, progress: tuple[int, int] | None = None) -> int:
    """Run the selected steps as a DAG: a step starts once the selected steps it depends on
    have succeeded, up to `max_parallel` at a time (Spark steps share the session). After a
    failure nothing new starts, running steps finish, the rest are marked skipped. `finish`:
    also end the run when all succeed (else only on a failure); `progress`: steps already done
    and the run's total, for the [n/N] counter."""
    depends = selected_dependencies(selected, ordered)
    pending, running, done = list(selected), {}, set()
    failure: StepFailed | None = None
    finished, total = progress or (0, len(selected))   # (steps done before, steps in the run)
    with (ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="step") as pool,
          Progress(run.records, run.cfg.orchestrator.progress_seconds) as console):
        while pending or running:
            ready = [n for n in pending if all(d in done for d in depends[n])] if failure is None else []
            for name in ready[: max_parallel - len(running)]:
                pending.remove(name)
                record = run.records[name]
                record.status = "running"
                record.started_at = dt.datetime.now(dt.timezone.utc).isoformat()
                running[pool.submit(run_step, Step(name, step_fns[name]), record, policy)] = name
            run.save()
            if not running:
                break
            completed, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in completed:
                name = running.pop(future)
                finished += 1
                prefix = f"[{finished}/{total}] {name} ..."
                try:
                    _record_success(run.records[name], future.result())
                except StepFailed as failed:
                    record = run.records[name]
                    record.status, record.error = "failed", str(failed)
                    console.print(f"{prefix} FAILED after {record.attempts} attempt(s) ({record.duration_s:.1f}s)")
                    console.print(f"    {failed}\n    log: {run.log_file}", file=sys.stderr)
                    failure = failure or failed
                    continue
                done.add(name)
                record = run.records[name]
                retried = f", {record.attempts} attempts" if record.attempts > 1 else ""
                console.print(f"{prefix} ok ({record.duration_s:.1f}s{retried}, "
                              f"elapsed {time.time() - run.started:.1f}s)")
    for name in pending:
        run.records[name].status = "skipped"
    code = failure.exit_code if failure else EXIT_OK
    return run.finish(code) if finish or code != EXIT_OK else code


def selected_dependencies(selected: list[str], ordered: bool = True) -> dict[str, set[str]]:
    """Per selected step, the selected steps it must wait for, also through steps that are not
    selected (`--only gold_orders_daily publish`: publish waits for gold_orders_daily, which it
    reaches only through gold_daily_business_metrics). `ordered=False` drops the ordering-only
    constraints (`after`): the small Silver steps of an incremental run go side by side."""
    direct = {s.name: s.depends_on + (s.after if ordered else ()) for s in PLAN}

    def upstream(name: str) -> set[str]:
        found: set[str] = set()
        stack = list(direct[name])
        while stack:
            step = stack.pop()
            if step not in found:
                found.add(step)
                stack.extend(direct[step])
        return found

    return {name: upstream(name) & set(selected) for name in selected}


def _record_success(record: StepRecord, result: StepResult) -> None:
    record.status = "succeeded"
    record.rows_read, record.rows_written = result.rows_read, result.rows_written
    record.rows_quarantined, record.outputs, record.details = (
        result.rows_quarantined, result.outputs, result.details)
