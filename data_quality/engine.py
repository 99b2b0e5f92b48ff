"""A small declarative data-quality engine.

Checks are data (`Check`): a name, a kind, a severity and the kind's parameters. All row-level
checks of a table are computed in one aggregation over the table; the daily counts in one
group-by; quarantine counts in another. `evaluate` is pure: DataFrames and numbers in, results
out, so every kind is unit-tested on hand-written rows.
"""
from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.config import Config
from lakehouse.contract import RATE_EXEMPT_REASONS, TableSpec, sql_list

ERROR, WARN = "error", "warn"

ROW_KINDS = ("not_null", "unique", "accepted_values", "predicate")
KINDS = ROW_KINDS + ("conservation", "reject_rate", "referential", "date_completeness",
                     "daily_volume")


@dataclass(frozen=True)
class Check:
    name: str
    kind: str
    severity: str = ERROR
    column: str | None = None
    values: tuple[str, ...] = ()        # accepted_values
    allow_null: bool = False            # accepted_values: NULL passes only when allowed
    expression: str | None = None       # predicate: SQL that is TRUE on a good row
    threshold: float | None = None      # reject_rate max, daily_volume tolerance
    reference: str | None = None        # referential: name of the reference DataFrame
    reference_column: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"check {self.name}: unknown kind {self.kind!r} (expected one of {KINDS})")
        if self.severity not in (ERROR, WARN):
            raise ValueError(f"check {self.name}: severity must be 'error' or 'warn'")


def contract_checks(spec: TableSpec, cfg: Config) -> list[Check]:
    """The checks a table's spec implies: nothing lost and not too much rejected; its never-NULL
    columns; every reject rule that names a check, asserted again on Silver; its invariants."""
    rule_checks = {r.check: r.sql(cfg.enums) for r in spec.rules if r.check}
    return [
        Check("row_conservation", "conservation", ERROR),
        Check("reject_rate", "reject_rate", ERROR, threshold=cfg.dq.max_reject_rate),
        *[Check(f"{c}_not_null", "not_null", ERROR, column=c) for c in spec.not_null_columns],
        *[Check(name, "predicate", ERROR, expression=sql) for name, sql in rule_checks.items()],
        *[Check(name, "predicate", ERROR, expression=sql) for name, sql in spec.invariants],
    ]


def unique_key_check(spec: TableSpec) -> Check:
    return Check(f"{spec.key}_unique", "unique", ERROR, column=spec.key)


def calendar_checks(volume_tolerance: float) -> list[Check]:
    """Each date of the Bronze partitions processed has rows, and a plausible number of them."""
    return [Check("dates_complete", "date_completeness", WARN),
            Check("daily_volume", "daily_volume", WARN, threshold=volume_tolerance)]


@dataclass(frozen=True)
class CheckResult:
    table: str
    check: str
    kind: str
    severity: str
    passed: bool
    observed: str
    expected: str

    @property
    def blocking(self) -> bool:
        return self.severity == ERROR and not self.passed


@dataclass
class TableData:
    """What the checks of one table look at."""
    table: str
    rows: DataFrame                                  # the (staged) Silver table
    date_column: str
    bronze_lines: int = 0
    quarantine_counts: dict[str, int] = field(default_factory=dict)
    expected_dates: Sequence[dt.date] = ()           # the ingest dates the run read
    history_dates: Sequence[dt.date] = ()            # every ingest date, for the median volume
    references: dict[str, DataFrame | None] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)   # staged Delta versions checked
    rows_checked: int = 0                            # set by `evaluate`


def _failing_rows(check: Check) -> Column:
    """An aggregate counting the rows that fail a row-level check."""
    c = F.col(check.column) if check.column else None
    if check.kind == "not_null":
        bad = c.isNull()
    elif check.kind == "accepted_values":
        inside = F.coalesce(F.expr(f"`{check.column}` IN {sql_list(check.values)}"), F.lit(False))
        bad = ~(inside | c.isNull()) if check.allow_null else ~inside
    elif check.kind == "predicate":
        bad = ~F.coalesce(F.expr(check.expression), F.lit(False))
    else:  # unique: non-null values minus distinct values
        return F.count(c) - F.count_distinct(c)
    return F.sum(F.when(bad, 1).otherwise(0))


def _row_results(data: TableData, checks: Sequence[Check]) -> tuple[int, list[CheckResult]]:
    row_checks = [c for c in checks if c.kind in ROW_KINDS]
    aggs = [F.count(F.lit(1)).alias("_rows")] + [
        _failing_rows(c).alias(f"_c{i}") for i, c in enumerate(row_checks)]
    values = data.rows.agg(*aggs).first()
    results = []
    for i, check in enumerate(row_checks):
        failing = int(values[f"_c{i}"] or 0)
        what = "duplicate values" if check.kind == "unique" else "failing rows"
        results.append(_result(data.table, check, failing == 0, f"{failing} {what}", f"0 {what}"))
    return int(values["_rows"]), results


def _result(table: str, check: Check, passed: bool, observed: str, expected: str) -> CheckResult:
    return CheckResult(table, check.name, check.kind, check.severity, bool(passed), observed, expected)


def evaluate(data: TableData, checks: Sequence[Check]) -> list[CheckResult]:
    """Run `checks` against one table's data; at most three Spark jobs plus one per reference."""
    silver_rows, results = _row_results(data, checks)
    data.rows_checked = silver_rows
    by_name = {r.check: r for r in results}
    daily: dict[dt.date, int] | None = None
    quarantined = sum(data.quarantine_counts.values())
    for check in checks:
        if check.kind in ROW_KINDS:
            continue
        if check.kind == "conservation":
            total = silver_rows + quarantined
            result = _result(data.table, check, total == data.bronze_lines,
                             f"silver {silver_rows} + quarantine {quarantined} = {total}",
                             f"bronze lines {data.bronze_lines}")
        elif check.kind == "reject_rate":
            rejected = sum(n for r, n in data.quarantine_counts.items() if r not in RATE_EXEMPT_REASONS)
            rate = rejected / data.bronze_lines if data.bronze_lines else 0.0
            result = _result(data.table, check, rate <= check.threshold,
                             f"{rate:.4f} ({rejected}/{data.bronze_lines})", f"<= {check.threshold}")
        elif check.kind == "referential":
            result = _referential(data, check)
        else:
            if daily is None:
                daily = {r[0]: r[1] for r in data.rows.groupBy(data.date_column).count().collect()}
            result = (_date_completeness(data, check, daily) if check.kind == "date_completeness"
                      else _daily_volume(data, check, daily))
        by_name[check.name] = result
    return [by_name[c.name] for c in checks]


def _referential(data: TableData, check: Check) -> CheckResult:
    reference = data.references.get(check.reference)
    if reference is None:
        return _result(data.table, check, False, f"{check.reference} not available", "reference present")
    keys = data.rows.select(F.col(check.column).alias("_k")).where(F.col("_k").isNotNull())
    ref = reference.select(F.col(check.reference_column or check.column).alias("_k"))
    orphans = keys.join(ref, on="_k", how="left_anti").count()
    return _result(data.table, check, orphans == 0, f"{orphans} rows without a match",
                   f"every {check.column} in {check.reference}")


def _date_completeness(data: TableData, check: Check, daily: dict[dt.date, int]) -> CheckResult:
    missing = [d.isoformat() for d in data.expected_dates if daily.get(d, 0) == 0]
    return _result(data.table, check, not missing,
                   f"missing {', '.join(missing)}" if missing else f"all {len(data.expected_dates)} dates present",
                   f"rows on every date {_span(data.expected_dates)}")


def _daily_volume(data: TableData, check: Check, daily: dict[dt.date, int]) -> CheckResult:
    """The run's dates against the median over the history of all ingest dates (earlier runs
    included), not only within this run."""
    counts = [daily.get(d, 0) for d in data.expected_dates]
    if not counts:
        return _result(data.table, check, True, "no dates in the run", "-")
    history = data.history_dates or data.expected_dates
    median = statistics.median(daily.get(d, 0) for d in history)
    tolerance = check.threshold if check.threshold is not None else 0.5
    off = [f"{d.isoformat()}={n}" for d, n in zip(data.expected_dates, counts, strict=True)
           if median == 0 or abs(n - median) > tolerance * median]
    return _result(data.table, check, not off,
                   f"off: {', '.join(off)}" if off else f"median {median:g}, all days within",
                   f"within {tolerance:.0%} of the median {median:g}")


def _span(dates: Sequence[dt.date]) -> str:
    return f"{dates[0]}..{dates[-1]}" if dates else "(none)"
