"""The validation-rule engine: named SQL predicates kept as data, evaluated in one pass.

A rule is (reject_reason, predicate) where the predicate is TRUE for a row that passes. A row's
`reject_reason` is the first rule it fails, in list order (a NULL predicate fails). Rule 7,
`duplicate`, is applied after, among the rows that passed everything else.
"""
from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

Rule = tuple[str, str]

DUPLICATE = "duplicate"


def sql_list(values: Sequence[str]) -> str:
    """`('a', 'b')` for an IN predicate (values come from config, quotes escaped)."""
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def first_failure(rules: Sequence[Rule]) -> Column:
    """CASE WHEN NOT rule1 THEN reason1 WHEN NOT rule2 ... END, NULL when all pass."""
    reason = None
    for name, predicate in rules:       # one flat CASE with a branch per rule
        fails = ~F.coalesce(F.expr(predicate), F.lit(False))
        reason = F.when(fails, F.lit(name)) if reason is None else reason.when(fails, F.lit(name))
    return reason if reason is not None else F.lit(None).cast("string")


def classify(df: DataFrame, rules: Sequence[Rule], key: str, newest_first: Sequence[Column]) -> DataFrame:
    """Add `reject_reason`: the first failing rule, else `duplicate` for all but one row per key.

    The survivor per key is the first by `newest_first` (e.g. latest `updated_at`), ties broken
    by the greatest raw line in UTF-8 byte order (Spark compares strings by their bytes).
    """
    checked = df.withColumn("reject_reason", first_failure(rules))
    is_valid = F.col("reject_reason").isNull()
    survivor_order = Window.partitionBy(F.when(is_valid, F.col(key))).orderBy(
        *newest_first, F.col("raw_record").desc())
    rank = F.when(is_valid, F.row_number().over(survivor_order))
    return checked.withColumn(
        "reject_reason",
        F.when(is_valid & (rank > 1), F.lit(DUPLICATE)).otherwise(F.col("reject_reason")))
