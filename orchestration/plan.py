"""The pipeline's steps, each declared once: the module that runs it, whether it needs Spark,
and what it waits for. Both run modes read this one declaration: in-process mode calls `module.run(ctx)`,
--submit mode runs the module's file as a script; --dry-run and the docs print it."""
from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

from lakehouse.steps import JobContext, StepResult


@dataclass(frozen=True)
class StepSpec:
    name: str
    module: str                      # defines run(ctx) -> StepResult, and main() as a script
    description: str
    depends_on: tuple[str, ...] = ()     # data dependencies
    after: tuple[str, ...] = ()          # ordering only, no data dependency
    spark: bool = True               # False: runs with plain python, never starts a JVM

    @property
    def script(self) -> str:
        """The module's file, what --submit mode runs (found without importing it)."""
        return importlib.util.find_spec(self.module).origin

    def load(self) -> Callable[[JobContext], StepResult]:
        """The module's `run` (imported when the step starts, so --dry-run starts no JVM)."""
        return importlib.import_module(self.module).run


SILVER = ("silver_orders", "silver_payments", "silver_user_events")
SILVER_TABLE = {"silver_orders": "orders", "silver_payments": "payments",
                "silver_user_events": "user_events"}     # the Bronze table each one reads
DAILY_GOLD = ("gold_events_daily", "gold_orders_daily", "gold_payments_daily")

PLAN: tuple[StepSpec, ...] = (
    StepSpec("generate", "ingestion.generate_all",
             "generate Bronze JSONL (events, orders, payments)", spark=False),
    # The Silver jobs run one after the other, small tables first: they warm the JVM (JIT,
    # codegen) for the big events table; three cold jobs side by side on two cores are slower.
    StepSpec("silver_orders", "spark_jobs.bronze_to_silver_orders", "stage Silver orders",
             ("generate",)),
    StepSpec("silver_payments", "spark_jobs.bronze_to_silver_payments", "stage Silver payments",
             ("generate",), after=("silver_orders",)),
    StepSpec("silver_user_events", "spark_jobs.bronze_to_silver_users", "stage Silver user_events",
             ("generate",), after=("silver_payments",)),
    StepSpec("dq_checks", "data_quality.check_all", "data-quality gate on the staged Silver tables",
             SILVER),
    # Gold reads the run's gated Silver and stages its tables; nothing is published yet.
    # The features job is the longest Gold step: it starts first, beside the daily tables.
    StepSpec("gold_user_daily_features", "spark_jobs.gold_user_daily_features",
             "Gold user_daily_features (ML)", ("dq_checks",)),
    StepSpec("gold_events_daily", "spark_jobs.gold_events_daily", "Gold events_daily",
             ("dq_checks",)),
    StepSpec("gold_orders_daily", "spark_jobs.gold_orders_daily", "Gold orders_daily",
             ("dq_checks",)),
    StepSpec("gold_payments_daily", "spark_jobs.gold_payments_daily", "Gold payments_daily",
             ("dq_checks",)),
    StepSpec("gold_daily_business_metrics", "spark_jobs.gold_daily_business_metrics",
             "Gold daily_business_metrics", DAILY_GOLD),
    # One commit point for everything the run wrote (Silver, quarantine, Gold).
    StepSpec("publish", "spark_jobs.publish", "publish the run: Silver, quarantine and Gold at once",
             ("dq_checks", "gold_user_daily_features", "gold_daily_business_metrics")),
)
STEPS: dict[str, StepSpec] = {s.name: s for s in PLAN}
STEP_NAMES = tuple(STEPS)
