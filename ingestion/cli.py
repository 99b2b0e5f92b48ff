"""The command line every generator script shares."""
from __future__ import annotations

import json
from collections.abc import Sequence

from ingestion.bronze import generate
from lakehouse.cli import base_parser, load_from_args, run_main
from lakehouse.contract import BRONZE_TABLES


def generator_main(tables: tuple[str, ...], argv: Sequence[str] | None = None) -> int:
    parser = base_parser(f"Write Bronze {', '.join(tables)} (deterministic synthetic data).")

    def body(args) -> int:
        cfg, paths = load_from_args(args)
        manifest = generate(cfg, paths, tables)
        for table in tables:
            entry = manifest["tables"][table]
            print(json.dumps({"table": table, "lines": entry["lines"],
                              "expected_rejects": entry["expected_rejects"]}))
        return 0

    return run_main(body, parser, argv)


def main(argv: Sequence[str] | None = None) -> int:
    return generator_main(BRONZE_TABLES, argv)
