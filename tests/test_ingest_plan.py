"""Which ingest partitions a run reads (lakehouse/incremental.py), without Spark."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from lakehouse.incremental import (BACKFILL, FULL, INCREMENTAL, NOTHING, PublishedBronzeChanged,
                                   plan_ingest)
from lakehouse.steps import RunMode
from lakehouse.storage import LocalStorage

D1, D2, D3 = dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 3)


def bronze(tmp_path: Path, *days: dt.date) -> str:
    table = tmp_path / "orders"
    for day in days:
        part = table / f"ingest_date={day}"
        part.mkdir(parents=True)
        (part / "part-00000.jsonl").write_text("{}\n{}\n")
        os.utime(part / "part-00000.jsonl", ns=(1_700_000_000_000_000_000,) * 2)
    return str(table)


def published(*days: dt.date) -> dict:
    """The state a run that read `days` (as written by `bronze`) records."""
    return {d.isoformat(): {"files": {"part-00000.jsonl": [6, 1_700_000_000_000]}, "lines": 2}
            for d in days}


def plan(table: str, state: dict | None, **mode):
    return plan_ingest(LocalStorage(), table, "orders", RunMode(**mode), state)


def test_the_first_run_reads_everything_then_only_what_is_new(tmp_path):
    table = bronze(tmp_path, D1, D2, D3)
    first = plan(table, None)
    assert (first.kind, first.read_dates, first.kept) == (FULL, [D1, D2, D3], {})
    nxt = plan(table, published(D1, D2))
    assert (nxt.kind, nxt.read_dates, sorted(nxt.kept)) == (INCREMENTAL, [D3], ["2026-01-01", "2026-01-02"])
    assert sorted(nxt.state_after({D3: 2})) == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert plan(table, published(D1, D2, D3)).kind == NOTHING
    assert plan(table, published(D1, D2), full_refresh=True).read_dates == [D1, D2, D3]


def test_a_vanished_or_changed_published_partition_stops_the_run(tmp_path):
    table = bronze(tmp_path, D1, D3)
    with pytest.raises(PublishedBronzeChanged, match=r"2026-01-02 are gone.*--backfill 2026-01-02\.\.2026-01-02"):
        plan(table, published(D1, D2))
    (Path(table) / f"ingest_date={D1}" / "late.jsonl").write_text("{}\n")
    with pytest.raises(PublishedBronzeChanged, match=r"2026-01-01 changed since.*--backfill 2026-01-01"):
        plan(table, published(D1))


def test_a_backfill_reads_its_range_again_and_may_drop_a_vanished_day(tmp_path):
    table = bronze(tmp_path, D1, D3)
    (Path(table) / f"ingest_date={D1}" / "late.jsonl").write_text("{}\n")   # replaced on purpose
    redo = plan(table, published(D1, D2, D3), backfill=(D1, D2))
    assert (redo.kind, redo.read_dates, redo.replaced) == (BACKFILL, [D1], (D1, D2))
    assert sorted(redo.kept) == ["2026-01-03"]                 # day 2 is dropped: it is gone
    assert sorted(redo.state_after({D1: 3})) == ["2026-01-01", "2026-01-03"]
    with pytest.raises(Exception, match="no ingest partition in that range"):
        plan(bronze(tmp_path / "other", D1), published(D1), backfill=(dt.date(2026, 2, 1),) * 2)
