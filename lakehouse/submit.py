"""--submit mode: run a step as its own process (spark-submit or python), as a scheduler would."""
from __future__ import annotations

import json
import os
import subprocess
import zipfile
from collections.abc import Sequence
from pathlib import Path

from lakehouse.cli import EXIT_BAD_INPUT, EXIT_CONFIG_ERROR, EXIT_DQ_FAILED, BadInputError, DataQualityError
from lakehouse.config import ConfigError
from lakehouse.jobs import StepResult


def build_code_zip(root: Path, packages: Sequence[str], target: Path) -> Path:
    """The project's packages as one zip for --py-files (what executors on a cluster import)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for package in packages:
            for file in sorted((root / package).rglob("*.py")):
                zf.write(file, file.relative_to(root).as_posix())
    return target


def run_submitted(command: list[str], step_log: Path, cwd: Path) -> StepResult:
    """Run one step as a process, its output into `step_log`; map its exit code to an error
    (2 config, 3 data quality, 5 bad input: not retried; anything else: retried)."""
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
                fields = json.loads(line)
                return StepResult(**{k: v for k, v in fields.items() if k in StepResult.__dataclass_fields__})
        return StepResult()
    message = f"exit code {proc.returncode}; see {step_log}"
    errors: dict[int, type[Exception]] = {EXIT_CONFIG_ERROR: ConfigError, EXIT_DQ_FAILED: DataQualityError,
                                          EXIT_BAD_INPUT: BadInputError}
    raise errors.get(proc.returncode, RuntimeError)(message)
