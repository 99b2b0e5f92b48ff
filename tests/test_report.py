"""The HTML run report: written by every run, self-contained, and showing exactly what the Gold
and data-quality tables hold; its figures, formatting and console progress on their own."""
from __future__ import annotations

import datetime as dt
import io
import json
import re
import shutil
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from data_quality.engine import Check, TableData, evaluate
from orchestration.progress import Progress, describe
from orchestration.runner import StepRecord
from reporting import LATEST
from reporting.__main__ import main as report_main
from reporting.summary import conservation_figures, fmt, headline, reject_rate, split_rejects

from conftest import REPO, read_table, report_of

URL = re.compile(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)


def test_every_run_writes_a_self_contained_report_with_each_section(tiny_run):
    manifest, html, _ = report_of(tiny_run)
    reports = tiny_run / "data" / "reports"
    assert manifest["report"] == str(reports / f"{manifest['run_id']}.html")
    assert (reports / LATEST).read_text(encoding="utf-8") == html
    for section in ('id="business"', 'id="data-quality"', 'id="run"'):
        assert section in html
    assert html.count("<svg") == 9          # 5 business, 2 DQ history, 1 rejects, 1 timeline
    # nothing to fetch: no network address, no external script, style sheet or image
    assert URL.findall(html) == []
    assert not re.search(r"<(script|img|iframe)[^>]+src=|<link\b", html)
    assert "Succeeded: this run published its Silver, quarantine and Gold tables." in html


def test_the_report_shows_what_the_gold_table_holds(spark, tiny_run):
    _, html, data = report_of(tiny_run)
    gold = read_table(spark, tiny_run / "data" / "gold" / "daily_business_metrics").orderBy("date").collect()
    dates = [r["date"].isoformat() for r in gold]
    assert dates == ["2026-01-01", "2026-01-02", "2026-01-03"]
    revenue = data["charts"]["revenue"]
    assert revenue["dates"] == dates
    assert [Decimal(str(v)) for v in revenue["series"]["gross revenue (orders)"]] == [r["gross_revenue_usd"] for r in gold]
    assert [Decimal(str(v)) for v in revenue["series"]["net revenue (payments)"]] == [r["net_revenue_usd"] for r in gold]
    funnel = dict(data["charts"]["funnel"]["stages"])
    assert funnel == {"views": sum(r["views"] for r in gold), "add to cart": sum(r["add_to_carts"] for r in gold),
                      "checkout": sum(r["checkouts"] for r in gold), "purchase": sum(r["purchases"] for r in gold)}
    assert data["charts"]["rates"]["series"]["refund rate"] == [r["refund_rate"] for r in gold]
    mix = data["charts"]["mix"]["payments by method (USD)"]
    assert [Decimal(str(v)) for v in mix.values()] == [sum(r[f"{m}_usd"] for r in gold) for m in mix]
    kpis = {k["column"]: k for k in data["kpis"]}
    last, before = gold[-1], gold[:-1]
    assert kpis["orders"]["value"] == last["orders"]
    assert kpis["orders"]["average"] == pytest.approx(sum(r["orders"] for r in before) / 2)
    assert Decimal(str(kpis["net_revenue_usd"]["value"])) == last["net_revenue_usd"]
    assert f'<div class="value">{last["orders"]}</div>' in html


def test_the_report_shows_this_runs_checks_and_quarantine(spark, tiny_run):
    manifest, html, data = report_of(tiny_run)
    results = (spark.read.parquet(str(tiny_run / "data" / "dq" / "results"))
               .where(F.col("run_id") == manifest["run_id"]).collect())
    shown = data["dq"]["checks"]
    assert sorted((c["table"], c["check"], c["passed"]) for c in shown) == sorted(
        (r["table"], r["check"], r["passed"]) for r in results)
    assert [c["passed"] for c in shown] == sorted(c["passed"] for c in shown)    # failures first
    # conservation per table, against the Bronze lines counted here
    for table in ("orders", "payments", "user_events"):
        lines = sum(len(p.read_bytes().splitlines()) for p in (tiny_run / "data" / "bronze" / table).rglob("*.jsonl"))
        silver = read_table(spark, tiny_run / "data" / "silver" / table).count()
        quarantine = read_table(spark, tiny_run / "data" / "quarantine" / table)
        assert f"<td>{table}</td><td class=\"n\">{lines:,}</td><td class=\"n\">{silver:,}</td>" in html
        reasons = {r["reject_reason"]: r["count"] for r in quarantine.groupBy("reject_reason").count().collect()}
        assert data["dq"]["quarantine"][table] == {"source": "published", "reasons": reasons}
    history = data["charts"]["dq_history"]
    assert history["runs"] == [manifest["run_id"]]
    assert history["silver_rows"]["orders"] == [read_table(spark, tiny_run / "data" / "silver" / "orders").count()]


def test_the_report_links_the_log_and_manifest_and_times_every_step(tiny_run):
    manifest, html, data = report_of(tiny_run)
    reports = tiny_run / "data" / "reports"
    links = dict((label, href) for href, label in re.findall(r'<a href="([^"#]+)">([^<]+)</a>', html))
    assert (reports / links["run manifest"]).resolve() == (tiny_run / "logs" / f"run_{manifest['run_id']}.json").resolve()
    assert (reports / links["pipeline log"]).resolve() == Path(manifest["log_file"]).resolve()
    steps = data["steps"]
    assert [s[0] for s in steps] == [s["name"] for s in manifest["steps"]]
    assert all(status == "succeeded" and start >= 0 and duration > 0 for _, start, duration, status in steps)


def test_the_report_module_rewrites_a_report_and_refuses_an_unknown_run(copy_run, capsys):
    root = copy_run()
    shutil.rmtree(root / "data" / "reports")
    assert report_main(["--log-dir", str(root / "logs"), "--data-root", str(root / "data")]) == 0
    manifest = json.loads(sorted((root / "logs").glob("run_*.json"))[0].read_text())
    written = root / "data" / "reports" / f"{manifest['run_id']}.html"
    assert capsys.readouterr().out == f"report: {written}\n"
    assert (root / "data" / "reports" / LATEST).read_bytes() == written.read_bytes()

    assert report_main(["--log-dir", str(root / "logs"), "--run-id", "19990101_000000_abcdef"]) == 2
    assert capsys.readouterr().err == (f"config error: --run-id 19990101_000000_abcdef: no run manifest at "
                                       f"{root / 'logs' / 'run_19990101_000000_abcdef.json'}\n")


def test_the_readme_line_reads_gold_without_spark(tiny_run):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    line = re.search(r"^(python -c \"import os; from deltalake .*)$", readme, re.M)[1]
    out = subprocess.run(["bash", "-c", line], cwd=tiny_run, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "2026-01-01" in out.stdout and "2026-01-03" in out.stdout and "net_revenue_usd" in out.stdout


# --- the figures on their own -------------------------------------------------------------

def columns(**overrides) -> dict:
    base = {"date": ["2026-01-01", "2026-01-02", "2026-01-03"], "net_revenue_usd": [100.0, 300.0, 250.0],
            "orders": [10, 30, 20], "aov_usd": [10.0, 10.0, 12.5],
            "session_conversion_rate": [0.10, 0.20, 0.18], "failure_rate": [None, 0.10, 0.05],
            "refund_rate": [0.0, 0.0, 0.0]}
    return {**base, **overrides}


def test_headline_kpis_compare_the_last_day_with_the_days_before():
    kpis = {k["column"]: k for k in headline(columns())}
    assert (kpis["net_revenue_usd"]["value"], kpis["net_revenue_usd"]["average"]) == (250.0, 200.0)
    assert kpis["net_revenue_usd"]["change"] == pytest.approx(0.25) and kpis["net_revenue_usd"]["good"] is True
    assert kpis["orders"]["change"] == pytest.approx(0.0) and kpis["orders"]["good"] is None
    # rates change in percentage points; a NULL day is left out of the average
    assert kpis["failure_rate"]["average"] == pytest.approx(0.10)
    assert kpis["failure_rate"]["change"] == pytest.approx(-0.05) and kpis["failure_rate"]["good"] is True
    assert kpis["failure_rate"]["days_averaged"] == 1
    assert kpis["session_conversion_rate"]["change"] == pytest.approx(0.03)


def test_a_single_day_has_nothing_to_compare_with():
    one = {k: v[:1] for k, v in columns().items()}
    kpi = headline(one)[0]
    assert (kpi["value"], kpi["average"], kpi["change"], kpi["good"]) == (100.0, None, None, None)


def test_numbers_are_formatted_as_a_person_reads_them():
    assert [fmt(1234.5, "usd"), fmt(123456.7, "usd"), fmt(0.1234, "pct"), fmt(0.0058, "pct"),
            fmt(0.0, "pct"), fmt(1234567, "int"), fmt(None, "usd")] == [
        "$1,234.50", "$123,457", "12.3%", "0.58%", "0.0%", "1,234,567", "–"]


def test_the_reports_reading_of_conservation_and_reject_rate_matches_the_dq_engine(spark):
    rows = spark.createDataFrame([("a",), ("b",), (None,)], "id string")
    data = TableData(table="t", rows=rows, date_column="id", bronze_lines=5,
                     quarantine_counts={"malformed_json": 1, "duplicate": 1})
    conservation, rate = evaluate(data, [Check("c", "conservation"), Check("r", "reject_rate", threshold=0.5)])
    assert conservation_figures(conservation.observed, conservation.expected) == {
        "silver": 3, "quarantine": 2, "bronze": 5}
    assert reject_rate(rate.observed) == pytest.approx(0.2)       # duplicates are not rejects
    assert split_rejects({"duplicate": 4, "malformed_json": 1}) == (4, {"malformed_json": 1})


# --- console progress ---------------------------------------------------------------------

class Console(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def running(name: str, seconds_ago: float) -> StepRecord:
    started = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=seconds_ago)
    return StepRecord(name, status="running", started_at=started.isoformat())


def test_progress_names_each_running_step_and_the_spark_stages():
    now = dt.datetime(2026, 1, 1, 12, 0, 30, tzinfo=dt.timezone.utc)
    records = {"a": StepRecord("a", status="running", started_at="2026-01-01T12:00:00+00:00"),
               "b": StepRecord("b", status="succeeded", started_at="2026-01-01T11:59:00+00:00")}
    assert describe(records, now, "stage 7 3/8 tasks") == "a 30s (Spark: stage 7 3/8 tasks)"
    assert describe({"b": records["b"]}, now, "stage 7 3/8 tasks") == ""


def test_a_log_gets_a_progress_line_only_for_steps_running_longer_than_the_interval():
    out = Console(tty=False)
    records = {"slow": running("slow", 4.7)}       # 5.2 s old at the line
    with Progress(records, interval=0.5, stages=lambda: "stage 3 1/4 tasks", out=out):
        time.sleep(0.2)
        records["quick"] = running("quick", 0)      # 0.3 s old at the line, under the interval
        time.sleep(0.5)
    assert out.getvalue() == "    ... running: slow 5s (Spark: stage 3 1/4 tasks)\n"


def test_a_terminal_gets_one_live_line_cleared_before_each_result():
    out = Console(tty=True)
    with Progress({"slow": running("slow", 2)}, interval=30, stages=lambda: "", out=out) as console:
        time.sleep(1.3)
        console.print("[2/2] slow ... ok")
    text = out.getvalue()
    assert text.startswith("\r\x1b[K    ... slow 3s")
    assert text.endswith("\r\x1b[K[2/2] slow ... ok\n") and text.count("\n") == 1
