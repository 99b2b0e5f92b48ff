"""One local SparkSession for the whole suite, and the tiny-profile data the end-to-end tests share."""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from pyspark.sql import SparkSession

from lakehouse.config import DEFAULT_CONFIG_PATH, Config, load_config
from lakehouse.paths import DataPaths
from lakehouse.spark import get_spark, stop_jvm
from lakehouse.steps import JobContext, RunMode

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def spark() -> SparkSession:
    """The suite's one session, built like every job's (UTC, ANSI on): local[2], two shuffle
    partitions, no UI. It lives for the whole suite, so it keeps the JVM's full JIT (C2): the
    C1-only setting in config.yaml is for one-minute runs."""
    settings = load_config(profile="tiny").spark
    test_settings = dataclasses.replace(settings, master="local[2]", app_name="tests", conf={
        **settings.conf, "spark.default.parallelism": "2", "spark.ui.enabled": "false",
        "spark.driver.extraJavaOptions": "-XX:ReservedCodeCacheSize=256m"})
    session = get_spark(test_settings)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    stop_jvm()      # the suite ends once its JVM has exited, not while it is still exiting


@pytest.fixture(scope="session")
def tiny_cfg() -> Config:
    return load_config(profile="tiny")


@pytest.fixture(scope="session")
def tiny_run(spark, tmp_path_factory) -> Path:
    """A complete, successful in-process pipeline run on the tiny profile (shared, read-only:
    copy it with `copy_run` before changing anything)."""
    import orchestrator
    root = tmp_path_factory.mktemp("tiny_run")
    code = orchestrator.main(["--profile", "tiny", "--data-root", str(root / "data"),
                              "--log-dir", str(root / "logs")])
    assert code == 0
    return root


@pytest.fixture
def copy_run(tiny_run, tmp_path):
    def make() -> Path:
        target = tmp_path / "run"
        shutil.copytree(tiny_run, target)
        (target / "data" / ".pipeline.lock").unlink(missing_ok=True)
        return target
    return make


def files_of(root: Path) -> dict[str, bytes]:
    """Every file under `root` (relative path -> bytes): to show a tree did not change."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def write_config(tmp_path: Path, mutate) -> Path:
    """The repo's config.yaml with `mutate(data)` applied, written to tmp_path/config.yaml."""
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    mutate(data)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def paths_for(root: Path, cfg: Config) -> DataPaths:
    return DataPaths.create(str(root), cfg.paths)


FULL_REFRESH = RunMode(full_refresh=True)


def context_for(spark: SparkSession, root: Path, cfg: Config, run_id: str = "test_run",
                mode: RunMode = RunMode()) -> JobContext:
    """A step's context on a data root, sharing the suite's session."""
    return JobContext(cfg, paths_for(root, cfg), run_id, lambda: spark, mode)


def read_table(spark: SparkSession, path):
    """A published table as any Delta reader sees it (its latest version)."""
    return spark.read.format("delta").load(str(path))


def report_of(root: Path) -> tuple[dict, str, dict]:
    """The newest run's manifest, its report's HTML and the data the report embeds."""
    manifest = json.loads(sorted((root / "logs").glob("run_*.json"))[-1].read_text())
    html = Path(manifest["report"]).read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>',
                                html, re.S)[1].replace("<\\/", "</"))
    return manifest, html, data
