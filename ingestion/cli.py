"""The command line every generator script shares, and the generate step's result."""
from __future__ import annotations

import json
from collections.abc import Sequence

from ingestion.bronze import generate
from lakehouse.cli import base_parser, load_from_args, run_main
from lakehouse.config import Config
from lakehouse.contract import BRONZE_TABLES
from lakehouse.jobs import StepResult
from lakehouse.paths import DataPaths


def generate_step(cfg: Config, paths: DataPaths, tables: tuple[str, ...] = BRONZE_TABLES) -> StepResult:
    """Generate `tables` and describe what was written (lines and expected rejects per table)."""
    manifest = generate(cfg, paths, tables)
    entries = {t: manifest["tables"][t] for t in tables}
    return StepResult(rows_written=sum(e["lines"] for e in entries.values()),
                      outputs=[paths.bronze(t) for t in tables] + [paths.bronze_manifest],
                      details={t: {"lines": e["lines"], "expected_rejects": e["expected_rejects"]}
                               for t, e in entries.items()})


def generator_main(tables: tuple[str, ...], argv: Sequence[str] | None = None) -> int:
    parser = base_parser(f"Write Bronze {', '.join(tables)} (deterministic synthetic data).")

    def body(args) -> int:
        cfg, paths = load_from_args(args)
        print(json.dumps(generate_step(cfg, paths, tables).as_dict()))
        return 0

    return run_main(body, parser, argv)


def main(argv: Sequence[str] | None = None) -> int:
    return generator_main(BRONZE_TABLES, argv)
