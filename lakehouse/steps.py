"""What every step shares, without importing pyspark (the generator step never starts a JVM):
the context a step runs in, and the result it reports."""
from __future__ import annotations

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
class JobContext:
    """Everything a step gets: config, data paths, the run id, and the SparkSession, started on
    first use (`ctx.spark`) so steps that need none never pay for a JVM."""
    cfg: Config
    paths: DataPaths
    run_id: str
    session: Callable[[], "SparkSession"]

    @property
    def spark(self) -> "SparkSession":
        return self.session()
