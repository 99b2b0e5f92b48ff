"""Data-quality engine: each check kind fails on crafted bad rows and passes on good ones;
end to end, a failed gate publishes nothing."""
from __future__ import annotations

import datetime as dt
import json

import pytest

import orchestrator
from data_quality.engine import WARN, Check, TableData, evaluate
from data_quality.suite import SUITE

from conftest import files_of, read_table, report_of

DAY1, DAY2, DAY3 = dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 3)
SCHEMA = "id string, status string, amount int, d date"


def run(spark, rows, check, **data):
    df = spark.createDataFrame(rows, SCHEMA)
    (result,) = evaluate(TableData(table="t", rows=df, date_column="d", **data), [check])
    return result


GOOD = [("a", "ok", 1, DAY1), ("b", "ok", 2, DAY2)]


@pytest.mark.parametrize("check, bad_rows, observed", [
    (Check("id_not_null", "not_null", column="id"),
     [("a", "ok", 1, DAY1), (None, "ok", 2, DAY1)], "1 failing rows"),
    (Check("id_unique", "unique", column="id"),
     [("a", "ok", 1, DAY1), ("a", "ok", 2, DAY1), (None, "ok", 3, DAY1), (None, "ok", 3, DAY1)],
     "1 duplicate values"),
    (Check("status_accepted", "accepted_values", column="status", values=("ok",)),
     [("a", "ok", 1, DAY1), ("b", None, 1, DAY1), ("c", "bad", 1, DAY1)], "2 failing rows"),
    (Check("status_accepted_or_null", "accepted_values", column="status", values=("ok",), allow_null=True),
     [("a", None, 1, DAY1), ("c", "bad", 1, DAY1)], "1 failing rows"),
    (Check("amount_positive", "predicate", expression="amount > 0"),
     [("a", "ok", 1, DAY1), ("b", "ok", 0, DAY1), ("c", "ok", None, DAY1)], "2 failing rows"),
])
def test_row_checks_fail_on_bad_rows_and_pass_on_good(spark, check, bad_rows, observed):
    bad = run(spark, bad_rows, check)
    assert (bad.passed, bad.observed, bad.blocking) == (False, observed, True)
    good = run(spark, GOOD, check)
    assert good.passed and not good.blocking


def test_accepted_values_allow_null_only_when_asked(spark):
    rows = [("a", None, 1, DAY1)]
    assert not run(spark, rows, Check("s", "accepted_values", column="status", values=("ok",))).passed
    assert run(spark, rows, Check("s", "accepted_values", column="status", values=("ok",), allow_null=True)).passed


def test_conservation(spark):
    check = Check("row_conservation", "conservation")
    bad = run(spark, GOOD, check, bronze_lines=5, quarantine_counts={"malformed_json": 2})
    assert (bad.passed, bad.observed, bad.expected) == (False, "silver 2 + quarantine 2 = 4", "bronze lines 5")
    assert run(spark, GOOD, check, bronze_lines=4, quarantine_counts={"malformed_json": 2}).passed


def test_reject_rate_ignores_duplicates(spark):
    check = Check("reject_rate", "reject_rate", threshold=0.25)
    counts = {"malformed_json": 2, "invalid_price": 1, "duplicate": 50}
    bad = run(spark, GOOD, check, bronze_lines=10, quarantine_counts=counts)
    assert (bad.passed, bad.observed) == (False, "0.3000 (3/10)")
    assert run(spark, GOOD, check, bronze_lines=12, quarantine_counts=counts).passed   # 3/12 = 0.25


def test_referential_integrity_is_a_warning(spark):
    check = Check("order_exists", "referential", WARN, column="amount", reference="orders",
                  reference_column="order_id")
    orders = spark.createDataFrame([(1,), (2,)], "order_id int")
    bad = run(spark, [("a", "ok", 1, DAY1), ("b", "ok", 3, DAY1), ("c", "ok", None, DAY1)], check,
              references={"orders": orders})
    assert (bad.passed, bad.observed, bad.blocking) == (False, "1 rows without a match", False)
    assert run(spark, GOOD, check, references={"orders": orders}).passed
    assert not run(spark, GOOD, check, references={"orders": None}).passed


def test_date_completeness_and_daily_volume(spark):
    dates = (DAY1, DAY2, DAY3)
    complete = Check("dates_complete", "date_completeness", WARN)
    volume = Check("daily_volume", "daily_volume", WARN, threshold=0.5)
    rows = [("a", "ok", 1, DAY1)] * 10 + [("b", "ok", 1, DAY3)] * 4
    missing = run(spark, rows, complete, expected_dates=dates)
    assert (missing.passed, missing.observed) == (False, "missing 2026-01-02")
    off = run(spark, rows, volume, expected_dates=dates)      # counts 10, 0, 4: median 4
    assert (off.passed, off.observed) == (False, "off: 2026-01-01=10, 2026-01-02=0")
    even = [("a", "ok", 1, d) for d in dates for _ in range(10)] + [("b", "ok", 1, DAY2)] * 4
    assert run(spark, even, complete, expected_dates=dates).passed
    assert run(spark, even, volume, expected_dates=dates).passed   # 10, 14, 10: within 50%


def test_an_incremental_days_volume_is_judged_against_the_history(spark):
    volume = Check("daily_volume", "daily_volume", WARN, threshold=0.5)
    rows = [("a", "ok", 1, DAY1)] * 10 + [("b", "ok", 1, DAY2)] * 12 + [("c", "ok", 1, DAY3)] * 3
    alone = run(spark, rows, volume, expected_dates=(DAY3,))       # its own median: itself
    assert (alone.passed, alone.observed) == (True, "median 3, all days within")
    judged = run(spark, rows, volume, expected_dates=(DAY3,), history_dates=(DAY1, DAY2, DAY3))
    assert (judged.passed, judged.observed, judged.expected) == (
        False, "off: 2026-01-03=3", "within 50% of the median 10")


def test_an_unknown_kind_or_severity_is_refused():
    with pytest.raises(ValueError, match="unknown kind 'fuzzy'"):
        Check("x", "fuzzy")
    with pytest.raises(ValueError, match="severity must be 'error' or 'warn'"):
        Check("x", "not_null", severity="fatal", column="id")


def test_a_failed_gate_publishes_nothing_and_is_recorded(spark, tiny_cfg, copy_run, capsys):
    root = copy_run()
    data = root / "data"
    published = {layer: files_of(data / layer) for layer in ("silver", "quarantine", "gold")}
    runs_before = spark.read.parquet(str(data / "dq" / "results")).select("run_id").distinct().count()
    part = data / "bronze" / "orders" / "ingest_date=2026-01-02" / "part-00000.jsonl"
    part.write_bytes(part.read_bytes() + b"<garbage>\n" * 200)       # 200 malformed lines

    code = orchestrator.main(["--profile", "tiny", "--data-root", str(data), "--log-dir",
                              str(root / "logs"), "--skip-generate", "--full-refresh"])
    out = capsys.readouterr()
    assert code == 3
    assert "dq_checks ... FAILED" in out.out
    assert "orders.reject_rate: observed 0.5980 (244/408)" in out.err and "expected <= 0.3" in out.err
    for layer, files in published.items():
        assert files_of(data / layer) == files, f"{layer} changed"

    history = spark.read.parquet(str(data / "dq" / "results"))
    assert history.select("run_id").distinct().count() == runs_before + 1
    manifest = json.loads(max((root / "logs").glob("run_*.json"), key=lambda p: p.stat().st_mtime).read_text())
    statuses = {s["name"]: s["status"] for s in manifest["steps"]}
    assert statuses["dq_checks"] == "failed" and statuses["publish"] == "skipped"
    assert statuses["gold_user_daily_features"] == "skipped"
    report = (data / "dq" / "reports" / f"{manifest['run_id']}.md").read_text()
    n_checks = sum(len(checks(tiny_cfg)) for checks in SUITE.values())
    assert report.count("\n| ") == n_checks + 1                     # header + one row per check
    assert "Gate: **FAILED: nothing published**" in report
    assert "| orders | reject_rate | reject_rate | error | **FAIL** |" in report
    # the run report says what failed and that nothing was published
    _, html, shown = report_of(root)
    assert "The data-quality gate failed. Nothing was published by this run." in html
    assert f'<a href="../dq/reports/{manifest["run_id"]}.md">data-quality report (Markdown)</a>' in html
    assert (data / "reports" / "latest.html").read_text(encoding="utf-8") == html
    assert shown["published"]["by_this_run"] is False and shown["published"]["run_id"] != manifest["run_id"]
    first = shown["dq"]["checks"][0]
    assert (first["table"], first["check"], first["passed"], first["observed"]) == (
        "orders", "reject_rate", False, "0.5980 (244/408)")
    # the quarantine shown is the one the gate checked (with the 200 lines), not the published one
    assert shown["dq"]["quarantine"]["orders"]["source"] == "staged by this run, not published"
    assert shown["dq"]["quarantine"]["orders"]["reasons"]["malformed_json"] == 7 + 200


def test_check_script_gates_and_publishes_one_table(spark, tiny_cfg, copy_run, capsys):
    from data_quality import check_orders
    from data_quality.cli import check_main
    from spark_jobs import bronze_to_silver_orders
    from conftest import context_for
    from lakehouse.steps import RunMode
    root = copy_run() / "data"
    args = ["--profile", "tiny", "--data-root", str(root)]
    # nothing staged: a clear error, exit 5 (bad input)
    assert check_main("orders", check_orders.checks, args) == 5
    assert "no staged version to check; run the Silver job first" in capsys.readouterr().err
    part = root / "bronze" / "orders" / "ingest_date=2026-01-03" / "part-00000.jsonl"
    part.write_bytes(part.read_bytes() + b'{"order_id": 424242}\n')   # one more reject
    day3 = (dt.date(2026, 1, 3),) * 2                   # a corrected published partition
    bronze_to_silver_orders.run(context_for(spark, root, tiny_cfg, run_id="manual_1",
                                            mode=RunMode(backfill=day3)))
    published_before = read_table(spark, root / "quarantine" / "orders").count()
    assert check_main("orders", check_orders.checks, args + ["--publish", "--run-id", "manual_1"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["details"]["dq"]["failed_error"] == 0
    assert read_table(spark, root / "quarantine" / "orders").count() == published_before + 1
    assert (root / "dq" / "reports" / "manual_1.md").exists()


def test_the_calendar_comes_from_the_bronze_partitions_not_the_generator_settings(spark, tiny_cfg, tmp_path):
    """Bronze written by hand for two days of June: those are the dates the checks expect."""
    from data_quality.runner import table_data
    from conftest import context_for
    from spark_jobs import bronze_to_silver_payments
    for day, n in (("2025-06-01", 3), ("2025-06-02", 2)):
        part = tmp_path / "bronze" / "payments" / f"ingest_date={day}"
        part.mkdir(parents=True)
        (part / "part-00000.jsonl").write_text("".join(
            json.dumps({"payment_id": f"{day}-{i}", "order_id": i, "payment_ts": f"{day}T10:00:00Z",
                        "method": "card", "status": "success", "amount": 5, "currency": "USD"}) + "\n"
            for i in range(n)))
    (tmp_path / "bronze" / "payments" / "_notes").mkdir()       # not a partition: ignored
    ctx = context_for(spark, tmp_path, tiny_cfg)
    bronze_to_silver_payments.run(ctx)
    data = table_data(ctx, "payments")
    assert list(data.expected_dates) == [dt.date(2025, 6, 1), dt.date(2025, 6, 2)]
    from data_quality.check_payments import checks
    results = {r.check: r for r in evaluate(data, checks(tiny_cfg))}
    assert results["dates_complete"].observed == "all 2 dates present"
    assert results["daily_volume"].passed and results["row_conservation"].passed


def test_result_rows_are_built_in_the_jvm_with_their_types(spark):
    from chispa import assert_df_equality
    from data_quality.runner import RESULTS_SCHEMA
    from lakehouse.conform import literal_rows
    at = dt.datetime(2026, 11, 28, 21, 0, 5, 123456)
    rows = [("r1", at, "orders", "c", "unique", "error", True, "0 | 1", "it's"),
            ("r1", at, "orders", "d", "predicate", "warn", False, None, "")]
    expected = spark.createDataFrame(rows, RESULTS_SCHEMA)
    assert_df_equality(literal_rows(spark, rows, RESULTS_SCHEMA), expected, ignore_nullable=True)
    empty = literal_rows(spark, [], "a string, b date")
    assert (empty.count(), empty.schema.simpleString()) == (0, "struct<a:string,b:date>")
