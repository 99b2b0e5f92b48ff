"""Daily runs (docs/incremental.md): append-only Bronze, incremental and backfill runs that equal a
full refresh row for row, a published state that only moves with a publish."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import orchestrator
from ingestion.bronze import generate
from lakehouse.contract import BRONZE_TABLES, ORDERS, PAYMENTS, USER_EVENTS
from scripts.compare_data_roots import compare_roots

from conftest import files_of, paths_for, read_table, write_config

DAY1, DAY2, DAY3, DAY4 = "2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"
# the Gold jobs that recompute only what changed when the history is large enough
GOLD_FROM_CHANGES = ("gold_events_daily", "gold_orders_daily", "gold_payments_daily",
                     "gold_user_daily_features")


def test_bronze_grows_one_partition_a_day_and_never_changes_what_is_there(tiny_cfg, tmp_path):
    daily, once = paths_for(tmp_path / "daily", tiny_cfg), paths_for(tmp_path / "once", tiny_cfg)
    import datetime as dt
    generate(tiny_cfg, daily, through=dt.date(2026, 1, 1))
    day1 = files_of(tmp_path / "daily" / "bronze" / ORDERS)
    assert sorted(day1) == [f"ingest_date={DAY1}/part-00000.jsonl"]   # no partition past the range
    generate(tiny_cfg, daily, through=dt.date(2026, 1, 2))
    generate(tiny_cfg, daily)                                         # the configured 3 days
    generate(tiny_cfg, once)
    after = files_of(tmp_path / "daily" / "bronze" / ORDERS)
    assert {k: after[k] for k in day1} == day1                        # day 1 byte-identical
    assert files_of(tmp_path / "daily") == files_of(tmp_path / "once")  # manifest included
    manifest = json.loads((tmp_path / "once" / "bronze" / "_manifest.json").read_text())
    assert manifest["tables"][ORDERS]["through"] == DAY3
    assert sorted(manifest["tables"][ORDERS]["lines_per_partition"]) == [DAY1, DAY2, DAY3]


# Hand-written lines for the cases the contract names, all of user u9000001 on day 2, which the
# first run publishes; day 3 brings: order 990001, placed on day 2 but arriving after its payment;
# the "shipped" version of order 990002, superseding the published "placed" one; event e-late of
# day 2; and e-resent again, byte for byte.
PLACED_A = ('{"order_id":990001,"user_id":"u9000001","order_ts":"2026-01-02T20:00:00Z",'
            '"updated_at":"2026-01-02T20:00:00Z","product_id":"P00001","category":"toys",'
            '"price":"40.00","quantity":2,"total_amount":80.00,"currency":"USD","status":"placed"}')
PAYMENT_A = ('{"payment_id":"pay-990001","order_id":"990001","payment_ts":"2026-01-02T20:05:00Z",'
             '"method":"card","status":"success","amount":80.00,"currency":"USD"}')
PLACED_B = PLACED_A.replace("990001", "990002").replace("T20:00", "T08:00").replace(
    '"price":"40.00","quantity":2,"total_amount":80.00', '"price":"10.00","quantity":1,"total_amount":10.00')
SHIPPED_B = PLACED_B.replace('"updated_at":"2026-01-02T08:00:00Z"', '"updated_at":"2026-01-03T09:00:00Z"'
                             ).replace('"placed"', '"shipped"')
LATE = ('{"event_id":"e-late","user_id":"u9000001","session_id":"s-x","event_type":"view",'
        '"event_ts":"2026-01-02T23:59:00Z","product_id":"P00001","category":"toys","price":40.0,'
        '"device":"mobile","source":"email","ip_address":"10.0.0.1","user_agent":"t"}')
RESENT = LATE.replace("e-late", "e-resent").replace("23:59:00", "10:00:00")
EXTRA = {DAY2: {PAYMENTS: [PAYMENT_A], ORDERS: [PLACED_B], USER_EVENTS: [RESENT]},
         DAY3: {ORDERS: [PLACED_A, SHIPPED_B], USER_EVENTS: [LATE, RESENT]}}


def add_day(tiny_cfg, root: Path, day: str) -> None:
    """Generate Bronze through `day`, then drop the hand-written lines into its partitions."""
    import datetime as dt
    generate(tiny_cfg, paths_for(root, tiny_cfg), through=dt.date.fromisoformat(day))
    for table, lines in EXTRA.get(day, {}).items():
        (root / "bronze" / table / f"ingest_date={day}" / "extra.jsonl").write_text(
            "".join(line + "\n" for line in lines))


def pipeline(root: Path, *flags: str) -> int:
    return orchestrator.main(["--profile", "tiny", "--data-root", str(root / "data"),
                              "--log-dir", str(root / "logs"), "--skip-generate", "--no-report", *flags])


def state(root: Path) -> dict:
    return json.loads((root / "data" / "_publish" / "current.json").read_text())


def step_modes(root: Path) -> dict[str, str]:
    """Each step's mode in the newest run manifest under root/logs."""
    newest = max((root / "logs").glob("run_*.json"), key=lambda p: p.stat().st_mtime_ns)
    return {s["name"]: s["details"].get("mode") for s in json.loads(newest.read_text())["steps"]}


def delta_commits(root: Path) -> dict[str, list[str]]:
    return {str(log.parent.relative_to(root)): sorted(p.name for p in log.glob("*.json"))
            for log in sorted(root.glob("*/*/_delta_log"))}


@pytest.fixture(scope="module")
def daily_runs(spark, tiny_cfg, tmp_path_factory) -> Path:
    """Two days published by a first run, the third by an incremental one (which first fails its
    gate), then a backfill of a replaced file."""
    root = tmp_path_factory.mktemp("daily")
    data = root / "data"
    for day in (DAY1, DAY2):
        add_day(tiny_cfg, data, day)
    assert pipeline(root) == 0
    # day 3 arrives with a junk file: the gate fails, nothing is published, the state stays
    before, commits = state(root), delta_commits(data)
    add_day(tiny_cfg, data, DAY3)
    junk = data / "bronze" / PAYMENTS / f"ingest_date={DAY3}" / "junk.jsonl"
    junk.write_text("not json\n" * 500)                 # reject rate far over dq.max_reject_rate
    assert pipeline(root) == 3
    assert (state(root), delta_commits(data)) == (before, commits)
    junk.unlink()                                       # fixed before it was ever published
    assert pipeline(root) == 0                          # the next run catches up
    # the tiny profile sets incremental.gold_in_full_below_lines to 0: Gold from what changed
    modes = step_modes(root)
    assert {s: modes[s] for s in GOLD_FROM_CHANGES} == dict.fromkeys(GOLD_FROM_CHANGES, "incremental")
    # day 2's orders file is replaced by a corrected one: a line dropped, one re-sent again
    part = data / "bronze" / ORDERS / f"ingest_date={DAY2}" / "part-00000.jsonl"
    lines = part.read_bytes().splitlines(keepends=True)
    part.write_bytes(b"".join(lines[1:] + lines[2:3]))
    assert pipeline(root) == 5                           # changed without --backfill: refused
    assert pipeline(root, "--backfill", DAY2) == 0
    return root


def test_daily_runs_and_a_backfill_equal_a_full_refresh(daily_runs, spark, tmp_path):
    full = tmp_path / "full"
    shutil.copytree(daily_runs / "data" / "bronze", full / "data" / "bronze")
    assert pipeline(full, "--full-refresh") == 0
    differences = compare_roots(spark, str(daily_runs / "data"), str(full / "data"))
    assert differences == {}
    published = state(daily_runs)["ingest"]
    assert {t: sorted(published[t]) for t in BRONZE_TABLES} == {t: [DAY1, DAY2, DAY3] for t in BRONZE_TABLES}


def test_the_named_cases_land_where_a_full_refresh_puts_them(daily_runs, spark):
    data = daily_runs / "data"
    orders = read_table(spark, data / "silver" / ORDERS).where("order_id >= 990001").collect()
    assert sorted((r.order_id, r.status, str(r.order_date)) for r in orders) == [
        (990001, "placed", DAY2), (990002, "shipped", DAY2)]
    quarantine = {(r.raw_record, r.reject_reason)
                  for r in read_table(spark, data / "quarantine" / ORDERS).collect()}
    assert (PLACED_B, "duplicate") in quarantine        # the superseded published version
    events = read_table(spark, data / "quarantine" / USER_EVENTS).where(
        "raw_record = '" + RESENT + "'").collect()
    assert [r.reject_reason for r in events] == ["duplicate"]   # one copy published, one not
    feature = read_table(spark, data / "gold" / "user_daily_features").where(
        f"user_id = 'u9000001' AND date = '{DAY2}'").first()
    # day 2: two views (the late one, and the re-send counted once), two orders placed, and the
    # payment of the order that arrived after it
    assert (feature.views, feature.orders, feature.payment_attempts, str(feature.spend_usd)) == (
        2, 2, 1, "90.00")


def test_a_small_history_recomputes_gold_in_full_with_the_same_rows(daily_runs, spark, tiny_cfg,
                                                                  tmp_path):
    """Below incremental.gold_in_full_below_lines Bronze lines an incremental run recomputes Gold
    in full, counting a source it did not touch (payments: nothing new) at its published lines."""
    root = tmp_path / "small"
    shutil.copytree(daily_runs / "data", root / "data")
    (root / "data" / ".pipeline.lock").unlink(missing_ok=True)
    add_day(tiny_cfg, root / "data", DAY4)
    shutil.rmtree(root / "data" / "bronze" / PAYMENTS / f"ingest_date={DAY4}")
    config = write_config(tmp_path, lambda d: d["profiles"]["tiny"].update(
        incremental={"gold_in_full_below_lines": 1_000_000}))
    assert pipeline(root, "--config", str(config)) == 0
    modes = step_modes(root)
    assert ({s: modes[s] for s in ("silver_orders", "silver_user_events", *GOLD_FROM_CHANGES)}
            == {"silver_orders": "incremental", "silver_user_events": "incremental",
                **dict.fromkeys(GOLD_FROM_CHANGES, "full")})
    full = tmp_path / "full"
    shutil.copytree(root / "data" / "bronze", full / "data" / "bronze")
    assert pipeline(full, "--full-refresh") == 0
    assert compare_roots(spark, str(root / "data"), str(full / "data")) == {}


def test_nothing_new_changes_nothing(daily_runs, capsys):
    before = state(daily_runs)
    assert pipeline(daily_runs) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert state(daily_runs) == before


def test_a_vanished_published_partition_stops_the_run(daily_runs, tmp_path, capsys):
    root = tmp_path / "copy"
    shutil.copytree(daily_runs, root)
    (root / "data" / ".pipeline.lock").unlink(missing_ok=True)
    shutil.rmtree(root / "data" / "bronze" / PAYMENTS / f"ingest_date={DAY1}")
    assert pipeline(root) == 5
    err = capsys.readouterr().err
    assert f"published ingest partition(s) {DAY1} are gone" in err
    assert f"--backfill {DAY1}..{DAY1}" in err


def test_every_quarantined_row_points_at_a_file_holding_its_line(daily_runs, spark):
    for table in BRONZE_TABLES:
        rows = read_table(spark, daily_runs / "data" / "quarantine" / table).collect()
        assert rows
        for r in rows:
            lines = Path(r.source_file.removeprefix("file:")).read_bytes().decode(
                "utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n").split("\n")
            assert r.raw_record in lines and r.source_file.endswith(".jsonl")
            assert f"ingest_date={r.ingest_date}/" in r.source_file
