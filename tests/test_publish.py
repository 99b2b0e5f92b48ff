"""The publish protocol: one commit point per run, deterministic roll-forward after a crash, a gate
that no route around the orchestrator can bypass, and time travel to an earlier run."""
from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

import orchestrator
from data_quality import check_all
from data_quality.check_orders import checks as order_checks
from data_quality.cli import check_main
from lakehouse import delta
from lakehouse import publish as protocol
from lakehouse.errors import BadInputError, DataQualityError
from lakehouse.storage import Storage
from lakehouse.tables import TableStore
from spark_jobs import bronze_to_silver_orders as orders_job
from spark_jobs import publish

from conftest import FULL_REFRESH, context_for, files_of, paths_for, read_table

ORDERS_BRONZE_DAY2 = Path("bronze") / "orders" / "ingest_date=2026-01-02" / "part-00000.jsonl"
NEW_ORDER_LINE = (b'{"order_id":990001,"user_id":"u1","order_ts":"2026-01-02T10:00:00Z",'
                  b'"updated_at":"2026-01-02T10:00:00Z","price":5,"quantity":1,"total_amount":5,'
                  b'"currency":"USD","status":"placed"}\n')


def append_lines(data: Path, lines: bytes) -> None:
    part = data / ORDERS_BRONZE_DAY2
    part.write_bytes(part.read_bytes() + lines)


def published_trees(data: Path) -> dict:
    """Every published table's files, and the commit point (run records may grow: a failed
    run records its gate verdicts)."""
    trees = {layer: files_of(data / layer) for layer in ("silver", "quarantine", "gold")}
    return {**trees, "current": (data / "_publish" / "current.json").read_bytes()}


def run(root: Path, *args: str) -> int:
    return orchestrator.main(["--profile", "tiny", "--data-root", str(root / "data"),
                              "--log-dir", str(root / "logs"), "--no-report", *args])


def publish_staged(spark, store: TableStore, table: str, rows, ddl: str, run_id: str,
                   replace: dict | None = None) -> int:
    """Stage `rows` as run `run_id`'s version of `table` (partitioned by date) and commit it."""
    store.write_staged(spark.createDataFrame(rows, ddl), table, run_id, ("date",), replace)
    return store.commit_staged(table, run_id, store.staged_files(table, run_id),
                               store.staged_info(table, run_id)["schema"], ("date",), replace)


def rows_of(df) -> list[tuple]:
    return sorted(tuple(r) for r in df.collect())


def latest_manifest(log_dir: Path) -> dict:
    return json.loads(max(log_dir.glob("run_*.json"), key=lambda p: p.stat().st_mtime_ns).read_text())


def crash_when_publishing(monkeypatch, table: str) -> None:
    """Kill the publish (deterministically) when it comes to commit `table`."""
    real_commit = TableStore.commit_staged

    def commit_staged(self, published, run_id, *args):
        if published.endswith(table):
            raise KeyboardInterrupt("killed while publishing")
        return real_commit(self, published, run_id, *args)

    monkeypatch.setattr(TableStore, "commit_staged", commit_staged)


@pytest.mark.parametrize("planned_by_a_rewriting_publish", [False, True])
def test_an_interrupted_publish_rolls_forward_and_never_mixes_runs(spark, tiny_cfg, copy_run,
                                                                    monkeypatch,
                                                                    planned_by_a_rewriting_publish):
    data = copy_run() / "data"
    ctx = context_for(spark, data, tiny_cfg, run_id="run_two", mode=FULL_REFRESH)
    store = TableStore(spark, ctx.paths)
    quarantine_before = read_table(spark, data / "quarantine" / "orders").count()
    current_before = (data / "_publish" / "current.json").read_bytes()
    append_lines(data, b"<not json>\n")                         # one more reject
    orders_job.run(ctx)
    check_all.run(ctx)

    crash_when_publishing(monkeypatch, "quarantine/orders")
    with pytest.raises(KeyboardInterrupt):
        publish.run(ctx)
    monkeypatch.undo()
    # the commit point did not move: readers see the previous run, whole, and no table is missing
    assert (data / "_publish" / "current.json").read_bytes() == current_before
    assert protocol.open_table(store, ctx.paths.quarantine("orders")).count() == quarantine_before
    for layer, table in (("silver", "orders"), ("quarantine", "orders"), ("gold", "orders_daily")):
        assert read_table(spark, data / layer / table).count() > 0
    record = json.loads((data / "_publish" / "runs" / "run_two.json").read_text())
    assert record["publish"]["state"] == "committing"
    assert sorted(record["publish"]["tables"]) == ["lineage/orders", "quarantine/orders", "silver/orders"]
    if planned_by_a_rewriting_publish:     # the plan an earlier version wrote: no files in it
        for entry in record["publish"]["tables"].values():
            del entry["files"], entry["schema"]
        (data / "_publish" / "runs" / "run_two.json").write_text(json.dumps(record))

    protocol._recovered.discard(ctx.paths.root)                 # a new process
    protocol.recover(store)
    current = json.loads((data / "_publish" / "current.json").read_text())
    assert current["run_id"] == "run_two"
    assert protocol.open_table(store, ctx.paths.quarantine("orders")).count() == quarantine_before + 1
    for rel in ("silver/orders", "lineage/orders", "quarantine/orders"):   # committed exactly once
        version = store.version_committed_by(str(data / rel), "run_two")
        assert version == store.latest_version(str(data / rel)) == current["tables"][rel]
    assert not (data / "_staging").exists()
    protocol._recovered.discard(ctx.paths.root)
    protocol.recover(store)                                     # nothing left to do: no new commit
    assert json.loads((data / "_publish" / "current.json").read_text()) == current


def test_a_publish_killed_while_moving_files_rolls_forward_without_rewriting_them(
        spark, tiny_cfg, copy_run, monkeypatch):
    data = copy_run() / "data"
    ctx = context_for(spark, data, tiny_cfg, run_id="run_two", mode=FULL_REFRESH)
    store = TableStore(spark, ctx.paths)
    before = read_table(spark, data / "silver" / "orders").collect()
    append_lines(data, NEW_ORDER_LINE)
    orders_job.run(ctx)
    check_all.run(ctx)
    staged = [f["path"] for f in store.staged_files(ctx.paths.silver("orders"), "run_two")]
    assert len(staged) == 3 and all(p.startswith("order_date=2026-01-0") for p in staged)

    real_move, moved = Storage.move, []

    def move(self, source, target):
        if "/silver/orders/" in target and any("/silver/orders/" in m for m in moved):
            raise KeyboardInterrupt("killed while moving files")
        real_move(self, source, target)
        moved.append(target)

    monkeypatch.setattr(Storage, "move", move)
    with pytest.raises(KeyboardInterrupt):
        publish.run(ctx)
    monkeypatch.undo()
    # one file is in the table's directory already, but uncommitted: readers see the old version
    assert sum("/silver/orders/" in m for m in moved) == 1
    assert sorted(read_table(spark, data / "silver" / "orders").collect()) == sorted(before)

    protocol._recovered.discard(ctx.paths.root)                 # a new process
    protocol.recover(store)
    after = read_table(spark, data / "silver" / "orders")
    assert after.count() == len(before) + 1
    assert after.filter("order_id = 990001").count() == 1
    # the very files staged were committed, none rewritten
    version = store.version_committed_by(str(data / "silver" / "orders"), "run_two")
    adds = sorted(a["add"]["path"] for a in store._actions(str(data / "silver" / "orders"), version)
                  if "add" in a)
    assert adds == sorted(staged)
    assert all((data / "silver" / "orders" / p).is_file() for p in staged)


def test_the_gate_cannot_be_bypassed(spark, tiny_cfg, copy_run, capsys):
    root = copy_run()
    data = root / "data"
    append_lines(data, b"<garbage>\n" * 200)
    published = published_trees(data)
    assert run(root, "--skip-generate", "--full-refresh") == 3
    failed = latest_manifest(root / "logs")["run_id"]

    assert run(root, "--from-step", "publish") == 1             # a new run staged nothing
    assert "staged nothing to publish" in capsys.readouterr().err
    assert run(root, "--resume", failed) == 3                   # the gate runs again, and fails
    ctx = context_for(spark, data, tiny_cfg, run_id=failed, mode=FULL_REFRESH)
    with pytest.raises(DataQualityError, match="(silver|lineage|quarantine)/orders staged by run .* failed the data-quality gate"):
        publish.run(ctx)
    args = ["--profile", "tiny", "--data-root", str(data), "--run-id", failed, "--publish"]
    assert check_main("orders", order_checks, args) == 3        # the standalone script gates too
    assert published_trees(data) == published


def test_a_table_reads_as_of_the_previous_run_until_vacuumed(spark, tiny_cfg, copy_run):
    root = copy_run()
    data = root / "data"
    first_run = json.loads((data / "_publish" / "current.json").read_text())["run_id"]
    before = read_table(spark, data / "gold" / "orders_daily").collect()
    append_lines(data, NEW_ORDER_LINE)
    assert run(root, "--only", "silver_orders", "dq_checks", "gold_orders_daily", "publish",
               "--full-refresh") == 0
    store = TableStore(spark, paths_for(data, tiny_cfg))
    now = {r["date"].isoformat(): r["orders"] for r in read_table(spark, data / "gold" / "orders_daily").collect()}
    then = protocol.open_table(store, store.paths.gold("orders_daily"), as_of_run=first_run)
    assert_df_equality(then, spark.createDataFrame(before, then.schema), ignore_row_order=True)
    was = {r["date"].isoformat(): r["orders"] for r in before}
    assert now["2026-01-02"] == was["2026-01-02"] + 1 and now["2026-01-01"] == was["2026-01-01"]

    # VACUUM drops the files only old versions need: the current version stays readable
    vacuum = load_script("vacuum_tables")
    assert vacuum.vacuum_all(store, retain_hours=0, only=["gold/orders_daily"]) == ["gold/orders_daily"]
    assert {r["date"].isoformat(): r["orders"]
            for r in protocol.open_table(store, store.paths.gold("orders_daily")).collect()} == now
    # (collect, not count: Delta answers a count from its log without reading the files)
    with pytest.raises(Exception, match="(?i)file|not exist|vacuum"):   # the old one's files are gone
        protocol.open_table(store, store.paths.gold("orders_daily"), as_of_run=first_run).collect()


def load_script(name: str):
    import importlib.util
    from conftest import REPO
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_later_run_completes_an_interrupted_publish_then_publishes_its_own(spark, tiny_cfg, copy_run,
                                                                             monkeypatch):
    data = copy_run() / "data"
    first, second = (context_for(spark, data, tiny_cfg, run_id=r, mode=FULL_REFRESH)
                     for r in ("run_a", "run_b"))
    store = TableStore(spark, first.paths)
    orders_job.run(first)
    check_all.run(first)
    crash_when_publishing(monkeypatch, "quarantine/orders")
    with pytest.raises(KeyboardInterrupt):
        publish.run(first)
    monkeypatch.undo()
    protocol._recovered.discard(first.paths.root)              # the next run is a new process
    append_lines(data, b"<not json>\n")
    orders_job.run(second)
    check_all.run(second)
    publish.run(second)                                         # completes run_a first, then run_b
    records = {r: json.loads((data / "_publish" / "runs" / f"{r}.json").read_text())
               for r in ("run_a", "run_b")}
    assert [records[r]["publish"]["state"] for r in ("run_a", "run_b")] == ["committed", "committed"]
    assert json.loads((data / "_publish" / "current.json").read_text())["run_id"] == "run_b"
    assert store.latest_version(str(data / "quarantine" / "orders")) == \
        records["run_b"]["snapshot"]["quarantine/orders"] == records["run_a"]["snapshot"]["quarantine/orders"] + 1


def test_a_version_changed_after_its_gate_or_overtaken_by_a_later_publish_is_refused(
        spark, tiny_cfg, copy_run):
    data = copy_run() / "data"
    old, new = (context_for(spark, data, tiny_cfg, run_id=r, mode=FULL_REFRESH)
                for r in ("old_run", "new_run"))
    orders_job.run(old)
    check_all.run(old)
    orders_job.run(old)                                         # a new staged version, unchecked
    with pytest.raises(DataQualityError, match="changed after the gate checked it"):
        publish.run(old)
    check_all.run(old)
    orders_job.run(new)
    check_all.run(new)
    publish.run(new)
    with pytest.raises(Exception, match="run old_run was overtaken: run new_run published after"):
        publish.run(old)


def test_published_files_carry_no_column_statistics(tiny_run):
    """The publish commits the staged files as they are, without per-file min/max statistics:
    every table is partitioned by date with one file per partition (or is tiny), so they could
    skip nothing a partition filter does not (and computing them cost the default profile's
    publish 4.6 s)."""
    data = tiny_run / "data"
    adds = {}
    for table in ("silver/user_events", "lineage/orders", "quarantine/payments", "gold/user_daily_features"):
        for commit in sorted((data / table / "_delta_log").glob("*.json")):
            for line in commit.read_text().splitlines():
                action = json.loads(line)
                if "add" in action:
                    adds.setdefault(table, []).append(action["add"])
    assert sorted(adds) == ["gold/user_daily_features", "lineage/orders", "quarantine/payments",
                            "silver/user_events"]
    assert len(adds["silver/user_events"]) == 3          # one file per event date of the tiny run
    assert [a for files in adds.values() for a in files if a.get("stats")] == []


def test_a_staged_version_is_committed_as_a_delta_write_would(spark, tiny_cfg, tmp_path):
    """Overwrite (schema may change), partition replace, append: each one Delta commit of the
    staged files, tagged with its run; a file outside the replaced partitions is refused."""
    store = TableStore(spark, paths_for(tmp_path / "data", tiny_cfg))
    table = store.paths.gold("scratch")
    d1, d2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)

    def publish(rows, ddl, run_id, replace=None):
        return publish_staged(spark, store, table, rows, ddl, run_id, replace)

    def content():
        return rows_of(read_table(spark, table))

    assert publish([(d1, 1), (d2, 2)], "date date, n int", "r1") == 0
    assert read_table(spark, table).columns == ["n", "date"]          # partition column last
    assert content() == [(1, d1), (2, d2)]
    assert publish([(d2, 20)], "date date, n int", "r2",
                   {"column": "date", "values": ["2026-01-02"]}) == 1
    assert content() == [(1, d1), (20, d2)]
    assert publish([(d1, 5)], "date date, n int", "r3", {"append": True}) == 2
    assert content() == [(1, d1), (5, d1), (20, d2)]
    with pytest.raises(BadInputError, match="lies outside the date values"):
        publish([(d1, 9)], "date date, n int", "r4", {"column": "date", "values": ["2026-01-02"]})
    assert store.latest_version(table) == 2 and content() == [(1, d1), (5, d1), (20, d2)]
    assert publish([(d1, "x")], "date date, s string", "r5") == 3     # a new schema
    assert read_table(spark, table).columns == ["s", "date"] and content() == [("x", d1)]
    with pytest.raises(BadInputError, match="a partial version cannot change it"):
        publish([(d1, 1)], "date date, n int", "r6", {"column": "date", "values": ["2026-01-01"]})
    # a refused version is refused before any of its files moves into the table
    assert [len(store.staged_files(table, r)) for r in ("r4", "r6")] == [1, 1]
    assert [store.version_committed_by(table, r) for r in ("r1", "r2", "r3", "r4", "r5")] == [0, 1, 2, None, 3]


def test_commits_and_storage_calls_name_jvm_classes_without_package_lookups(spark, tiny_cfg, tmp_path,
                                                                         monkeypatch):
    """py4j's attribute path (jvm.org.apache.hadoop.fs.Path) asks the JVM for a class named after
    each package on the way, a failed search of the whole classpath (1-3 ms) each time; the
    publish's many small calls name their classes whole (`storage.java_class`)."""
    import py4j.java_gateway as gateway
    store = TableStore(spark, paths_for(tmp_path / "data", tiny_cfg))
    table = store.paths.gold("scratch")
    d1 = dt.date(2026, 1, 1)
    store.write_staged(spark.createDataFrame([(d1, 1)], "date date, n int"), table, "r1", ("date",))
    store.write_staged(spark.createDataFrame([(d1, 2)], "date date, n int"), table, "r2", ("date",),
                       {"column": "date", "values": ["2026-01-01"], "base_version": 0})
    looked_up = []
    for kind in (gateway.JavaPackage, gateway.JVMView):
        original = kind.__getattr__

        def counting(self, name, original=original):
            found = original(self, name)
            if isinstance(found, gateway.JavaPackage):
                looked_up.append(f"{getattr(self, '_fqn', 'jvm')}.{name}")
            return found
        monkeypatch.setattr(kind, "__getattr__", counting)
    storage = Storage(spark)
    for run_id in ("r1", "r2"):
        info = store.staged_info(table, run_id)
        store.commit_staged(table, run_id, store.staged_files(table, run_id), info["schema"], ("date",),
                            info.get("replace"))
    storage.write_text(f"file://{tmp_path}/note.txt", "a\nb")
    assert storage.read_text(f"file://{tmp_path}/note.txt") == "a\nb"
    assert storage.exists(table) and storage.status(f"{table}/_delta_log/00000000000000000001.json")
    assert [name for name, _ in storage.list_status(table)] == ["_delta_log", "date=2026-01-01"]
    assert rows_of(read_table(spark, table)) == [(2, d1)]
    assert looked_up == []


def test_staged_files_are_listed_alike_through_hadoop_and_the_os(spark, tmp_path, monkeypatch):
    """The publish plans a staged version's files from this listing: through the OS for a local
    root, through Hadoop's FileSystem elsewhere (HDFS, S3); hidden files are never data."""
    staged = tmp_path / "staged"
    for name in ("event_date=2026-01-01/part-00000-a.parquet", "event_date=2026-01-01/.part-00000-a.parquet.crc",
                 "event_date=2026-01-02/part-00001-a.parquet", "_STAGED", "_SUCCESS", "_tmp/part-9.parquet"):
        (staged / name).parent.mkdir(parents=True, exist_ok=True)
        (staged / name).write_bytes(b"x" * len(name))
    storage = Storage(spark)
    by_os = storage.list_tree(str(staged))
    monkeypatch.setattr("lakehouse.storage.is_local", lambda uri: False)
    by_hadoop = storage.list_tree(f"file://{staged}")
    assert [(rel, size) for rel, size, _ in by_os] == [
        ("event_date=2026-01-01/part-00000-a.parquet", 42), ("event_date=2026-01-02/part-00001-a.parquet", 42)]
    assert by_hadoop == by_os


def test_a_version_is_listed_once_then_read_without_listing_jobs(spark, tiny_cfg, tmp_path):
    """A published version never changes: its file list is read from the log once, and every
    later read plans over it (partition filters included) with no Delta listing job. A table
    deleted and created again at the same path is read afresh, not from the earlier list."""
    store = TableStore(spark, paths_for(tmp_path / "data", tiny_cfg))
    table = store.paths.gold("scratch")
    d1, d2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)

    def jobs_of(df, group: str) -> tuple[list, int]:
        """The rows of `df` and the number of Spark jobs reading them ran."""
        spark.sparkContext.setJobGroup(group, group)
        try:
            rows = rows_of(df)
        finally:
            spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
        return rows, len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))

    assert publish_staged(spark, store, table, [(d1, 1), (d2, 2)], "date date, n int", "r1") == 0
    assert rows_of(store.read_version(table, 0)) == [(1, d1), (2, d2)]
    # read again: one job, the scan itself (a Delta scan used to list the version's files first)
    again = store.read_version(table, 0)
    assert jobs_of(again.filter(F.col("date") == d2), "pruned") == ([(2, d2)], 1)
    assert jobs_of(again, "whole") == ([(1, d1), (2, d2)], 1)
    shutil.rmtree(tmp_path / "data" / "gold" / "scratch")
    assert publish_staged(spark, store, table, [(d1, 7)], "date date, n int", "r2") == 0
    assert rows_of(store.read_version(table, 0)) == [(7, d1)]


def test_a_version_is_listed_from_its_checksum_without_a_job_or_rebuilt_without_one(spark, tiny_cfg,
                                                                                   tmp_path):
    """The file list of a version whose checksum file holds it is read from there (no Spark
    job); a version without a checksum (lost in a crash after its commit) is rebuilt from the log."""
    store = TableStore(spark, paths_for(tmp_path / "data", tiny_cfg))
    d1, d2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)

    def listing_jobs(table: str, version: int) -> tuple[list[str], int]:
        spark.sparkContext.setJobGroup("listing", "listing")
        try:
            files = delta.version_files(spark, table, version)[2]
        finally:
            spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
        jobs = len(spark.sparkContext.statusTracker().getJobIdsForGroup("listing"))
        spark.sparkContext.cancelJobGroup("listing")
        return sorted(files.apply(i).path().split("/")[0] for i in range(files.size())), jobs

    with_checksum, without = store.paths.gold("scratch_a"), store.paths.gold("scratch_b")
    for table in (with_checksum, without):
        assert publish_staged(spark, store, table, [(d1, 1), (d2, 2)], "date date, n int", "r1") == 0
    (tmp_path / "data" / "gold" / "scratch_b" / "_delta_log" / f"{0:020d}.crc").unlink()
    spark.sparkContext._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()   # as a new session
    assert listing_jobs(with_checksum, 0) == (["date=2026-01-01", "date=2026-01-02"], 0)
    files, jobs = listing_jobs(without, 0)
    assert files == ["date=2026-01-01", "date=2026-01-02"] and jobs > 0
    assert rows_of(store.read_version(without, 0)) == [(1, d1), (2, d2)]


def test_a_commit_overtaken_by_another_writer_is_refused(spark, tiny_cfg, tmp_path):
    """The publish reads the whole table it replaces files of (for Delta's conflict checks): a
    commit by another writer after its transaction started makes it fail, nothing lost."""
    store = TableStore(spark, paths_for(tmp_path / "data", tiny_cfg))
    table = store.paths.gold("scratch")
    d1, d2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
    assert publish_staged(spark, store, table, [(d1, 1), (d2, 2)], "date date, n int", "r1") == 0
    replace = {"column": "date", "values": ["2026-01-02"]}
    store.write_staged(spark.createDataFrame([(d2, 20)], "date date, n int"), table, "r2", ("date",), replace)
    txn = delta.start_commit(spark, table, store.staged_info(table, "r2")["schema"], ("date",), replace)
    assert publish_staged(spark, store, table, [(d1, 5)], "date date, n int", "r3", {"append": True}) == 1
    adds = delta.add_actions(store.staged_files(table, "r2"), ("date",))
    with pytest.raises(Exception, match="(?i)concurrent"):   # Delta's ConcurrentAppendException
        delta.finish_commit(spark, table, txn, "r2", adds, ("date",), replace)
    assert store.latest_version(table) == 1
    assert rows_of(read_table(spark, table)) == [(1, d1), (2, d2), (5, d1)]
