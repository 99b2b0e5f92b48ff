"""The publish protocol: one commit point per run, deterministic roll-forward after a crash, a gate
that no route around the orchestrator can bypass, and time travel to an earlier run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from chispa import assert_df_equality

import orchestrator
from data_quality import check_all
from data_quality.check_orders import checks as order_checks
from data_quality.cli import check_main
from lakehouse import publish as protocol
from lakehouse.errors import DataQualityError
from lakehouse.tables import TableStore
from spark_jobs import bronze_to_silver_orders as orders_job
from spark_jobs import publish

from conftest import FULL_REFRESH, context_for, files_of, paths_for, read_table

ORDERS_BRONZE_DAY2 = Path("bronze") / "orders" / "ingest_date=2026-01-02" / "part-00000.jsonl"


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


def latest_manifest(log_dir: Path) -> dict:
    return json.loads(max(log_dir.glob("run_*.json"), key=lambda p: p.stat().st_mtime_ns).read_text())


def crash_when_publishing(monkeypatch, table: str) -> None:
    """Kill the publish (deterministically) when it comes to commit `table`."""
    real_write = TableStore.write

    def write(self, df, path, run_id, partition_by=(), replace=None):
        if path.endswith(table):
            raise KeyboardInterrupt("killed while publishing")
        return real_write(self, df, path, run_id, partition_by, replace)

    monkeypatch.setattr(TableStore, "write", write)


def test_an_interrupted_publish_rolls_forward_and_never_mixes_runs(spark, tiny_cfg, copy_run,
                                                                    monkeypatch):
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
    line = (b'{"order_id":990001,"user_id":"u1","order_ts":"2026-01-02T10:00:00Z",'
            b'"updated_at":"2026-01-02T10:00:00Z","price":5,"quantity":1,"total_amount":5,'
            b'"currency":"USD","status":"placed"}\n')
    append_lines(data, line)
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
