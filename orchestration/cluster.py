"""A Spark standalone cluster on this machine (one master, one worker, on loopback) and the
History Server, started from the Spark inside the installed pyspark package: nothing to download.

    python -m orchestration.cluster up        # master + worker; prints the master URL and web UIs
    python -m orchestration.cluster status    # what runs, the workers and applications
    python -m orchestration.cluster history   # the History Server on spark.event_log_dir
    python -m orchestration.cluster down      # stops exactly the daemons `up`/`history` started

Settings come from config.yaml's `cluster` section (`--config`, `--profile` as everywhere). Pid
files and each daemon's log are in `cluster.state_dir`; `down` reads them, so it stops only what
this helper started, and is safe to call twice. Exit codes: 0 ok, 1 a daemon could not start
(port taken, no Java, it died: the line says which), 2 config error. docs/cluster.md has more.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lakehouse.cli import run_main
from lakehouse.config import ClusterConfig, Config, load_config
from lakehouse.errors import EXIT_OK, PipelineError
from lakehouse.spark import LOCAL_CONF_DIR, event_log_settings, spark_home

START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0


class ClusterError(PipelineError):
    """A daemon could not be started or stopped (exit 1)."""

    label = "cluster error"


@dataclass(frozen=True)
class Daemon:
    name: str
    main_class: str
    options_env: str          # the environment variable spark-class reads its JVM options from

    def pid_file(self, state: Path) -> Path:
        return state / f"{self.name}.pid"

    def log_file(self, state: Path) -> Path:
        return state / f"{self.name}.log"


MASTER = Daemon("master", "org.apache.spark.deploy.master.Master", "SPARK_MASTER_OPTS")
WORKER = Daemon("worker", "org.apache.spark.deploy.worker.Worker", "SPARK_WORKER_OPTS")
HISTORY = Daemon("history", "org.apache.spark.deploy.history.HistoryServer", "SPARK_HISTORY_OPTS")
DAEMONS = (HISTORY, WORKER, MASTER)         # the order `down` stops them in


def require_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise ClusterError("Java 17+ is required to run Spark, but no 'java' is on PATH (or under "
                           "JAVA_HOME); install a JDK 17 or newer and retry")
    return java


def state_dir(cfg: ClusterConfig) -> Path:
    return Path(os.path.expanduser(cfg.state_dir)).resolve()


def running_pid(daemon: Daemon, state: Path) -> int | None:
    """The pid in the daemon's pid file if that process is alive and still this daemon (not a
    reused pid); a stale pid file is removed."""
    pid_file = daemon.pid_file(state)
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        pid_file.unlink(missing_ok=True)
        return None
    try:      # (empty while the launcher script execs the JVM)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        cmdline = b""
    if cmdline and daemon.main_class.encode() not in cmdline:
        pid_file.unlink(missing_ok=True)
        return None
    return pid


def port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def check_ports(cfg: ClusterConfig, daemon: Daemon, ports: dict[str, int]) -> None:
    for setting, port in ports.items():
        if port_taken(cfg.host, port):
            raise ClusterError(f"cannot start the {daemon.name}: port {port} on {cfg.host} is in "
                               f"use; free it or set cluster.{setting} in config.yaml")


def start(daemon: Daemon, args: list[str], state: Path, host: str, java_options: str = "") -> int:
    """Start one daemon in its own process group (so `down` also stops what it spawned, such as
    the worker's executors), its output into its log file; returns its pid."""
    state.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SPARK_LOCAL_IP": host, "SPARK_HOME": str(spark_home()),
           "PYSPARK_PYTHON": sys.executable, daemon.options_env: java_options}
    if LOCAL_CONF_DIR.is_dir():
        env.setdefault("SPARK_CONF_DIR", str(LOCAL_CONF_DIR))
    command = [str(spark_home() / "bin" / "spark-class"), daemon.main_class, *args]
    with open(daemon.log_file(state), "w", encoding="utf-8") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=state, env=env, start_new_session=True)
    daemon.pid_file(state).write_text(f"{proc.pid}\n")
    return proc.pid


def http_json(url: str) -> dict | list | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return json.loads(response.read().decode("utf-8"))
    except (OSError, ValueError):         # (URLError is an OSError)
        return None


def wait_for(what: str, ready, daemon: Daemon, state: Path, timeout: float = START_TIMEOUT_S):
    """Poll `ready()` until it returns something truthy; fail early if the daemon died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = ready()
        if result:
            return result
        if running_pid(daemon, state) is None:
            tail = daemon.log_file(state).read_text(encoding="utf-8", errors="replace").strip()
            last = tail.splitlines()[-1] if tail else "(no output)"
            raise ClusterError(f"the {daemon.name} exited before {what}: {last} "
                               f"(log: {daemon.log_file(state)})")
        time.sleep(0.5)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what} "
                       f"(log: {daemon.log_file(state)})")


def master_ui(cfg: ClusterConfig) -> str:
    return f"http://{cfg.host}:{cfg.master_ui_port}"


def alive_workers(cfg: ClusterConfig) -> int:
    status = http_json(master_ui(cfg) + "/json/")
    if not isinstance(status, dict):
        return 0
    return sum(1 for w in status.get("workers", []) if w.get("state") == "ALIVE")


def up(cfg: ClusterConfig) -> list[str]:
    """Start the master and one worker (unless they run already) and wait until the worker has
    registered; returns the lines to print. On any failure, stops what it started."""
    state = state_dir(cfg)
    require_java()
    started = []
    try:
        if running_pid(MASTER, state) is None:
            check_ports(cfg, MASTER, {"master_port": cfg.master_port,
                                      "master_ui_port": cfg.master_ui_port})
            start(MASTER, ["--host", cfg.host, "--port", str(cfg.master_port),
                           "--webui-port", str(cfg.master_ui_port)], state, cfg.host)
            started.append(MASTER)
        wait_for("its web UI answered", lambda: http_json(master_ui(cfg) + "/json/"), MASTER, state)
        if running_pid(WORKER, state) is None:
            check_ports(cfg, WORKER, {"worker_ui_port": cfg.worker_ui_port})
            start(WORKER, ["--host", cfg.host, "--webui-port", str(cfg.worker_ui_port),
                           "--cores", str(cfg.worker_cores), "--memory", cfg.worker_memory,
                           "--work-dir", str(state / "work"), cfg.master_url], state, cfg.host)
            started.append(WORKER)
        wait_for("it registered with the master", lambda: alive_workers(cfg) > 0, WORKER, state)
    except BaseException:
        for daemon in reversed(started):
            stop(daemon, state)
        raise
    return [f"master:    {cfg.master_url}",
            f"master UI: {master_ui(cfg)}",
            f"worker UI: http://{cfg.host}:{cfg.worker_ui_port} "
            f"({cfg.worker_cores} cores, {cfg.worker_memory})",
            f"run on it: python orchestrator.py --master {cfg.master_url} [--submit]"]


def history(config: Config) -> list[str]:
    """Start the History Server on the event log directory (unless it runs already)."""
    cfg = config.cluster
    state = state_dir(cfg)
    require_java()
    settings = event_log_settings(config.spark)
    if not settings:
        raise ClusterError("spark.event_log_dir is empty, so runs write no event logs; set it in "
                           "config.yaml (e.g. logs/spark-events) and run the pipeline again")
    url = f"http://{cfg.host}:{cfg.history_ui_port}"
    if running_pid(HISTORY, state) is None:
        check_ports(cfg, HISTORY, {"history_ui_port": cfg.history_ui_port})
        options = (f"-Dspark.history.fs.logDirectory={settings['spark.eventLog.dir']} "
                   f"-Dspark.history.ui.port={cfg.history_ui_port} "
                   f"-Dspark.history.fs.update.interval=2s")
        start(HISTORY, [], state, cfg.host, options)
        try:
            wait_for("its web UI answered",
                     lambda: http_json(url + "/api/v1/applications") is not None, HISTORY, state)
        except BaseException:
            stop(HISTORY, state)
            raise
    return [f"history server: {url} (event logs: {settings['spark.eventLog.dir']})"]


def stop(daemon: Daemon, state: Path) -> bool:
    """Stop one daemon and its process group: SIGTERM, then SIGKILL after a grace period.
    Returns whether it was running."""
    pid = running_pid(daemon, state)
    if pid is None:
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline and group_alive(pid):
            time.sleep(0.2)
        if not group_alive(pid):
            break
    daemon.pid_file(state).unlink(missing_ok=True)
    if group_alive(pid):
        raise ClusterError(f"the {daemon.name} (process group {pid}) did not stop")
    return True


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies, which have exited but wait for a
    parent to reap them, do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie leader (our own child, not reaped yet) counts as stopped
    try:
        waited, _ = os.waitpid(pgid, os.WNOHANG)
        if waited == pgid:
            return group_alive(pgid)
    except ChildProcessError:
        pass
    return not _only_zombies(pgid)


def _only_zombies(pgid: int) -> bool:
    """True when every process left in the group is a zombie (Linux /proc; elsewhere False)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return False
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return False
    return True


def down(cfg: ClusterConfig) -> list[str]:
    state = state_dir(cfg)
    stopped = [d.name for d in DAEMONS if stop(d, state)]
    return [f"stopped: {', '.join(stopped)}" if stopped else "nothing was running"]


def status(cfg: ClusterConfig) -> list[str]:
    state = state_dir(cfg)
    lines = []
    for daemon in reversed(DAEMONS):
        pid = running_pid(daemon, state)
        lines.append(f"{daemon.name:<8} {'running, pid ' + str(pid) if pid else 'not running'}")
    info = http_json(master_ui(cfg) + "/json/")
    if isinstance(info, dict):
        apps = [a.get("name", "?") for a in info.get("activeapps", [])]
        lines.append(f"master {cfg.master_url}: {alive_workers(cfg)} worker(s) alive, "
                     f"{len(apps)} application(s) running{': ' + ', '.join(apps) if apps else ''}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down", "status", "history"))
    parser.add_argument("--config", default=None, help="path to config.yaml (default: the repo's)")
    parser.add_argument("--profile", default="default", help="config profile")

    def body(args) -> int:
        config = load_config(args.config, args.profile)
        actions = {"up": lambda: up(config.cluster), "down": lambda: down(config.cluster),
                   "status": lambda: status(config.cluster), "history": lambda: history(config)}
        for line in actions[args.command]():
            print(line)
        return EXIT_OK

    return run_main(body, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
