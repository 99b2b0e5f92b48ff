"""Reading and writing tables: staged writes, atomic publish, published reads.

Readers of a published path only ever see a complete version: every write goes to the staging
twin of the path first and is swapped in by `publish` (see lakehouse/storage.py).
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession

from lakehouse.errors import BadInputError
from lakehouse.paths import DataPaths
from lakehouse.storage import Storage

log = logging.getLogger(__name__)


class TableStore:
    def __init__(self, spark: SparkSession, paths: DataPaths):
        self.spark = spark
        self.paths = paths
        self.fs = Storage(spark)

    def recover(self, published: str) -> None:
        self.fs.recover(published, self.paths.trash_prefix(published))

    def write_staged(self, df: DataFrame, published: str, partition_by: Sequence[str] = ()) -> str:
        """Write `df` as the staged version of `published` (replacing any stale staged one)."""
        staged = self.paths.staged(published)
        self.fs.delete(staged)
        writer = df.write.mode("overwrite")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.parquet(staged)
        return staged

    def has_staged(self, published: str) -> bool:
        """True when a staged version exists, complete or not (publish refuses an incomplete one)."""
        return self.fs.exists(self.paths.staged(published))

    def publish(self, published: str) -> None:
        """Swap the staged version in; the previous version stays whole until the swap."""
        self.recover(published)
        trash = f"{self.paths.trash_prefix(published)}.{uuid.uuid4().hex[:12]}"
        self.fs.swap_in(self.paths.staged(published), published, trash)
        log.info("published %s", published)

    def write_atomic(self, df: DataFrame, published: str, partition_by: Sequence[str] = ()) -> None:
        self.write_staged(df, published, partition_by)
        self.publish(published)

    def read_published(self, published: str) -> DataFrame:
        self.recover(published)
        if not self.fs.has_data(published):
            raise BadInputError(f"{published}: no published table there; run the step that "
                                "writes it first (python orchestrator.py runs them in order)")
        return self.spark.read.parquet(published)

    def read_staged(self, published: str) -> DataFrame:
        staged = self.paths.staged(published)
        if not self.fs.has_data(staged):
            raise BadInputError(f"{staged}: no staged version to check; run the Silver job first")
        return self.spark.read.parquet(staged)
