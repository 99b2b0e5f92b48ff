"""The generate step (`run(ctx)`) and the command line every generator script shares."""
from __future__ import annotations

from collections.abc import Sequence

from ingestion.bronze import generate
from lakehouse.cli import job_main
from lakehouse.contract import BRONZE_TABLES
from lakehouse.steps import JobContext, StepResult


def generate_tables(ctx: JobContext, tables: tuple[str, ...] = BRONZE_TABLES) -> StepResult:
    """Generate `tables` and describe what was written (lines and expected rejects per table)."""
    manifest = generate(ctx.cfg, ctx.paths, tables, ctx.mode.through)
    entries = {t: manifest["tables"][t] for t in tables}
    return StepResult(rows_written=sum(e["lines"] for e in entries.values()),
                      outputs=[ctx.paths.bronze(t) for t in tables] + [ctx.paths.bronze_manifest],
                      details={t: {"lines": e["lines"], "expected_rejects": e["expected_rejects"]}
                               for t, e in entries.items()})


def run(ctx: JobContext) -> StepResult:
    """The pipeline's generate step: all Bronze tables from one simulation."""
    return generate_tables(ctx)


def generator_main(tables: tuple[str, ...], argv: Sequence[str] | None = None) -> int:
    return job_main(lambda ctx: generate_tables(ctx, tables),
                    f"Write Bronze {', '.join(tables)} (deterministic synthetic data).", argv)


def main(argv: Sequence[str] | None = None) -> int:
    return generator_main(BRONZE_TABLES, argv)
