"""Silver jobs on the tiny profile: conservation, write-audit-publish, spark-submit."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakehouse.contract import BRONZE_TABLES, ORDERS, USER_EVENTS
from lakehouse.silver import extract_bronze, publish_silver, stage_silver
from lakehouse.tables import TableStore
from reference import bronze_lines
from spark_jobs import bronze_to_silver_orders as orders_job

from conftest import REPO, context_for, paths_for


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("table", BRONZE_TABLES)
def test_every_bronze_line_ends_in_silver_or_quarantine(spark, tiny_run, table):
    data = tiny_run / "data"
    manifest = json.loads((data / "bronze" / "_manifest.json").read_text())["tables"][table]
    silver = spark.read.parquet(str(data / "silver" / table))
    quarantine = spark.read.parquet(str(data / "quarantine" / table))
    lines = len(bronze_lines(data / "bronze" / table))
    assert lines == manifest["lines"]
    assert silver.count() + quarantine.count() == lines
    by_reason = {r["reject_reason"]: r["count"] for r in quarantine.groupBy("reject_reason").count().collect()}
    assert by_reason == manifest["expected_rejects"]
    assert silver.count() == manifest["expected_silver_rows"]
    assert quarantine.columns == ["raw_record", "reject_reason", "source_file", "ingest_date"]
    assert quarantine.where(F.col("source_file").isNull() | F.col("ingest_date").isNull()).count() == 0


def test_silver_has_the_contract_schema_and_no_raw_ip(spark, tiny_run):
    events = spark.read.parquet(str(tiny_run / "data" / "silver" / USER_EVENTS))
    assert [(f.name, f.dataType.simpleString()) for f in events.schema.fields] == [
        ("event_id", "string"), ("user_id", "string"), ("session_id", "string"),
        ("event_type", "string"), ("event_ts", "timestamp"), ("product_id", "string"),
        ("category", "string"), ("price", "decimal(12,2)"), ("device", "string"),
        ("source", "string"), ("order_id", "bigint"), ("ip_hash", "string"),
        ("user_agent", "string"), ("event_date", "date")]
    assert events.where(F.length("ip_hash") != 64).count() == 0
    assert events.where(F.col("ip_hash").rlike(r"^\d+\.\d+\.\d+\.\d+$")).count() == 0
    parts = sorted(p.name for p in (tiny_run / "data" / "silver" / USER_EVENTS).glob("event_date=*"))
    assert parts == ["event_date=2026-01-01", "event_date=2026-01-02", "event_date=2026-01-03"]


def test_a_job_failing_on_bad_data_leaves_the_published_version_whole(spark, tiny_cfg, copy_run):
    root = copy_run() / "data"
    published = files_of(root / "silver" / ORDERS)

    ctx = context_for(spark, root, tiny_cfg)
    out = orders_job.transform(extract_bronze(ctx, ORDERS), tiny_cfg.enums, tiny_cfg.fx_rates_to_usd)
    boom = F.when(F.col("order_id") % 7 == 3, F.raise_error(F.lit("disk died")))
    fails_on_some_rows = out.withColumn("category", F.coalesce(boom.cast("string"), F.col("category")))

    with pytest.raises(Exception, match="disk died"):
        stage_silver(ctx, ORDERS, fails_on_some_rows)
    assert files_of(root / "silver" / ORDERS) == published


def test_a_write_killed_midway_is_never_published_and_a_rerun_is_identical(spark, tiny_cfg, copy_run,
                                                                            monkeypatch):
    root = copy_run() / "data"
    paths = paths_for(root, tiny_cfg)
    ctx = context_for(spark, root, tiny_cfg)
    published = files_of(root / "silver" / ORDERS)
    before = spark.read.parquet(str(root / "silver" / ORDERS))
    before_rows = before.collect()
    real_write = TableStore.write_staged

    def killed_before_commit(self, df, target, partition_by=()):
        staged = real_write(self, df, target, partition_by)
        Path(staged, "_SUCCESS").unlink()          # the files are there, the commit is not
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(TableStore, "write_staged", killed_before_commit)
    with pytest.raises(KeyboardInterrupt):
        orders_job.run(ctx)
    monkeypatch.undo()
    with pytest.raises(OSError, match="no _SUCCESS marker"):
        publish_silver(TableStore(spark, paths), ORDERS)
    assert files_of(root / "silver" / ORDERS) == published
    assert spark.read.parquet(str(root / "silver" / ORDERS)).count() == len(before_rows)

    orders_job.run(ctx)                             # the rerun replaces the stale staged version
    publish_silver(TableStore(spark, paths), ORDERS)
    after = spark.read.parquet(str(root / "silver" / ORDERS))
    assert_df_equality(after, spark.createDataFrame(before_rows, before.schema), ignore_row_order=True)


def test_an_interrupted_publish_is_recovered(spark, tiny_cfg, copy_run):
    root = copy_run() / "data"
    paths = paths_for(root, tiny_cfg)
    target = root / "silver" / ORDERS
    published = files_of(target)
    # the crash window: old version moved to trash, new one not yet renamed in
    trash = root / "_trash" / "silver" / f"{ORDERS}.deadbeef"
    trash.parent.mkdir(parents=True)
    shutil.move(target, trash)
    store = TableStore(spark, paths)
    assert store.read_published(paths.silver(ORDERS)).count() > 0
    assert files_of(target) == published and not trash.exists()


def test_missing_bronze_is_a_clear_error(spark, tiny_cfg, tmp_path):
    with pytest.raises(Exception, match=r"Bronze table orders not found at .*bronze/orders"):
        orders_job.run(context_for(spark, tmp_path, tiny_cfg))


def test_a_bronze_file_of_garbage_goes_to_quarantine(spark, tiny_cfg, tmp_path):
    part = tmp_path / "bronze" / ORDERS / "ingest_date=2026-01-01"
    part.mkdir(parents=True)
    (part / "part-00000.jsonl").write_bytes(b"\x00\x01 not json\n\n<html>\r\n{\"order_id\": 1,}\n")
    result = orders_job.run(context_for(spark, tmp_path, tiny_cfg))
    assert (result.rows_read, result.rows_written, result.rows_quarantined) == (4, 0, 4)
    assert result.details["rejects"] == {"malformed_json": 4}


def test_job_runs_with_spark_submit_from_the_repo_root(tiny_cfg, copy_run):
    root = copy_run() / "data"
    proc = subprocess.run(["spark-submit", "spark_jobs/bronze_to_silver_orders.py", "--profile", "tiny",
                           "--data-root", str(root)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # spark-submit merges the driver's stderr into stdout: the result is the last JSON line
    result = json.loads(next(line for line in reversed(proc.stdout.splitlines()) if line.startswith("{")))
    manifest = json.loads((root / "bronze" / "_manifest.json").read_text())["tables"][ORDERS]
    assert result["rows_read"] == manifest["lines"]
    assert result["details"]["rejects"] == manifest["expected_rejects"]
    assert (root / "_staging" / "silver" / ORDERS / "_SUCCESS").exists()
