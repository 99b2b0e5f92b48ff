"""Run the whole pipeline: generate Bronze -> stage Silver -> DQ gate -> publish Silver -> Gold.

    python orchestrator.py [--profile tiny] [--data-root data] [--submit] [--dry-run] ...

In-process mode (default) runs every Spark step in one shared SparkSession; `--submit` runs each
job with spark-submit exactly as a production scheduler would. Exit codes: 0 success, 1 a step
failed, 2 config or usage error, 3 the data-quality gate failed, 4 another run holds the lock.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path

from lakehouse.cli import EXIT_ALREADY_RUNNING, EXIT_CONFIG_ERROR, EXIT_OK
from lakehouse.config import Config, ConfigError, load_config
from lakehouse.jobs import StepResult
from lakehouse.paths import DataPaths, is_local, local_path
from lakehouse.runner import (AlreadyRunning, RetryPolicy, RunLock, Step, StepFailed, StepRecord,
                              run_step, write_json_atomic)
from lakehouse.spark import SessionStarter
from lakehouse.submit import build_code_zip, run_submitted

ROOT = Path(__file__).resolve().parent
CODE_PACKAGES = ("lakehouse", "ingestion", "spark_jobs", "data_quality")
log = logging.getLogger("orchestrator")


@dataclass(frozen=True)
class StepSpec:
    name: str
    description: str
    script: str                    # what --submit runs (python for the generator, else spark-submit)
    depends_on: tuple[str, ...] = ()
    after: tuple[str, ...] = ()    # ordering only, no data dependency


PLAN: tuple[StepSpec, ...] = (
    StepSpec("generate", "generate Bronze JSONL (events, orders, payments)", "ingestion/generate_all.py"),
    # The Silver jobs run one after the other, small tables first: they warm the JVM (JIT,
    # codegen) for the big events table; three cold jobs side by side on two cores are slower.
    StepSpec("silver_orders", "stage Silver orders", "spark_jobs/bronze_to_silver_orders.py", ("generate",)),
    StepSpec("silver_payments", "stage Silver payments", "spark_jobs/bronze_to_silver_payments.py", ("generate",),
             after=("silver_orders",)),
    StepSpec("silver_user_events", "stage Silver user_events", "spark_jobs/bronze_to_silver_users.py", ("generate",),
             after=("silver_payments",)),
    StepSpec("dq_checks", "data-quality gate on the staged Silver tables", "data_quality/check_all.py",
             ("silver_user_events", "silver_orders", "silver_payments")),
    StepSpec("publish_silver", "publish Silver and quarantine", "spark_jobs/publish_silver.py", ("dq_checks",)),
    # The features job is the longest Gold step: it starts first, beside the daily tables.
    StepSpec("gold_user_daily_features", "Gold user_daily_features (ML)",
             "spark_jobs/gold_user_daily_features.py", ("publish_silver",)),
    StepSpec("gold_events_daily", "Gold events_daily", "spark_jobs/gold_events_daily.py", ("publish_silver",)),
    StepSpec("gold_orders_daily", "Gold orders_daily", "spark_jobs/gold_orders_daily.py", ("publish_silver",)),
    StepSpec("gold_payments_daily", "Gold payments_daily", "spark_jobs/gold_payments_daily.py", ("publish_silver",)),
    StepSpec("gold_daily_business_metrics", "Gold daily_business_metrics",
             "spark_jobs/gold_daily_business_metrics.py",
             ("gold_events_daily", "gold_orders_daily", "gold_payments_daily")),
)
STEP_NAMES = tuple(s.name for s in PLAN)


def in_process_steps() -> dict[str, Callable]:
    """Step name -> fn(spark, cfg, paths, run_id) -> StepResult (imports deferred: no JVM for --dry-run)."""
    from data_quality.check_all import run_all_checks
    from ingestion.cli import generate_step
    from spark_jobs import (bronze_to_silver_orders, bronze_to_silver_payments,
                            bronze_to_silver_users, gold_daily_business_metrics,
                            gold_events_daily, gold_orders_daily, gold_payments_daily,
                            gold_user_daily_features, publish_silver)

    def job(module):
        return lambda spark, cfg, paths, run_id: module.run(spark, cfg, paths)

    return {
        "generate": lambda spark, cfg, paths, run_id: generate_step(cfg, paths),
        "silver_user_events": job(bronze_to_silver_users),
        "silver_orders": job(bronze_to_silver_orders),
        "silver_payments": job(bronze_to_silver_payments),
        "dq_checks": lambda spark, cfg, paths, run_id: run_all_checks(spark, cfg, paths, run_id),
        "publish_silver": job(publish_silver),
        "gold_events_daily": job(gold_events_daily),
        "gold_orders_daily": job(gold_orders_daily),
        "gold_payments_daily": job(gold_payments_daily),
        "gold_daily_business_metrics": job(gold_daily_business_metrics),
        "gold_user_daily_features": job(gold_user_daily_features),
    }


# --- submit mode ----------------------------------------------------------------------------

def submit_command(spec: StepSpec, cfg: Config, data_root: str, run_id: str,
                   code_zip: Path) -> list[str]:
    """The command a scheduler would run for `spec` (absolute paths: it runs from the repo root)."""
    common = ["--config", str(Path(cfg.source).resolve()), "--profile", cfg.profile,
              "--data-root", data_root]
    script = str(ROOT / spec.script)
    if spec.name == "generate":
        return [sys.executable, script, *common]
    extra = ["--run-id", run_id] if spec.name == "dq_checks" else []
    return ["spark-submit", "--master", cfg.spark.master, "--driver-memory", cfg.spark.driver_memory,
            "--conf", "spark.sql.session.timeZone=UTC", "--py-files", str(code_zip),
            script, *common, *extra]


# --- the run --------------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Exit codes: 0 ok, 1 step failed, 2 config/usage error, "
                                       "3 data-quality gate failed, 4 already running.")
    p.add_argument("--config", default=None, help="path to config.yaml (default: the repo's)")
    p.add_argument("--profile", default="default", help="tiny, small, default or large")
    p.add_argument("--data-root", default="data", help="root directory or URI of all data")
    p.add_argument("--log-dir", default=None, help="logs and run manifests (default: orchestrator.log_dir)")
    p.add_argument("--only", nargs="+", metavar="STEP", choices=STEP_NAMES, help="run just these steps")
    p.add_argument("--from-step", metavar="STEP", choices=STEP_NAMES, help="run this step and all after it")
    p.add_argument("--skip-generate", action="store_true", help="use the Bronze data already there")
    p.add_argument("--resume", metavar="RUN_ID", help="re-run a failed run from its failed step")
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    p.add_argument("--submit", action="store_true", help="run each Spark job with spark-submit")
    return p.parse_args(argv)


def select_steps(args: argparse.Namespace, previous: dict | None) -> list[str]:
    names = list(STEP_NAMES)
    if previous is not None:
        done = {s["name"] for s in previous["steps"] if s["status"] in ("succeeded", "reused")}
        planned = [s["name"] for s in previous["steps"] if s["status"] != "not_planned"]
        return [n for n in names if n in planned and n not in done]
    if args.only:
        names = [n for n in names if n in args.only]
    if args.from_step:
        names = names[names.index(args.from_step):]
    if args.skip_generate:
        names = [n for n in names if n != "generate"]
    return names


class Run:
    """One pipeline run: its records, its manifest, its console output."""

    def __init__(self, args: argparse.Namespace, cfg: Config, log_dir: Path, run_id: str,
                 log_file: Path, selected: list[str], previous: dict | None):
        self.args, self.cfg, self.run_id, self.log_file = args, cfg, run_id, log_file
        self.manifest_path = log_dir / f"run_{run_id}.json"
        self.started = time.time()
        self.records = {n: StepRecord(n) for n in STEP_NAMES}
        for name in STEP_NAMES:
            if name not in selected:
                was_done = previous and any(s["name"] == name and s["status"] in ("succeeded", "reused")
                                            for s in previous["steps"])
                self.records[name].status = "reused" if was_done else "not_planned"
        self.status, self.exit_code = "running", None
        self.resumed_from = previous["run_id"] if previous else None

    def save(self) -> None:
        dq = self.records["dq_checks"].details.get("dq")
        write_json_atomic(self.manifest_path, {
            "run_id": self.run_id, "status": self.status, "exit_code": self.exit_code,
            "resumed_from": self.resumed_from,
            "started_at": dt.datetime.fromtimestamp(self.started, dt.timezone.utc).isoformat(),
            "duration_s": round(time.time() - self.started, 3),
            "mode": "submit" if self.args.submit else "in-process",
            "data_root": self.args.data_root, "log_file": str(self.log_file),
            "config": {"path": self.cfg.source, "profile": self.cfg.profile,
                       "digest": self.cfg.digest(), "settings": self.cfg.as_dict()},
            "dq": dq, "steps": [asdict(r) for r in self.records.values()],
        })


def execute(run: Run, selected: list[str], step_fns: dict[str, Callable[[], StepResult]],
            policy: RetryPolicy, max_parallel: int = 1) -> int:
    """Run the selected steps as a DAG: a step starts once the selected steps it depends on
    have succeeded, up to `max_parallel` at a time (Spark steps share the session). After a
    failure nothing new starts, running steps finish, the rest are marked skipped."""
    depends = {s.name: [d for d in s.depends_on + s.after if d in selected] for s in PLAN}
    pending, running, done = list(selected), {}, set()
    failure: StepFailed | None = None
    finished = 0
    with ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="step") as pool:
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
                record = run.records[name]
                finished += 1
                prefix = f"[{finished}/{len(selected)}] {name} ..."
                try:
                    result = future.result()
                except StepFailed as failed:
                    record.status, record.error = "failed", str(failed)
                    print(f"{prefix} FAILED after {record.attempts} attempt(s) ({record.duration_s:.1f}s)",
                          flush=True)
                    print(f"    {failed}\n    log: {run.log_file}", file=sys.stderr)
                    failure = failure or failed
                    continue
                done.add(name)
                record.status = "succeeded"
                record.rows_read, record.rows_written = result.rows_read, result.rows_written
                record.rows_quarantined, record.outputs, record.details = (
                    result.rows_quarantined, result.outputs, result.details)
                retried = f", {record.attempts} attempts" if record.attempts > 1 else ""
                print(f"{prefix} ok ({record.duration_s:.1f}s{retried}, "
                      f"elapsed {time.time() - run.started:.1f}s)", flush=True)
    for name in pending:
        run.records[name].status = "skipped"
    run.status, run.exit_code = ("failed", failure.exit_code) if failure else ("succeeded", EXIT_OK)
    run.save()
    return run.exit_code


def print_summary(run: Run) -> None:
    print(f"\nrun {run.run_id}: {run.status.upper()} in {time.time() - run.started:.1f}s")
    print(f"{'step':<30} {'status':<11} {'tries':>5} {'secs':>7} {'read':>10} {'written':>10} {'quarantined':>11}")
    for r in run.records.values():
        if r.status == "not_planned":
            continue
        print(f"{r.name:<30} {r.status:<11} {r.attempts:>5} {r.duration_s:>7.1f} {r.rows_read:>10} "
              f"{r.rows_written:>10} {r.rows_quarantined:>11}")
    print(f"log: {run.log_file}\nmanifest: {run.manifest_path}")


def setup_file_logging(log_dir: Path, stamp: str) -> tuple[Path, logging.Handler]:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"pipeline_{stamp}.log"
    n = 1
    while log_file.exists():
        n += 1
        log_file = log_dir / f"pipeline_{stamp}_{n}.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    return log_file, handler


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    previous = None
    try:
        log_dir = Path(args.log_dir or "logs")
        if args.resume:
            manifest = log_dir / f"run_{args.resume}.json"
            if not manifest.is_file():
                raise ConfigError(f"--resume {args.resume}: no run manifest at {manifest}")
            previous = json.loads(manifest.read_text(encoding="utf-8"))
            args.config, args.profile = previous["config"]["path"], previous["config"]["profile"]
            args.data_root, args.submit = previous["data_root"], previous["mode"] == "submit"
        cfg = load_config(args.config, args.profile)
        if not args.log_dir and not args.resume:
            log_dir = Path(cfg.orchestrator.log_dir)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    selected = select_steps(args, previous)
    if args.dry_run:
        print_plan(selected, args)
        return EXIT_OK
    paths = DataPaths.create(args.data_root, cfg.paths)
    args.data_root = paths.root     # absolute from here on: the manifest and --submit steps use it
    now = dt.datetime.now(dt.timezone.utc)
    run_id = f"{now:%Y%m%d_%H%M%S}_{uuid.uuid4().hex[:6]}"
    lock_dir = Path(local_path(paths.root)) if is_local(paths.root) else log_dir
    lock = RunLock(lock_dir / ".pipeline.lock")
    try:
        lock.acquire(run_id)
    except AlreadyRunning as exc:
        print(f"already running: {exc}", file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    handler = None
    try:
        log_file, handler = setup_file_logging(log_dir, f"{now:%Y%m%d_%H%M%S}")
        log.info("run %s: profile %s, data root %s, mode %s, steps %s", run_id, cfg.profile,
                 paths.root, "submit" if args.submit else "in-process", selected)
        run = Run(args, cfg, log_dir, run_id, log_file, selected, previous)
        run.save()
        fns = step_functions(args, cfg, paths, run_id, log_dir)
        retries = int(os.environ.get("PIPELINE_MAX_RETRIES", cfg.orchestrator.max_retries))
        base = float(os.environ.get("PIPELINE_BACKOFF_SECONDS", cfg.orchestrator.backoff_base_seconds))
        policy = RetryPolicy(retries, base, cfg.orchestrator.backoff_max_seconds)
        parallel = int(os.environ.get("PIPELINE_MAX_PARALLEL_STEPS", cfg.orchestrator.max_parallel_steps))
        code = execute(run, selected, fns, policy, max(1, parallel))
        print_summary(run)
        return code
    finally:
        lock.release()
        if handler is not None:     # this run's log file only gets this run's lines
            logging.getLogger().removeHandler(handler)
            handler.close()


def step_functions(args: argparse.Namespace, cfg: Config, paths: DataPaths, run_id: str,
                   log_dir: Path) -> dict[str, Callable[[], StepResult]]:
    if args.submit:
        code_zip = build_code_zip(ROOT, CODE_PACKAGES, log_dir / run_id / "pipeline_code.zip")
        return {s.name: (lambda s=s: run_submitted(submit_command(s, cfg, paths.root, run_id, code_zip),
                                                   log_dir / run_id / f"{s.name}.log", ROOT))
                for s in PLAN}
    session = SessionStarter(cfg.spark)
    fns = in_process_steps()
    return {name: (lambda name=name: fns[name](None if name == "generate" else session.get(), cfg, paths, run_id))
            for name in STEP_NAMES}


def print_plan(selected: list[str], args: argparse.Namespace) -> None:
    mode = "spark-submit per step" if args.submit else "in-process, one SparkSession"
    print(f"plan ({mode}), {len(selected)} of {len(PLAN)} steps:")
    for i, spec in enumerate((s for s in PLAN if s.name in selected), 1):
        after = f"  (after {', '.join(spec.depends_on)})" if spec.depends_on else ""
        print(f"  {i:>2}. {spec.name:<30} {spec.description}{after}")


if __name__ == "__main__":
    sys.exit(main())
