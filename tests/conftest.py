"""One local SparkSession for the whole suite, and the tiny-profile data the end-to-end tests share."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lakehouse.config import Config, load_config
from lakehouse.paths import DataPaths

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def spark() -> SparkSession:
    session = (SparkSession.builder.master("local[2]").appName("tests")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.ansi.enabled", "true")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.default.parallelism", "2")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


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


def paths_for(root: Path, cfg: Config) -> DataPaths:
    return DataPaths.create(str(root), cfg.paths)
