"""Holding a DataFrame to the contract's schema: its columns, in its order, with its types."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.contract import schema_columns


def conform(df: DataFrame, ddl: str, *, drop_extra: bool = False) -> DataFrame:
    """Select exactly the columns of `ddl`, in its order, cast to its types.

    A column the schema names but `df` lacks is an error, and so (unless `drop_extra`) is a
    column `df` computed that the schema does not name: a new column must be added to the
    schema, never silently dropped.
    """
    declared = schema_columns(ddl)
    names = {name for name, _ in declared}
    missing = [name for name, _ in declared if name not in df.columns]
    extra = [c for c in df.columns if c not in names]
    if missing:
        raise ValueError(f"columns {missing} of the schema are not computed")
    if extra and not drop_extra:
        raise ValueError(f"computed columns {extra} are not in the schema; add them to it "
                         "(lakehouse/contract.py) or drop them explicitly")
    return df.select(*[F.col(name).cast(dtype).alias(name) for name, dtype in declared])


def literal_rows(spark: SparkSession, rows: Sequence[Sequence], ddl: str) -> DataFrame:
    """A DataFrame of a few driver-side rows, typed per `ddl`, built in the JVM from literals.

    `spark.createDataFrame(list)` ships the rows through a Python RDD, which starts Python
    worker processes (on a cluster: Python on every executor) just to unpickle them."""
    declared = schema_columns(ddl)
    if not rows:
        return spark.range(0).select(*[F.lit(None).cast(t).alias(n) for n, t in declared])

    def literal(value, dtype: str):
        if isinstance(value, dt.datetime | dt.date):      # via text: the session time zone, UTC
            value = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
        return F.lit(value).cast(dtype)

    structs = [F.struct(*[literal(v, t).alias(n) for v, (n, t) in zip(row, declared, strict=True)])
               for row in rows]
    return spark.range(1).select(F.inline(F.array(*structs))).select(*[n for n, _ in declared])
