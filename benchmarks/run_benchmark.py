"""Benchmark the whole pipeline at a profile and print a Markdown table.

    python benchmarks/run_benchmark.py --profile default [--config PATH] [--submit]
                                       [--data-root DIR] [--output FILE] [--incremental]
    python benchmarks/run_benchmark.py --scaling [PROFILE ...]

--scaling runs each profile once (tiny, small, default, medium, large by default; generation
included) and then the default profile's next day incrementally, and prints one row each:
Bronze lines, wall time, lines/s end to end, Silver events lines/s, per-step times, peak memory.

--incremental measures a daily run: the profile's days are generated and published first (not
timed), then the next day is generated and the incremental run timed (default profile: day 31
added to 30 published days), then a full refresh of the same Bronze (a copy) — wall time and
Bronze lines read of both.

Runs `python orchestrator.py` as a child process, samples the resident memory of its whole
process tree (Python driver + Spark JVM) every 100 ms, then reads the run manifest for the
per-step wall times and row counts. Writes the table to stdout and to --output (default
benchmarks/results/<profile>_<run id>.md), and says where. Without --data-root the data goes to a
temporary directory that is removed at the end (also when the run fails).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
SCALING_PROFILES = ("tiny", "small", "default", "medium", "large")


def sample_peak_rss(proc: psutil.Process, stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        try:
            tree = [proc, *proc.children(recursive=True)]
            peak[0] = max(peak[0], sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        stop.wait(0.1)


def run(profile: str, config: Path | None, data_root: Path,
        submit: bool, *flags: str) -> tuple[float, int, dict | None, int]:
    log_dir = data_root / "logs"
    command = [sys.executable, str(ROOT / "orchestrator.py"), "--profile", profile,
               "--data-root", str(data_root / "data"), "--log-dir", str(log_dir), *flags]
    if config:
        command += ["--config", str(config.resolve())]
    if submit:
        command.append("--submit")
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT)
    stop, peak = threading.Event(), [0]
    sampler = threading.Thread(target=sample_peak_rss, args=(psutil.Process(child.pid), stop, peak))
    sampler.start()
    code = child.wait()
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    manifests = sorted(log_dir.glob("run_*.json"), key=lambda p: p.stat().st_mtime_ns)
    manifest = json.loads(manifests[-1].read_text()) if manifests else None   # None: config error
    return wall, peak[0], manifest, code


def table(profile: str, wall: float, peak: int, manifest: dict, submit: bool) -> str:
    lines = [
        f"### Profile `{profile}` — {'spark-submit per step' if submit else 'in-process'} — "
        f"{dt.date.today().isoformat()}",
        "",
        f"Machine: {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"Python {platform.python_version()}. Run `{manifest['run_id']}`: **{manifest['status']}**. "
        f"Total wall time **{wall:.1f} s**; peak memory (driver + JVM) **{peak / 2**20:,.0f} MiB**.",
        "",
        "| step | wall s | input rows | rows/s | rows written | quarantined |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in manifest["steps"]:
        if s["status"] == "not_planned":
            continue
        rows_in = s["rows_read"] or s["rows_written"]   # the generator reads nothing, it writes
        rate = f"{rows_in / s['duration_s']:,.0f}" if s["duration_s"] and rows_in else "-"
        lines.append(f"| {s['name']} | {s['duration_s']:.1f} | {rows_in:,} | {rate} | "
                     f"{s['rows_written']:,} | {s['rows_quarantined']:,} |")
    return "\n".join(lines) + "\n"


def bronze_lines_read(manifest: dict) -> int:
    return sum(s["rows_read"] for s in manifest["steps"] if s["name"].startswith("silver_"))


def incremental_runs(profile: str, config: Path | None, data_root: Path, submit: bool,
                     compare: bool = True) -> tuple[list[tuple[str, float, int, dict]], int, int]:
    """Publish the profile's days, add the next: time that run and (`compare`) a full refresh
    of them all. Returns [(label, wall, peak, manifest)] of the runs, the day added, and an
    exit code."""
    sys.path.insert(0, str(ROOT))
    from lakehouse.config import load_config
    g = load_config(str(config) if config else None, profile).generator
    last = g.start_date + dt.timedelta(days=g.days)          # the day after the profile's range
    daily, full = data_root / "daily", data_root / "full"
    generate = [sys.executable, str(ROOT / "ingestion" / "generate_all.py"), "--profile", profile,
                "--data-root", str(daily / "data")] + (["--config", str(config.resolve())] if config else [])
    subprocess.run([*generate, "--through", str(last - dt.timedelta(days=1))], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    _, _, _, code = run(profile, config, daily, submit, "--skip-generate")
    if code:
        return [], g.days + 1, code
    subprocess.run([*generate, "--through", str(last)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    runs = [(f"incremental (day {g.days + 1})", daily, ())]
    if compare:
        shutil.copytree(daily / "data" / "bronze", full / "data" / "bronze")     # keeps mtimes
        runs.append((f"full refresh ({g.days + 1} days)", full, ("--full-refresh",)))
    results = []
    for label, root, flags in runs:
        wall, peak, manifest, code = run(profile, config, root, submit, "--skip-generate", *flags)
        if manifest is None or code:
            return results, g.days + 1, code or 1
        results.append((label, wall, peak, manifest))
    return results, g.days + 1, 0


def incremental(profile: str, config: Path | None, data_root: Path, submit: bool) -> tuple[str, int]:
    """The daily-run comparison as Markdown (--incremental)."""
    results, day, code = incremental_runs(profile, config, data_root, submit)
    if code:
        return f"the daily-run comparison failed (exit {code})", code
    lines = [f"### Daily run, profile `{profile}`: day {day} added to {day - 1} published days "
             f"— {dt.date.today().isoformat()}", "",
             "| run | wall s | Bronze lines read | peak memory MiB |", "|---|---:|---:|---:|"]
    for label, wall, peak, manifest in results:
        lines.append(f"| {label} | {wall:.1f} | {bronze_lines_read(manifest):,} | {peak / 2**20:,.0f} |")
    (_, inc_wall, _, inc), (_, full_wall, _, fm) = results
    same = subprocess.run([sys.executable, str(ROOT / "scripts" / "compare_data_roots.py"),
                           str(data_root / "daily" / "data"), str(data_root / "full" / "data")],
                          cwd=ROOT, capture_output=True, text=True).returncode == 0
    lines += ["", f"Incremental / full refresh: wall time **{inc_wall / full_wall:.2f}**, Bronze lines "
              f"read **{bronze_lines_read(inc) / bronze_lines_read(fm):.3f}**. Published tables "
              + ("identical, row for row." if same else "**DIFFERENT** (scripts/compare_data_roots.py)."), ""]
    return "\n".join(lines) + "\n" + "\n".join(
        table(profile, wall, peak, manifest, submit).replace(f"### Profile `{profile}`", f"#### {label}")
        for label, wall, peak, manifest in results), 0


SCALING_STEPS = (("silver_user_events", "Silver events"), ("silver_orders", "Silver orders"),
                 ("silver_payments", "Silver payments"), ("dq_checks", "DQ"),
                 ("gold_user_daily_features", "features"), ("publish", "publish"))


def scaling_row(label: str, wall: float, peak: int, manifest: dict) -> str:
    steps = {s["name"]: s for s in manifest["steps"]}
    lines = bronze_lines_read(manifest)
    events = steps["silver_user_events"]
    events_rate = f"{events['rows_read'] / events['duration_s']:,.0f}" if events["duration_s"] else "-"
    per_step = " | ".join(f"{steps[name]['duration_s']:.1f}" for name, _ in SCALING_STEPS)
    return (f"| {label} | {lines:,} | {wall:.1f} | {lines / wall:,.0f} | {events_rate} | "
            f"{steps['generate']['duration_s']:.1f} | {per_step} | {peak / 2**20:,.0f} |")


def scaling(profiles: list[str], config: Path | None, data_root: Path, submit: bool) -> tuple[str, int]:
    """One full run per profile (generation included), then the default profile's next day."""
    header = ["| run | Bronze lines read | wall s | lines/s end to end | Silver events lines/s | generate s | "
              + " | ".join(f"{label} s" for _, label in SCALING_STEPS) + " | peak MiB |",
              "|---|" + "---:|" * (6 + len(SCALING_STEPS))]
    rows, code = [], 0
    for profile in profiles:
        wall, peak, manifest, code = run(profile, config, data_root / profile, submit)
        shutil.rmtree(data_root / profile, ignore_errors=True)
        if manifest is None or code:
            rows.append(f"| {profile} | failed (exit {code}) |")
            break
        rows.append(scaling_row(f"`{profile}`", wall, peak, manifest))
        print(rows[-1], flush=True)
    if not code:
        results, day, code = incremental_runs("default", config, data_root / "daily_default", submit,
                                              compare=False)
        if results:
            rows.append(scaling_row(f"`default`, day {day} incremental", *results[0][1:]))
    text = "\n".join([f"### Scaling, {'spark-submit per step' if submit else 'in-process'} — "
                      f"{dt.date.today().isoformat()}", "",
                      f"Machine: {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
                      f"Python {platform.python_version()}. Whole `python orchestrator.py` processes, "
                      "generation included except for the incremental day; peak memory of the process "
                      "tree (driver + JVM).", "", *header, *rows, ""])
    return text, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--config", type=Path, default=None, help="config file (default: the repo's)")
    parser.add_argument("--submit", action="store_true", help="spark-submit per step")
    parser.add_argument("--data-root", type=Path, default=None, help="scratch directory (default: a temp dir)")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--incremental", action="store_true",
                        help="time adding the last day to the others, against a full refresh")
    parser.add_argument("--scaling", nargs="*", metavar="PROFILE",
                        help="one run per profile (default: tiny small default medium large) and "
                             "the default profile's next day: how the cost grows with size")
    args = parser.parse_args()
    scratch = args.data_root is None
    data_root = args.data_root or Path(tempfile.mkdtemp(prefix=f"bench_{args.profile}_"))
    try:
        if args.incremental or args.scaling is not None:
            if args.scaling is not None:
                report, code = scaling(args.scaling or list(SCALING_PROFILES), args.config, data_root, args.submit)
                name = "scaling"
            else:
                report, code = incremental(args.profile, args.config, data_root, args.submit)
                name = f"{args.profile}_incremental"
            print(report)
            output = args.output or ROOT / "benchmarks" / "results" / (
                f"{name}_{dt.datetime.now():%Y%m%d_%H%M%S}.md")
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(report, encoding="utf-8")
            print(f"results written to {output}")
            return code
        wall, peak, manifest, code = run(args.profile, args.config, data_root, args.submit)
    finally:
        if scratch:
            shutil.rmtree(data_root, ignore_errors=True)
    if manifest is None:
        print(f"the run exited with code {code} before it started; nothing measured", file=sys.stderr)
        return code
    report = table(args.profile, wall, peak, manifest, args.submit)
    print(report)
    output = args.output or ROOT / "benchmarks" / "results" / f"{args.profile}_{manifest['run_id']}.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report, encoding="utf-8")
    print(f"results written to {output}")
    return code


if __name__ == "__main__":
    sys.exit(main())
