"""What every step shares, without importing pyspark (the generator step never starts a JVM):
the context a step runs in, and the result it reports."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from lakehouse.config import Config
from lakehouse.paths import DataPaths

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass
class StepResult:
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    outputs: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, fields: dict) -> "StepResult":
        return cls(**{k: v for k, v in fields.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class RunMode:
    """Which Bronze a run processes (docs/incremental.md). By default a table whose ingest
    partitions are recorded as published gets the new partitions only (incremental), any other
    table everything (full refresh)."""
    full_refresh: bool = False                       # every Bronze partition
    backfill: tuple[dt.date, dt.date] | None = None  # re-process these ingest dates (inclusive)
    through: dt.date | None = None                   # the generator's last day

    @property
    def name(self) -> str:
        return "full-refresh" if self.full_refresh else "backfill" if self.backfill else "auto"

    def args(self) -> list[str]:
        """The same mode as command-line flags (what a spark-submit'ed step gets)."""
        flags = ["--full-refresh"] if self.full_refresh else []
        if self.backfill:
            flags += ["--backfill", f"{self.backfill[0]}..{self.backfill[1]}"]
        if self.through:
            flags += ["--through", self.through.isoformat()]
        return flags


@dataclass(frozen=True)
class JobContext:
    """Everything a step gets: config, data paths, the run id, and the SparkSession, started on
    first use (`ctx.spark`) so steps that need none never pay for a JVM."""
    cfg: Config
    paths: DataPaths
    run_id: str
    session: Callable[[], "SparkSession"]
    mode: RunMode = RunMode()

    @property
    def spark(self) -> "SparkSession":
        return self.session()
