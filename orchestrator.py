"""Run the whole pipeline: generate Bronze -> stage Silver -> DQ gate -> publish Silver -> Gold.

    python orchestrator.py [--profile tiny] [--data-root data] [--submit] [--dry-run] ...

In-process mode (default) runs every Spark step in one shared SparkSession; `--submit` runs each
job with spark-submit exactly as a production scheduler would. A run reads the Bronze partitions
not published yet (--full-refresh: all; --backfill START[..END]: those dates again). Exit codes:
0 success or nothing to do, 1 a step failed, 2 config or usage error, 3 the data-quality gate
failed, 4 another run holds the lock, 5 a published Bronze partition vanished or changed.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.cli import add_mode_arguments, mode_from_args
from lakehouse.config import Config, check_master, load_config
from lakehouse.errors import EXIT_ALREADY_RUNNING, EXIT_OK, EXIT_STEP_FAILED, BadInputError, ConfigError
from lakehouse.incremental import FULL, NOTHING, IngestPlan, PublishedBronzeChanged
from lakehouse.paths import DataPaths, is_local, local_path
from lakehouse.steps import JobContext, RunMode, StepResult
from orchestration.lock import AlreadyRunning, RunLock
from orchestration.plan import PLAN, SILVER, SILVER_TABLE, STEP_NAMES, STEPS
from orchestration.run import DONE, Run, execute
from orchestration.runner import RetryPolicy
from orchestration.submit import build_code_zip, run_submitted, submit_command

if TYPE_CHECKING:
    from lakehouse.spark import SessionStarter

ROOT = Path(__file__).resolve().parent
CODE_PACKAGES = ("lakehouse", "ingestion", "spark_jobs", "data_quality")
log = logging.getLogger("orchestrator")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Exit codes: 0 ok, 1 step failed, 2 config/usage error, "
                                       "3 data-quality gate failed, 4 already running, "
                                       "5 published Bronze vanished or changed.")
    p.add_argument("--config", default=None, help="path to config.yaml (default: the repo's)")
    p.add_argument("--profile", default="default", help="tiny, small, default, medium or large")
    p.add_argument("--data-root", default="data", help="root directory or URI of all data")
    p.add_argument("--log-dir", default=None, help="logs and run manifests (default: orchestrator.log_dir)")
    p.add_argument("--only", nargs="+", metavar="STEP", choices=STEP_NAMES, help="run just these steps")
    p.add_argument("--from-step", metavar="STEP", choices=STEP_NAMES, help="run this step and all after it")
    p.add_argument("--skip-generate", action="store_true", help="use the Bronze data already there")
    p.add_argument("--resume", metavar="RUN_ID", help="re-run a failed run from its failed step")
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    p.add_argument("--submit", action="store_true", help="run each Spark job with spark-submit")
    p.add_argument("--no-report", action="store_true",
                   help="skip the HTML run report (always: orchestrator.report: false)")
    p.add_argument("--master", metavar="URL", help="Spark master, e.g. spark://127.0.0.1:7077 "
                                                   "(default: spark.master in config)")
    add_mode_arguments(p)
    return p.parse_args(argv)


def select_steps(args: argparse.Namespace, previous: dict | None) -> list[str]:
    names = list(STEP_NAMES)
    if previous is not None:
        done = {s["name"] for s in previous["steps"] if s["status"] in DONE}
        planned = [s["name"] for s in previous["steps"] if s["status"] != "not_planned"]
        return [n for n in names if n in planned and n not in done]
    if args.only:
        names = [n for n in names if n in args.only]
    if args.from_step:
        names = names[names.index(args.from_step):]
    if args.skip_generate:
        names = [n for n in names if n != "generate"]
    return names


def load_run_settings(args: argparse.Namespace) -> tuple[Config, Path, dict | None]:
    """The config, the log directory and (with --resume) the run being resumed."""
    previous = None
    log_dir = Path(args.log_dir or "logs")
    if args.resume:
        manifest = log_dir / f"run_{args.resume}.json"
        if not manifest.is_file():
            raise ConfigError(f"--resume {args.resume}: no run manifest at {manifest}")
        previous = json.loads(manifest.read_text(encoding="utf-8"))
        args.config, args.profile = previous["config"]["path"], previous["config"]["profile"]
        args.data_root, args.submit = previous["data_root"], previous["mode"] == "submit"
        asked = previous.get("run_mode", {})
        args.full_refresh = asked.get("mode") == "full-refresh"
        args.backfill, args.through = asked.get("backfill"), asked.get("through")
        args.master = args.master or previous["config"]["settings"]["spark"]["master"]
    cfg = load_config(args.config, args.profile)
    if args.master:
        cfg = dataclasses.replace(cfg, spark=dataclasses.replace(cfg.spark, master=check_master(args.master)))
    if not args.log_dir and not args.resume:
        log_dir = Path(cfg.orchestrator.log_dir)
    return cfg, log_dir, previous


def step_functions(args: argparse.Namespace, ctx: JobContext,
                   step_logs: Path) -> dict[str, Callable[[], StepResult]]:
    """Each step bound to this run: `module.run(ctx)` in-process, its script in --submit mode."""
    if args.submit:
        code_zip = build_code_zip(ROOT, CODE_PACKAGES, step_logs / "pipeline_code.zip")
        return {s.name: (lambda s=s: run_submitted(
                    submit_command(s, ctx.cfg, ctx.paths.root, ctx.run_id, code_zip, ctx.mode),
                    step_logs / f"{s.name}.log", ROOT))
                for s in PLAN}
    return {s.name: (lambda s=s: s.load()(ctx)) for s in PLAN}


def in_process_context(cfg: Config, paths: DataPaths, run_id: str, mode: RunMode,
                       step_logs: Path, generating: bool) -> tuple[JobContext, SessionStarter]:
    """The context every in-process step shares. When the run generates Bronze first, the JVM
    starts in the background right away, while the (pure Python) generator runs; otherwise on
    first use (a run with nothing to do starts none). On a cluster the project's code zip goes
    to the executors."""
    from lakehouse.spark import SessionStarter     # deferred: planning alone never imports pyspark
    local = cfg.spark.master.startswith("local")
    py_files = [] if local else [build_code_zip(ROOT, CODE_PACKAGES, step_logs / "pipeline_code.zip")]
    starter = SessionStarter(cfg.spark, f"{cfg.spark.app_name} {run_id}", py_files,
                             background=generating, write_class_archive=True)
    return JobContext(cfg, paths, run_id, starter.get, mode), starter


def plan_partitions(ctx: JobContext, selected: list[str], in_process: bool) -> dict[str, IngestPlan] | None:
    """The plan of each Bronze table a selected Silver step reads (which ingest partitions);
    None when it cannot be known before the steps run (--submit on a remote data root, or Bronze
    the Silver step itself will report as bad input). Raises PublishedBronzeChanged."""
    from lakehouse.incremental import plan_run
    from lakehouse.storage import LocalStorage, Storage
    tables = [SILVER_TABLE[s] for s in SILVER if s in selected]
    if not is_local(ctx.paths.root) and not in_process:
        return None
    fs = LocalStorage() if is_local(ctx.paths.root) else Storage(ctx.spark)
    try:
        return plan_run(fs, ctx.paths, ctx.mode, tables)
    except PublishedBronzeChanged:
        raise
    except BadInputError:          # missing or malformed Bronze: the step says so (exit 1)
        return None


def plan_run_partitions(run: Run, ctx: JobContext, steps: list[str], submit: bool,
                        resumed: bool) -> bool | None:
    """Plan the Silver steps' partitions before any of them runs and record it in the manifest.
    Returns whether the Silver steps must keep their warm-up order, or None for "nothing to do".
    Raises PublishedBronzeChanged."""
    plans = plan_partitions(ctx, steps, not submit) if set(steps) & set(SILVER) else None
    if plans is None:
        return not submit
    run.run_mode["partitions"] = {t: p.summary() for t, p in plans.items()}
    for p in plans.values():
        log.info("plan: %s", p.describe())
    if all(p.kind == NOTHING for p in plans.values()) and not resumed:
        for name in steps:
            run.records[name].status = "not_needed"
        print(f"nothing to do: every Bronze partition is published "
              f"({', '.join(p.describe() for p in plans.values())})")
        log.info("nothing to do: every Bronze partition is published")
        return None
    # in one shared JVM the Silver steps run one after the other only to warm it up for a big
    # full read; reading a day or two, or each in a JVM of its own (--submit), side by side
    return not submit and any(p.kind == FULL for p in plans.values())


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg, log_dir, previous = load_run_settings(args)
        mode = mode_from_args(args)
    except ConfigError as exc:
        print(f"{exc.label}: {exc}", file=sys.stderr)
        return exc.exit_code
    selected = select_steps(args, previous)
    paths = DataPaths.create(args.data_root, cfg.paths)
    if args.dry_run:
        print_plan(selected, args)
        return print_partitions(JobContext(cfg, paths, "dry-run", None, mode), selected)
    args.data_root = paths.root     # absolute from here on: the manifest and --submit steps use it
    now = dt.datetime.now(dt.timezone.utc)
    run_id = f"{now:%Y%m%d_%H%M%S}_{uuid.uuid4().hex[:6]}"
    lock_dir = Path(local_path(paths.root)) if is_local(paths.root) else log_dir
    try:
        usable_dir(log_dir, "log directory (--log-dir, orchestrator.log_dir)")
        usable_dir(lock_dir, "data root (--data-root)" if is_local(paths.root) else "log directory")
    except ConfigError as exc:
        print(f"{exc.label}: {exc}", file=sys.stderr)
        return exc.exit_code
    lock = RunLock(lock_dir / ".pipeline.lock")
    try:
        lock.acquire(run_id)
    except AlreadyRunning as exc:
        print(f"already running: {exc}", file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    handler, run, starter = None, None, None
    try:
        log_file, handler = setup_file_logging(log_dir, f"{now:%Y%m%d_%H%M%S}")
        log.info("run %s: profile %s, data root %s, %s on %s, %s, steps %s", run_id, cfg.profile,
                 paths.root, "submit" if args.submit else "in-process", cfg.spark.master,
                 mode.name, selected)
        run = Run(run_id, cfg, paths.root, "submit" if args.submit else "in-process", log_dir,
                  log_file, selected, previous)
        run.run_mode = {"mode": mode.name, "backfill": args.backfill, "through": args.through}
        run.save()
        # What the run stages and publishes is keyed by the run it continues, if it resumes one.
        data_run_id = run.data_run_id
        if args.submit:
            ctx = JobContext(cfg, paths, data_run_id, None, mode)
        else:
            ctx, starter = in_process_context(cfg, paths, data_run_id, mode, log_dir / run_id,
                                              "generate" in selected)
        o = cfg.orchestrator
        policy = RetryPolicy(o.max_retries, o.backoff_base_seconds, o.backoff_max_seconds)
        steps = step_functions(args, ctx, log_dir / run_id)
        rest = [n for n in selected if n != "generate"]
        if "generate" in selected:      # first: what the Spark steps read depends on it
            code = execute(run, ["generate"], steps, policy, finish=False,
                           progress=(0, len(selected)))
            if code != EXIT_OK:
                print_summary(run)
                return code
        try:
            ordered = plan_run_partitions(run, ctx, rest, args.submit, previous is not None)
        except PublishedBronzeChanged as exc:
            print(f"{exc.label}: {exc}", file=sys.stderr)
            log.error("%s", exc)
            return run.finish(exc.exit_code)
        if ordered is None:
            return run.finish(EXIT_OK)
        code = execute(run, rest, steps, policy, o.max_parallel_steps, ordered=ordered,
                       progress=(len(selected) - len(rest), len(selected)))
        if o.report and not args.no_report:
            starter = starter or report_session(cfg, run_id)
            write_run_report(run, ctx, starter)
        print_summary(run)
        return code
    finally:
        if run is not None and run.status == "running":     # interrupted: never left "running"
            run.finish(EXIT_STEP_FAILED)
        if starter is not None:     # the session this run started (and its JVM's work) ends here
            starter.stop()
        lock.release()
        if handler is not None:     # this run's log file only gets this run's lines
            logging.getLogger().removeHandler(handler)
            handler.close()


def report_session(cfg: Config, run_id: str) -> SessionStarter:
    """For a --submit run's report: a session of its own in this process, on local[2] and
    without an event log (it reads a few small tables; the cluster's application list and the
    History Server keep to the run's steps)."""
    from lakehouse.spark import SessionStarter
    return SessionStarter(dataclasses.replace(cfg.spark, master="local[2]", event_log_dir=""),
                          f"{cfg.spark.app_name} report {run_id}")


def write_run_report(run: Run, ctx: JobContext, starter: SessionStarter) -> None:
    """Write the run's HTML report (reporting/) and record it in the manifest. A report that
    cannot be written is logged and said on the console; it never changes the run's outcome."""
    from reporting import write_report
    started = time.perf_counter()
    try:
        run.report = write_report(starter.get(), ctx.cfg, ctx.paths, json.loads(
            run.manifest_path.read_text(encoding="utf-8")), run.manifest_path)
        log.info("report: %s (%.1fs)", run.report, time.perf_counter() - started)
    except Exception as exc:  # the data is published (or not) already; the report is extra
        log.exception("report: not written")
        print(f"report: not written ({type(exc).__name__}: {exc}); see {run.log_file}", file=sys.stderr)
        return
    run.save()


def usable_dir(path: Path, what: str) -> None:
    """Create `path` if needed and check a file can be written there, or raise one ConfigError."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{what} {path} is not usable: {exc.strerror or exc}") from None


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


def print_summary(run: Run) -> None:
    """Per step: rows read and written, and the quarantined rows split into re-sends or
    superseded versions (`duplicate`, normal traffic) and real rejects."""
    print(f"\nrun {run.run_id}: {run.status.upper()} in {time.time() - run.started:.1f}s")
    print(f"{'step':<28} {'status':<11} {'tries':>5} {'secs':>7} {'read':>9} {'written':>9} "
          f"{'superseded':>10} {'rejected':>8}")
    for r in run.records.values():
        if r.status == "not_planned":
            continue
        superseded = r.details.get("rejects", {}).get("duplicate", 0)
        print(f"{r.name:<28} {r.status:<11} {r.attempts:>5} {r.duration_s:>7.1f} {r.rows_read:>9} "
              f"{r.rows_written:>9} {superseded:>10} {r.rows_quarantined - superseded:>8}")
    print("(superseded: exact re-sends and older versions of an order, kept in quarantine as "
          "'duplicate'; rejected: rows that broke a rule)")
    if run.dq:
        print(f"data quality: {run.dq['checks']} checks, {run.dq['failed_error']} failed, "
              f"{run.dq['failed_warn']} warnings; report: {run.dq['report']}")
    if run.report:
        print(f"report: {run.report}")
    print(f"log: {run.log_file}\nmanifest: {run.manifest_path}")


def print_partitions(ctx: JobContext, selected: list[str]) -> int:
    """--dry-run: which ingest partitions each Bronze table's Silver step would read."""
    if not set(selected) & set(SILVER):
        return EXIT_OK
    suffix = " (before this run generates anything)" if "generate" in selected else ""
    try:
        plans = plan_partitions(ctx, selected, in_process=False)
    except PublishedBronzeChanged as exc:
        print(f"partitions ({ctx.mode.name}): the run would stop: {exc}")
        return EXIT_OK
    if plans is None:
        print(f"partitions ({ctx.mode.name}): listed when the run starts (no Bronze yet, or a "
              "remote data root)")
        return EXIT_OK
    print(f"partitions ({ctx.mode.name}){suffix}:")
    for plan in plans.values():
        print(f"  {plan.describe()}")
    return EXIT_OK


def print_plan(selected: list[str], args: argparse.Namespace) -> None:
    mode = "spark-submit per step" if args.submit else "in-process, one SparkSession"
    print(f"plan ({mode}), {len(selected)} of {len(PLAN)} steps:")
    for i, name in enumerate(selected, 1):
        spec = STEPS[name]
        after = f"  (after {', '.join(spec.depends_on)})" if spec.depends_on else ""
        print(f"  {i:>2}. {spec.name:<30} {spec.description}{after}")


if __name__ == "__main__":
    sys.exit(main())
