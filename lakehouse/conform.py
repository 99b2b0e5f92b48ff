"""Holding a DataFrame to the contract's schema: its columns, in its order, with its types."""
from __future__ import annotations

from pyspark.sql import DataFrame
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
