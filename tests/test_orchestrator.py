"""The orchestrator end to end on the tiny profile: success, retries, failure and resume, the
lock, exit codes, and --submit mode."""
from __future__ import annotations

import importlib
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

import orchestrator
from lakehouse.steps import StepResult
from orchestration.cluster import group_alive
from orchestration.plan import STEPS
from orchestration.runner import RetryPolicy, Step, StepFailed, StepRecord, run_step

from conftest import REPO

GOLD = ("events_daily", "orders_daily", "payments_daily", "daily_business_metrics", "user_daily_features")


def latest_manifest(log_dir: Path) -> dict:
    return json.loads(max(log_dir.glob("run_*.json"), key=lambda p: p.stat().st_mtime_ns).read_text())


def statuses(manifest: dict) -> dict[str, str]:
    return {s["name"]: s["status"] for s in manifest["steps"]}


def run(root: Path, *args: str) -> int:
    return orchestrator.main(["--profile", "tiny", "--data-root", str(root / "data"),
                              "--log-dir", str(root / "logs"), "--no-report", *args])


def test_a_full_run_succeeds_with_log_manifest_and_gold(tiny_run):
    manifest = latest_manifest(tiny_run / "logs")
    assert manifest["status"] == "succeeded" and manifest["exit_code"] == 0
    assert set(statuses(manifest).values()) == {"succeeded"}
    assert len(manifest["steps"]) == 11
    steps = {s["name"]: s for s in manifest["steps"]}
    bronze = json.loads((tiny_run / "data" / "bronze" / "_manifest.json").read_text())["tables"]
    for step, table in (("silver_user_events", "user_events"), ("silver_orders", "orders"),
                        ("silver_payments", "payments")):
        s = steps[step]
        assert s["rows_read"] == bronze[table]["lines"] == s["rows_written"] + s["rows_quarantined"]
        assert s["details"]["rejects"] == bronze[table]["expected_rejects"]
    assert manifest["dq"]["failed_error"] == 0 and manifest["dq"]["checks"] == 17 + 21 + 19  # events, orders, payments
    assert steps["dq_checks"]["rows_read"] == sum(steps[s]["rows_written"] for s in (
        "silver_user_events", "silver_orders", "silver_payments"))
    assert len(manifest["config"]["digest"]) == 64
    log = Path(manifest["log_file"]).read_text()
    assert Path(manifest["log_file"]).name.startswith("pipeline_")
    for name in orchestrator.STEP_NAMES:
        assert f"step {name}: attempt 1/2 started" in log and f"step {name}: attempt 1 succeeded" in log
    for table in GOLD:
        assert (tiny_run / "data" / "gold" / table / "_delta_log").is_dir()


def flaky(monkeypatch, step: str, failures: int):
    """Make `step` raise a transient error `failures` times, then run normally."""
    module = importlib.import_module(STEPS[step].module)
    inner = module.run
    calls = {"n": 0}

    def maybe_fail(ctx):
        calls["n"] += 1
        if calls["n"] <= failures:
            raise ConnectionError(f"executor lost (simulated, call {calls['n']})")
        return inner(ctx)

    monkeypatch.setattr(module, "run", maybe_fail)
    return calls


def test_a_step_failing_once_is_retried_and_the_run_succeeds(copy_run, monkeypatch):
    root = copy_run()
    calls = flaky(monkeypatch, "gold_orders_daily", failures=1)
    assert run(root, "--from-step", "gold_events_daily") == 0
    manifest = latest_manifest(root / "logs")
    steps = {s["name"]: s for s in manifest["steps"]}
    assert calls["n"] == 2 and steps["gold_orders_daily"]["attempts"] == 2
    assert steps["gold_orders_daily"]["status"] == "succeeded"
    assert statuses(manifest)["generate"] == "not_planned"
    log = Path(manifest["log_file"]).read_text()
    assert "step gold_orders_daily: attempt 1/2 failed: ConnectionError: executor lost" in log
    assert "Traceback" in log
    assert log.count("orchestrator: run ") == 1                   # only this run's lines


def test_a_failing_step_stops_the_run_and_resume_completes_it(copy_run, monkeypatch, capsys):
    root = copy_run()
    flaky(monkeypatch, "gold_orders_daily", failures=99)
    monkeypatch.setenv("PIPELINE_MAX_PARALLEL_STEPS", "1")       # a deterministic order
    assert run(root, "--skip-generate", "--from-step", "gold_user_daily_features") == 1
    failed = latest_manifest(root / "logs")
    assert failed["status"] == "failed" and failed["exit_code"] == 1
    assert statuses(failed) == {
        "generate": "not_planned", "silver_orders": "not_planned", "silver_payments": "not_planned",
        "silver_user_events": "not_planned", "dq_checks": "not_planned",
        "gold_user_daily_features": "succeeded", "gold_events_daily": "succeeded",
        "gold_orders_daily": "failed", "gold_payments_daily": "skipped",
        "gold_daily_business_metrics": "skipped", "publish": "skipped"}
    assert "gold_orders_daily ... FAILED after 2 attempt(s)" in capsys.readouterr().out

    monkeypatch.undo()
    assert orchestrator.main(["--log-dir", str(root / "logs"), "--resume", failed["run_id"]]) == 0
    resumed = latest_manifest(root / "logs")
    assert resumed["resumed_from"] == failed["run_id"] and resumed["status"] == "succeeded"
    assert statuses(resumed)["gold_events_daily"] == "reused"
    assert statuses(resumed)["gold_user_daily_features"] == "reused"
    assert statuses(resumed)["dq_checks"] == "not_planned"
    for step in ("gold_orders_daily", "gold_payments_daily", "gold_daily_business_metrics", "publish"):
        assert statuses(resumed)[step] == "succeeded"


def test_bad_input_is_not_retried(tmp_path, capsys):
    assert run(tmp_path, "--skip-generate", "--only", "silver_orders") == 1
    steps = {s["name"]: s for s in latest_manifest(tmp_path / "logs")["steps"]}
    assert steps["silver_orders"]["attempts"] == 1
    assert "Bronze table orders not found" in capsys.readouterr().err


def test_a_submitted_step_failing_on_config_says_why_on_the_console(tmp_path, capsys):
    assert run(tmp_path, "--submit", "--through", "2025-01-01") == 2
    err = capsys.readouterr().err
    assert ("config error: --through 2025-01-01: before generator.start_date 2026-01-01; "
            "nothing to generate (exit code 2; see ") in err


def test_a_concurrent_run_is_refused_and_a_stale_lock_taken_over(tmp_path, capsys):
    lock = tmp_path / "data" / ".pipeline.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "run_id": "other"}))
    assert run(tmp_path, "--only", "generate") == 4
    assert "another pipeline run (other" in capsys.readouterr().err
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True)
    lock.write_text(json.dumps({"pid": int(dead.stdout), "host": os.uname().nodename, "run_id": "old"}))
    assert run(tmp_path, "--only", "generate") == 0
    assert not lock.exists()


def test_config_error_and_dry_run(tmp_path, capsys):
    assert orchestrator.main(["--profile", "galactic", "--data-root", str(tmp_path)]) == 2
    assert "config error: --profile galactic: unknown profile" in capsys.readouterr().err
    assert orchestrator.main(["--profile", "tiny", "--dry-run", "--skip-generate"]) == 0
    out = capsys.readouterr().out
    assert "10 of 11 steps" in out
    assert "   1. silver_orders " in out and "generate  " not in out
    assert not (tmp_path / "logs").exists()


def test_retry_policy_backoff_is_exponential_jittered_and_capped():
    policy = RetryPolicy(max_retries=3, base_seconds=2.0, max_seconds=5.0)
    rng = random.Random(0)
    assert 1.0 <= policy.delay(1, rng) <= 2.0
    assert 2.0 <= policy.delay(2, rng) <= 4.0
    assert 2.5 <= policy.delay(3, rng) <= 5.0          # 8 capped at 5
    sleeps = []
    record = StepRecord("s")
    with pytest.raises(StepFailed) as failure:
        run_step(Step("s", lambda: (_ for _ in ()).throw(TimeoutError("slow"))), record,
                 policy, sleep=sleeps.append, rng=rng)
    assert record.attempts == 4 and len(sleeps) == 3 and failure.value.exit_code == 1
    ok = run_step(Step("t", lambda: StepResult(rows_read=7)), StepRecord("t"), policy)
    assert ok.rows_read == 7


def test_only_one_silver_table_and_the_gate_after_a_full_run(copy_run, capsys):
    """The README's `--only silver_orders dq_checks`: the gate checks what this run staged."""
    root = copy_run()
    reports = sorted(p.name for p in (root / "data" / "reports").iterdir())
    assert run(root, "--only", "silver_orders", "dq_checks", "--full-refresh") == 0
    manifest = latest_manifest(root / "logs")
    # --no-report: no report written, none named
    assert sorted(p.name for p in (root / "data" / "reports").iterdir()) == reports and manifest["report"] is None
    dq_step = {s["name"]: s for s in manifest["steps"]}["dq_checks"]
    assert dq_step["details"]["checked"] == ["orders"]
    assert manifest["dq"]["checks"] == 21                       # the orders checks only
    out = capsys.readouterr().out
    assert f"data quality: 21 checks, 0 failed, 0 warnings; report: {root / 'data' / 'dq' / 'reports'}" in out
    assert "\nreport: " not in out
    # 208 order lines: 120 valid, 44 superseded versions or re-sends, 44 real rejects
    assert re.search(r"\nsilver_orders +succeeded +1 +[0-9.]+ +208 +120 +44 +44\n", out), out


def test_a_run_leaves_no_empty_work_dirs_and_no_checksum_files(tiny_run):
    data = tiny_run / "data"
    assert not (data / "_staging").exists() and not (data / "_trash").exists()
    assert list((data / "dq" / "reports").iterdir()) and not list(data.rglob("*.md.crc"))
    assert [p.name for p in (data / "dq" / "reports").iterdir()] == [
        f"{latest_manifest(tiny_run / 'logs')['run_id']}.md"]


def test_the_benchmark_takes_a_config_and_removes_its_scratch_directory(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text((REPO / "config.yaml").read_text().replace("max_retries: 2", "max_retries: -2"))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.run([sys.executable, "benchmarks/run_benchmark.py", "--profile", "tiny",
                           "--config", str(bad)], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "TMPDIR": str(scratch)}, timeout=120)
    assert proc.returncode == 2
    assert "config error: orchestrator.max_retries: expected a value >= 0, got -2" in proc.stderr
    assert "the run exited with code 2 before it started" in proc.stderr
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("flag, message", [
    (["--data-root", "/proc/x"], "config error: data root (--data-root) /proc/x is not usable: "),
    (["--data-root", "/dev/null/x"], "config error: data root (--data-root) /dev/null/x is not usable: "),
    (["--log-dir", "/proc/logs"], "config error: log directory (--log-dir, orchestrator.log_dir) "
                                  "/proc/logs is not usable: "),
])
def test_an_unusable_location_is_one_line_and_exit_2(tmp_path, flag, message):
    args = {"--data-root": str(tmp_path / "data"), "--log-dir": str(tmp_path / "logs")}
    args[flag[0]] = flag[1]
    proc = subprocess.run([sys.executable, "orchestrator.py", "--profile", "tiny",
                           *[x for kv in args.items() for x in kv]],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith(message) and proc.stderr.count("\n") == 1, proc.stderr
    assert not list(tmp_path.rglob("run_*.json"))             # no manifest left "running"


def test_a_malformed_bronze_partition_fails_the_step_once_not_retried(tmp_path, capsys):
    part = tmp_path / "data" / "bronze" / "orders" / "ingest_date=garbage"
    part.mkdir(parents=True)
    (part / "part-00000.jsonl").write_text('{"order_id": 1}\n')
    assert run(tmp_path, "--only", "silver_orders") == 1
    steps = {s["name"]: s for s in latest_manifest(tmp_path / "logs")["steps"]}
    assert steps["silver_orders"]["attempts"] == 1
    assert "ingest_date=garbage: not a Bronze partition" in capsys.readouterr().err


def test_a_step_waits_for_selected_steps_it_reaches_through_unselected_ones():
    from orchestration.run import selected_dependencies
    deps = selected_dependencies(["silver_orders", "dq_checks", "gold_orders_daily", "publish"])
    assert deps == {"silver_orders": set(), "dq_checks": {"silver_orders"},
                    "gold_orders_daily": {"silver_orders", "dq_checks"},
                    "publish": {"silver_orders", "dq_checks", "gold_orders_daily"}}


def test_an_in_process_run_leaves_no_jvm_behind(tmp_path):
    """An in-process run stops the session it started and waits for its JVM: nothing of the
    run's process group is left running once the run has returned. The first run on a machine
    has its JVM write the class archive as it exits: complete once the run has returned."""
    import yaml
    raw = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    raw["spark"]["class_archive_dir"] = str(tmp_path / "jvm")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "orchestrator.py", "--config", str(config),
                             "--profile", "tiny", "--data-root",
                             str(tmp_path / "data"), "--log-dir", str(tmp_path / "logs"),
                             "--only", "generate", "silver_payments", "dq_checks", "publish",
                             "--no-report"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "[4/4] publish ... ok" in out
    assert "[cds]" not in out              # writing the archive prints no warning per class
    assert "FutureWarning" not in out      # nor pyspark about the pandas the README reads with
    assert not group_alive(proc.pid)       # (an exited process not yet reaped does not count)
    [archive] = (tmp_path / "jvm").iterdir()        # nothing half written left beside it
    assert archive.name.startswith("classes-") and archive.suffix == ".jsa"
    assert archive.stat().st_size > 10_000_000, archive.stat().st_size
    # A run with nothing to do leaves no JVM booting either. (Its output goes to a file: a pipe
    # would make the wait last until every process holding it had exited.)
    with open(tmp_path / "second.out", "w") as out_file:
        proc = subprocess.Popen([sys.executable, "orchestrator.py", "--profile", "tiny", "--data-root",
                                 str(tmp_path / "data"), "--log-dir", str(tmp_path / "logs"),
                                 "--only", "silver_payments", "--no-report"],
                                cwd=REPO, stdout=out_file, stderr=subprocess.STDOUT, start_new_session=True)
        assert proc.wait(timeout=600) == 0
    assert "nothing to do" in (tmp_path / "second.out").read_text()
    assert not group_alive(proc.pid)
