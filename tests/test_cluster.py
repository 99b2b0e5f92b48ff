"""The local standalone cluster: its helper's errors, and the tiny profile run through it in
--submit mode, equal to a local run, with every daemon stopped afterwards."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from lakehouse.config import load_config
from orchestration import cluster
from orchestration.plan import PLAN
from scripts.compare_data_roots import compare_roots

from conftest import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp_path: Path, **cluster_settings) -> Path:
    """The repo's config with this test's cluster section (its own ports and state dir), and event
    logs on for the tiny profile."""
    raw = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    raw["cluster"].update({"state_dir": str(tmp_path / "cluster"), "master_port": free_port(),
                           "master_ui_port": free_port(), "worker_ui_port": free_port(),
                           "history_ui_port": free_port(), **cluster_settings})
    raw["profiles"]["tiny"]["spark"]["event_log_dir"] = str(tmp_path / "spark-events")
    # one core per application: two of the run's side-by-side steps get executors at a time
    # instead of one (218 s instead of about 260 s for the tiny run on two cores)
    raw["profiles"]["tiny"]["spark"]["conf"] = {**raw["spark"]["conf"], "spark.cores.max": "1"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def helper(config: Path, command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestration.cluster", command, "--config",
                           str(config), "--profile", "tiny"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_a_taken_port_is_named_with_the_setting_to_change(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = helper(write_config(tmp_path, master_port=port), "up")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"cluster error: cannot start the master: port {port} on "
                                   f"127.0.0.1 is in use; free it or set cluster.master_port in "
                                   f"config.yaml")
    assert not list((tmp_path / "cluster").glob("*.pid"))      # nothing started, nothing left


def test_without_java_up_says_so_in_one_line(tmp_path):
    config = write_config(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(Path(sys.executable).parent)       # python, but no java
    proc = subprocess.run([sys.executable, "-m", "orchestration.cluster", "up", "--config",
                           str(config)], cwd=REPO, capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("cluster error: Java 17+ is required")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_down_and_status_with_nothing_running(tmp_path):
    config = write_config(tmp_path)
    for _ in range(2):                                   # safe to call twice
        proc = helper(config, "down")
        assert (proc.returncode, proc.stdout) == (0, "nothing was running\n")
    status = helper(config, "status")
    assert status.stdout.splitlines() == ["master   not running", "worker   not running",
                                          "history  not running"]


def test_history_without_event_logs_is_refused(tmp_path):
    config = write_config(tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["profiles"]["tiny"]["spark"]["event_log_dir"] = ""
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    proc = helper(config, "history")
    assert proc.returncode == 1
    assert proc.stderr.startswith("cluster error: spark.event_log_dir is empty")


def test_cluster_settings_are_validated(tmp_path):
    config = write_config(tmp_path, worker_ui_port=70000)
    proc = helper(config, "status")
    assert (proc.returncode, proc.stderr.strip()) == (
        2, "config error: cluster.worker_ui_port: expected a TCP port between 1 and 65535, got 70000")


def test_a_bad_master_url_is_a_config_error():
    proc = subprocess.run([sys.executable, "orchestrator.py", "--profile", "tiny", "--master",
                           "spark:/nowhere"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("config error: --master: expected a Spark master URL (local[N], "
                                   "spark://HOST:PORT, yarn, k8s://URL), got 'spark:/nowhere'")


def test_the_tiny_pipeline_on_the_cluster_in_submit_mode_equals_a_local_run(spark, tiny_run, tmp_path):
    config = write_config(tmp_path)
    cfg = load_config(config, "tiny").cluster
    state = Path(cfg.state_dir)
    pids = {}
    try:
        up = helper(config, "up")
        assert up.returncode == 0, up.stderr
        assert up.stdout.splitlines()[0] == f"master:    spark://127.0.0.1:{cfg.master_port}"
        pids = {d.name: int(d.pid_file(state).read_text()) for d in (cluster.MASTER, cluster.WORKER)}
        assert helper(config, "up").returncode == 0            # already up: nothing new started
        assert {d.name: int(d.pid_file(state).read_text())
                for d in (cluster.MASTER, cluster.WORKER)} == pids

        run = subprocess.run([sys.executable, "orchestrator.py", "--config", str(config),
                              "--profile", "tiny", "--master", cfg.master_url, "--submit",
                              "--data-root", str(tmp_path / "data"), "--log-dir", str(tmp_path / "logs")],
                             cwd=REPO, capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert "[11/11] publish ... ok" in run.stdout
        manifest = json.loads(next((tmp_path / "logs").glob("run_*.json")).read_text())
        assert (manifest["mode"], manifest["config"]["settings"]["spark"]["master"]) == (
            "submit", cfg.master_url)
        # the run report of a --submit run (its own local session, no cluster application)
        assert manifest["report"] == str(tmp_path / "data" / "reports" / f"{manifest['run_id']}.html")
        assert f"\nreport: {manifest['report']}\n" in run.stdout
        step = {s["name"]: s for s in manifest["steps"]}["silver_payments"]
        bronze = json.loads((tmp_path / "data" / "bronze" / "_manifest.json").read_text())["tables"]["payments"]
        assert (step["rows_read"], step["details"]["rejects"]) == (bronze["lines"], bronze["expected_rejects"])
        # the spark-submit of the installed pyspark (not whatever PATH holds), with the code zip
        command = (tmp_path / "logs" / manifest["run_id"] / "silver_orders.log").read_text().splitlines()[0]
        assert command.startswith("$ /") and f"/spark-submit --master {cfg.master_url} " in command
        if not os.environ.get("SPARK_HOME"):    # the copy beside pyspark's jars merged into one
            assert Path(command.split()[1]).parent.parent.name.startswith("spark-home-"), command
        assert "--py-files" in command

        # every Spark step ran as an application of the cluster, not in a local[*] of its own
        master = cluster.http_json(cluster.master_ui(cfg) + "/json/")
        steps = [Path(s.script).stem for s in PLAN if s.spark]
        assert sorted(a["name"] for a in master["completedapps"]) == sorted(
            f"ecommerce-data-platform {step} {manifest['run_id']}" for step in steps)

        assert compare_roots(spark, str(tiny_run / "data"), str(tmp_path / "data"),
                             report=lambda _: None) == {}

        # one event log per Spark step, and the History Server lists them
        logs = sorted(p.name for p in (tmp_path / "spark-events").iterdir())
        assert len(logs) == len(steps) and all(name.startswith("eventlog_v2_app-") for name in logs), logs
        history = helper(config, "history")
        assert history.returncode == 0, history.stderr
        pids["history"] = int(cluster.HISTORY.pid_file(state).read_text())
        url = f"http://127.0.0.1:{cfg.history_ui_port}/api/v1/applications"

        def all_listed():
            apps = cluster.http_json(url)
            return apps if apps and len(apps) == len(steps) else None

        apps = cluster.wait_for("the History Server to list the run's applications", all_listed,
                                cluster.HISTORY, state, timeout=60)
        assert sorted(a["name"] for a in apps) == sorted(
            f"ecommerce-data-platform {step} {manifest['run_id']}" for step in steps)
        assert helper(config, "status").stdout.splitlines()[-1] == (
            f"master {cfg.master_url}: 1 worker(s) alive, 0 application(s) running")
    finally:
        down = helper(config, "down")
    assert down.returncode == 0 and down.stdout == "stopped: history, worker, master\n", down
    assert [name for name, pid in pids.items() if cluster.group_alive(pid)] == []
    assert not list(state.glob("*.pid"))
    assert helper(config, "down").stdout == "nothing was running\n"
