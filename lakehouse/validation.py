"""The validation-rule engine: named SQL predicates kept as data, evaluated in one pass.

A rule is (reject_reason, predicate) where the predicate is TRUE for a row that passes. A row's
`reject_reason` is the first rule it fails, in list order (a NULL predicate fails). The engine
opens every table's list with rules 1 and 2 (`malformed_json`, `missing_required_field`), takes
rules 3-6 from the table's spec (`check`), and applies rule 7, `duplicate`, after, among the rows
that passed everything else (`rank`): a row is checked once, and ranked among whatever rows it
can collide with.
"""
from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.config import Enums
from lakehouse.contract import DUPLICATE, MALFORMED_JSON, MISSING_REQUIRED_FIELD, TableSpec

RuleSql = tuple[str, str]


def required_present(fields: Sequence[str]) -> str:
    """Rule 2's predicate: every required raw field present (`r_<field>`, blank already NULL)."""
    return " AND ".join(f"r_{f} IS NOT NULL" for f in fields)


def rules_for(spec: TableSpec, enums: Enums) -> list[RuleSql]:
    """The table's rules 1-6 in order, enum placeholders filled from config."""
    return [(MALFORMED_JSON, "is_object"),
            (MISSING_REQUIRED_FIELD, required_present(spec.required)),
            *[(rule.reason, rule.sql(enums)) for rule in spec.rules]]


def first_failure(rules: Sequence[RuleSql]) -> Column:
    """CASE WHEN NOT rule1 THEN reason1 WHEN NOT rule2 ... END, NULL when all pass."""
    reason = None
    for name, predicate in rules:       # one flat CASE with a branch per rule
        fails = ~F.coalesce(F.expr(predicate), F.lit(False))
        reason = F.when(fails, F.lit(name)) if reason is None else reason.when(fails, F.lit(name))
    return reason if reason is not None else F.lit(None).cast("string")


def check(typed: DataFrame, spec: TableSpec, enums: Enums) -> DataFrame:
    """Add `reject_reason`: the first of rules 1-6 a row fails, NULL when it passes them all."""
    return typed.withColumn("reject_reason", first_failure(rules_for(spec, enums)))


def rank(checked: DataFrame, spec: TableSpec) -> DataFrame:
    """Rule 7 over checked rows: among those that passed rules 1-6, all but one per key become
    `duplicate`.

    The survivor per key is the greatest by the spec's `survivor_order` (e.g. latest
    `updated_at`), ties broken by the greatest raw line in UTF-8 byte order (Spark compares
    strings by their bytes).
    """
    is_valid = F.col("reject_reason").isNull()
    survivor_order = Window.partitionBy(F.when(is_valid, F.col(spec.key))).orderBy(
        *[F.col(c).desc() for c in spec.survivor_order], F.col("raw_record").desc())
    position = F.when(is_valid, F.row_number().over(survivor_order))
    return checked.withColumn(
        "reject_reason",
        F.when(is_valid & (position > 1), F.lit(DUPLICATE)).otherwise(F.col("reject_reason")))
