"""What a run report shows, gathered into plain JSON-able values: the published Gold daily
table, the run's data-quality results and their history, the quarantine counts and the run
manifest. Every table is read the one way tables are read (`open_table`, or the run's staged
version when the run did not publish); only small tables and aggregates reach the driver."""
from __future__ import annotations

import datetime as dt
import decimal
from concurrent.futures import ThreadPoolExecutor

from pyspark.sql import DataFrame

from data_quality.runner import RESULTS_SCHEMA
from lakehouse.contract import TABLES
from lakehouse.paths import DataPaths
from lakehouse.publish import COMMITTED, open_table, published_versions, read_json
from lakehouse.tables import TableStore
from reporting.summary import conservation_figures, reject_rate

DAILY_TABLE = "daily_business_metrics"


def gather(spark, paths: DataPaths, manifest: dict) -> dict:
    """Everything the report of the run described by `manifest` shows."""
    store = TableStore(spark, paths)
    run_id = manifest.get("data_run_id") or manifest["run_id"]
    current = read_json(store, paths.publish_current) or {}
    published_by_run = (read_json(store, paths.run_record(run_id)) or {}).get("publish", {}).get("state") == COMMITTED
    # small independent reads: side by side, their latency overlaps on the shared session
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="report") as pool:
        business = pool.submit(_business, store, paths)
        results = pool.submit(_dq_results, store, paths)
        quarantine = pool.submit(_quarantine, store, paths, run_id, published_by_run)
        return {
            "run": manifest,
            "published": {"by_this_run": published_by_run, "run_id": current.get("run_id"),
                          "published_at": current.get("published_at")},
            "business": business.result(),
            "dq": {"checks": _run_checks(results.result(), run_id), "history": _history(results.result()),
                   "quarantine": quarantine.result()},
        }


def _json_value(value):
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _rows(df: DataFrame) -> list[dict]:
    return [{k: _json_value(v) for k, v in row.asDict().items()} for row in df.collect()]


def _business(store: TableStore, paths: DataPaths) -> dict | None:
    """The published daily KPI table, one row per date (a few hundred rows at most), as columns."""
    if paths.relative(paths.gold(DAILY_TABLE)) not in published_versions(store):
        return None
    rows = _rows(open_table(store, paths.gold(DAILY_TABLE)).orderBy("date"))
    columns = list(rows[0]) if rows else []
    return {"table": DAILY_TABLE, "columns": {c: [r[c] for r in rows] for c in columns}}


def _dq_results(store: TableStore, paths: DataPaths) -> list[dict]:
    """Every recorded check result (one row per check and run: small)."""
    if not store.fs.exists(paths.dq_results):
        return []
    df = store.spark.read.schema(RESULTS_SCHEMA).parquet(paths.dq_results)
    return _rows(df.orderBy("checked_at", "table"))


def _run_checks(results: list[dict], run_id: str) -> list[dict]:
    """The run's latest check results (a resumed run may have checked twice), failures first:
    blocking errors, then warnings, then passes; within each, the order they were run in."""
    mine = [r for r in results if r["run_id"] == run_id]
    if not mine:
        return []
    last = max(r["checked_at"] for r in mine)
    mine = [r for r in mine if r["checked_at"] == last]

    def rank(r: dict) -> int:
        return 2 if r["passed"] else 0 if r["severity"] == "error" else 1
    return sorted(mine, key=rank)


def _history(results: list[dict]) -> list[dict]:
    """Per run and table: Silver rows, quarantined rows, Bronze lines and the reject rate, from
    the conservation and reject-rate checks every run records."""
    by_key: dict[tuple[str, str, str], dict] = {}
    for r in results:
        key = (r["checked_at"], r["run_id"], r["table"])
        entry = by_key.setdefault(key, {"checked_at": key[0], "run_id": key[1], "table": key[2]})
        if r["kind"] == "conservation":
            entry.update(conservation_figures(r["observed"], r["expected"]) or {})
        elif r["kind"] == "reject_rate":
            entry["reject_rate"] = reject_rate(r["observed"])
    return [by_key[k] for k in sorted(by_key) if "silver" in by_key[k]]


def _quarantine(store: TableStore, paths: DataPaths, run_id: str, published_by_run: bool) -> dict:
    """Quarantined rows per table and reason: the run's staged version when it staged one and
    did not publish (what its gate checked), else the published table."""
    versions = published_versions(store)
    out = {}
    for table in TABLES:
        path = paths.quarantine(table)
        if not published_by_run and store.has_staged(path, run_id):
            df, source = store.read_staged(path, run_id)[0], "staged by this run, not published"
        elif paths.relative(path) in versions:
            df, source = open_table(store, path), "published"
        else:
            continue
        counts = {r["reject_reason"]: r["count"] for r in df.groupBy("reject_reason").count().collect()}
        out[table] = {"source": source, "reasons": dict(sorted(counts.items(), key=lambda kv: -kv[1]))}
    return out
