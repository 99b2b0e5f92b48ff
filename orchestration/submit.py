"""--submit mode: run each step as its own process (spark-submit, or python for steps without
Spark), as a production scheduler would, and read its result back."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from lakehouse.config import Config, SparkConfig
from lakehouse.steps import RunMode
from lakehouse.errors import PERMANENT_ERRORS, error_for_exit_code
from lakehouse.steps import StepResult
from orchestration.plan import StepSpec


def build_code_zip(root: Path, packages: Sequence[str], target: Path) -> Path:
    """The project's packages as one zip for --py-files (what executors on a cluster import)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for package in packages:
            for file in sorted((root / package).rglob("*.py")):
                zf.write(file, file.relative_to(root).as_posix())
    return target


def spark_submit_executable(cfg: SparkConfig) -> str:
    """The spark-submit of the installed pyspark (not whatever is first on PATH, if anything):
    the copy beside pyspark's jars merged into one (`spark.merge_jars`, lakehouse/classpath.py),
    which starts its JVM on the merged jar, unless the environment names its own SPARK_HOME."""
    from lakehouse.spark import merged_spark_home, spark_home
    bundled = (merged_spark_home(cfg) or spark_home()) / "bin" / "spark-submit"
    return str(bundled) if bundled.is_file() else "spark-submit"


def submit_command(spec: StepSpec, cfg: Config, data_root: str, run_id: str,
                   code_zip: Path, mode: RunMode = RunMode()) -> list[str]:
    """The command a scheduler would run for `spec` (absolute paths: it runs from the repo root)."""
    args = [spec.script, "--config", str(Path(cfg.source).resolve()), "--profile", cfg.profile,
            "--data-root", data_root, "--run-id", run_id, *mode.args()]
    if not spec.spark:
        return [sys.executable, *args]
    from lakehouse.spark import spark_submit_args
    return [spark_submit_executable(cfg.spark), "--master", cfg.spark.master,
            "--driver-memory", cfg.spark.driver_memory, *spark_submit_args(cfg.spark),
            "--conf", "spark.sql.session.timeZone=UTC", "--py-files", str(code_zip), *args]


def run_submitted(command: list[str], step_log: Path, cwd: Path) -> StepResult:
    """Run one step as a process, its output into `step_log`; turn its exit code back into the
    error it stands for (config, data quality, bad input: not retried; anything else: retried)."""
    step_log.parent.mkdir(parents=True, exist_ok=True)
    with open(step_log, "w", encoding="utf-8") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        env = {"SPARK_CONF_DIR": str(cwd / "conf"), **os.environ}
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=out, text=True, cwd=cwd, env=env)
        out.write(proc.stdout)
    if proc.returncode == 0:
        # spark-submit merges the driver's stderr into stdout: the result is the last JSON line
        for line in reversed(proc.stdout.strip().splitlines()):
            if line.startswith("{"):
                return StepResult.from_dict(json.loads(line))
        return StepResult()
    said = own_message(step_log.read_text(encoding="utf-8", errors="replace"))
    where = f"exit code {proc.returncode}; see {step_log}"
    raise error_for_exit_code(proc.returncode, f"{said} ({where})" if said else where)


def own_message(output: str) -> str:
    """The one-line message a step prints for the project's own errors ("config error: ..."),
    the last one in its output; "" when it printed none (a crash: its log says more)."""
    labels = tuple(f"{error.label}: " for error in PERMANENT_ERRORS)
    lines = [line for line in output.splitlines() if line.startswith(labels)]
    return lines[-1] if lines else ""
