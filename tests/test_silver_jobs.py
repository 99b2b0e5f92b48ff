"""Silver jobs on the tiny profile: conservation, write-audit-publish, bad input (spark-submit:
tests/test_cluster.py runs every job that way)."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakehouse.contract import BRONZE_TABLES, ORDERS, TABLES, USER_EVENTS, schema_columns
from lakehouse.errors import BadInputError
from lakehouse.silver import stage_silver
from lakehouse.tables import TableStore
from reference import bronze_lines
from spark_jobs import bronze_to_silver_orders as orders_job

from conftest import FULL_REFRESH, context_for, files_of, paths_for, read_table


@pytest.mark.parametrize("table", BRONZE_TABLES)
def test_every_bronze_line_ends_in_silver_or_quarantine(spark, tiny_run, table):
    data = tiny_run / "data"
    manifest = json.loads((data / "bronze" / "_manifest.json").read_text())["tables"][table]
    silver = read_table(spark, data / "silver" / table)
    quarantine = read_table(spark, data / "quarantine" / table)
    lines = len(bronze_lines(data / "bronze" / table))
    assert lines == manifest["lines"]
    assert silver.count() + quarantine.count() == lines
    by_reason = {r["reject_reason"]: r["count"] for r in quarantine.groupBy("reject_reason").count().collect()}
    assert by_reason == manifest["expected_rejects"]
    assert silver.count() == manifest["expected_silver_rows"]
    assert quarantine.columns == ["raw_record", "reject_reason", "source_file", "ingest_date"]
    assert quarantine.where(F.col("source_file").isNull() | F.col("ingest_date").isNull()).count() == 0


def test_silver_has_the_contract_schema_and_no_raw_ip(spark, tiny_run):
    events = read_table(spark, tiny_run / "data" / "silver" / USER_EVENTS)
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


def dictionary_columns(parquet_file) -> set[str]:
    """The columns of a Parquet file's first row group written with a dictionary."""
    group = pq.ParquetFile(parquet_file).metadata.row_group(0)
    return {group.column(i).path_in_schema for i in range(group.num_columns)
            if group.column(i).dictionary_page_offset is not None}


@pytest.mark.parametrize("table", BRONZE_TABLES)
def test_silver_and_lineage_hold_one_file_per_date(tiny_run, table):
    for layer in ("silver", "lineage"):
        dates = sorted((tiny_run / "data" / layer / table).glob(f"{TABLES[table].date_column}=*"))
        assert len(dates) >= 3
        for date in dates:
            files = list(date.glob("*.parquet"))
            assert len(files) == 1, f"{date}: {files}"


@pytest.mark.parametrize("table", BRONZE_TABLES)
def test_silver_timestamps_are_written_as_int64_microseconds(tiny_run, table):
    """Not Spark's default, the deprecated INT96 (a Julian day and nanoseconds per value)."""
    expected = {name: ("INT64", "timeUnit=microseconds") for name, kind
                in schema_columns(TABLES[table].silver_schema) if kind == "timestamp"}
    assert expected     # every Silver table has its timestamps: event_ts, order_ts, payment_ts
    files = sorted((tiny_run / "data" / "silver" / table).glob("*=*/*.parquet"))
    assert len(files) >= 3
    for parquet_file in files:
        schema = pq.ParquetFile(parquet_file).schema
        columns = (schema.column(i) for i in range(len(schema)))
        written = {c.name: (c.physical_type, "timeUnit=microseconds" if "timeUnit=microseconds"
                            in str(c.logical_type) else str(c.logical_type)) for c in columns}
        assert {name: written[name] for name in expected} == expected, parquet_file


def test_a_staged_write_keeps_no_dictionary_for_the_columns_named_distinct(spark, tiny_cfg, tmp_path):
    # Parquet drops a dictionary that does not pay by itself (a key's, a raw line's), after
    # hashing every value: here both columns repeat, so each would keep one unless told not to.
    store = TableStore(spark, paths_for(tmp_path, tiny_cfg))
    rows = spark.range(300).selectExpr("cast(id % 3 as string) AS a", "cast(id % 3 as string) AS b")
    store.write_staged(rows.coalesce(1), store.paths.silver("t"), "run_1", distinct=("a",))
    [written] = (tmp_path / "_staging" / "run_1" / "silver" / "t").glob("*.parquet")
    assert dictionary_columns(written) == {"b"}


def test_a_job_failing_on_bad_data_leaves_the_published_version_whole(spark, tiny_cfg, copy_run):
    root = copy_run() / "data"
    published = files_of(root / "silver" / ORDERS)

    ctx = context_for(spark, root, tiny_cfg, mode=FULL_REFRESH)

    def fails_on_some_rows(raw):
        out = orders_job.transform(raw, tiny_cfg.enums, tiny_cfg.fx_rates_to_usd)
        boom = F.when(F.col("order_id") % 7 == 3, F.raise_error(F.lit("disk died")))
        return out.withColumn("category", F.coalesce(boom.cast("string"), F.col("category")))

    with pytest.raises(Exception, match="disk died"):
        stage_silver(ctx, ORDERS, fails_on_some_rows)
    assert files_of(root / "silver" / ORDERS) == published


def test_a_write_killed_midway_is_never_published_and_a_rerun_is_identical(spark, tiny_cfg, copy_run,
                                                                            monkeypatch):
    from data_quality import check_all
    from spark_jobs import publish
    root = copy_run() / "data"
    ctx = context_for(spark, root, tiny_cfg, run_id="killed_run", mode=FULL_REFRESH)
    published = files_of(root / "silver" / ORDERS)
    before = read_table(spark, root / "silver" / ORDERS)
    before_rows = before.collect()

    def killed_before_marker(self, df, target, run_id, partition_by=(), replace=None, **extra):
        df.write.mode("overwrite").parquet(self.paths.staged(target, run_id))
        raise KeyboardInterrupt("killed")           # the files are there, the marker is not

    monkeypatch.setattr(TableStore, "write_staged", killed_before_marker)
    with pytest.raises(KeyboardInterrupt):
        orders_job.run(ctx)
    monkeypatch.undo()
    with pytest.raises(BadInputError, match="run killed_run staged nothing to publish"):
        publish.run(ctx)
    assert files_of(root / "silver" / ORDERS) == published
    assert read_table(spark, root / "silver" / ORDERS).count() == len(before_rows)

    orders_job.run(ctx)                             # the rerun replaces the incomplete staged version
    check_all.run(ctx)
    publish.run(ctx)
    after = read_table(spark, root / "silver" / ORDERS)
    assert_df_equality(after, spark.createDataFrame(before_rows, before.schema), ignore_row_order=True)


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


def test_only_jsonl_files_in_date_partitions_are_bronze(spark, tiny_cfg, tmp_path, caplog):
    table = tmp_path / "bronze" / ORDERS
    part = table / "ingest_date=2026-01-01"
    part.mkdir(parents=True)
    (part / "part-00000.jsonl").write_bytes(b'{"order_id": 1}\n<html>\n')
    (part / "notes.txt").write_text("this file is not data\n")
    (table / "backup").mkdir()
    (table / "backup" / "old.jsonl").write_text('{"order_id": 2}\n')
    (part / ".part-00000.jsonl.crc").write_bytes(b"\x00")        # hidden: skipped silently
    result = orders_job.run(context_for(spark, tmp_path, tiny_cfg))
    assert (result.rows_read, result.rows_quarantined) == (2, 2)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("ignored 2 entries that are not Bronze" in w and "backup/" in w
               and "ingest_date=2026-01-01/notes.txt" in w for w in warnings), warnings


def test_a_malformed_partition_date_is_bad_input_naming_the_directory(spark, tiny_cfg, tmp_path):
    for name in ("ingest_date=2026-01-01", "ingest_date=garbage"):
        (tmp_path / "bronze" / ORDERS / name).mkdir(parents=True)
        (tmp_path / "bronze" / ORDERS / name / "part-00000.jsonl").write_text('{"order_id": 1}\n')
    with pytest.raises(BadInputError, match=r"Bronze table orders has .*/bronze/orders/"
                                            r"ingest_date=garbage: not a Bronze partition"):
        orders_job.run(context_for(spark, tmp_path, tiny_cfg))


def test_a_line_of_invalid_utf8_is_quarantined_with_its_exact_bytes(spark, tiny_cfg, tmp_path):
    part = tmp_path / "bronze" / ORDERS / "ingest_date=2026-01-01"
    part.mkdir(parents=True)
    line = (b'{"order_id":1,"user_id":"caf\xe9","order_ts":"2026-01-01T10:00:00Z",'
            b'"updated_at":"2026-01-01T10:00:00Z","price":5,"quantity":1,"total_amount":5,'
            b'"currency":"USD","status":"placed"}')
    (part / "part-00000.jsonl").write_bytes(line + b"\n")
    ctx = context_for(spark, tmp_path, tiny_cfg, run_id="utf8")
    result = orders_job.run(ctx)
    assert result.details["rejects"] == {"malformed_json": 1}
    staged = spark.read.parquet(ctx.paths.staged(ctx.paths.quarantine(ORDERS), "utf8"))
    assert staged.select(F.hex(F.col("raw_record").cast("binary"))).first()[0] == line.hex().upper()
