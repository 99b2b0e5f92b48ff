"""Write a run's HTML report again, or for a run that had none:

    python -m reporting [--run-id ID] [--log-dir logs] [--data-root DIR] [--config config.yaml]

The run's manifest (`<log dir>/run_<id>.json`, default: the newest) says which config, profile
and data root it used. Exit codes: 0 written, 1 failed, 2 no such run or a bad config.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from lakehouse.config import load_config
from lakehouse.errors import EXIT_OK, ConfigError, PipelineError, run_exit_code
from lakehouse.paths import DataPaths


def find_manifest(log_dir: Path, run_id: str | None) -> tuple[Path, bool]:
    """The run's manifest, and whether it is the newest run in `log_dir`."""
    runs = sorted(log_dir.glob("run_*.json"))
    if not runs:
        raise ConfigError(f"no run manifest in {log_dir}; run the pipeline first or pass --log-dir")
    if run_id is None:
        return runs[-1], True
    manifest = log_dir / f"run_{run_id}.json"
    if not manifest.is_file():
        raise ConfigError(f"--run-id {run_id}: no run manifest at {manifest}")
    return manifest, manifest == runs[-1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-id", help="the run to report on (default: the newest)")
    p.add_argument("--log-dir", help="where the run manifests are (default: orchestrator.log_dir)")
    p.add_argument("--data-root", help="the run's data root, if it has moved since (default: the "
                                       "one in the manifest)")
    p.add_argument("--config", help="config.yaml for --log-dir's default (the run's own config "
                                    "is read from its manifest)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        log_dir = Path(args.log_dir or load_config(args.config, "default").orchestrator.log_dir)
        manifest_path, newest = find_manifest(log_dir, args.run_id)
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        cfg = load_config(manifest["config"]["path"], manifest["config"]["profile"])
    except ConfigError as exc:
        print(f"{exc.label}: {exc}", file=sys.stderr)
        return exc.exit_code
    from lakehouse.spark import SessionStarter
    from reporting import write_report
    starter = SessionStarter(cfg.spark, f"{cfg.spark.app_name} report {manifest['run_id']}")
    try:
        path = write_report(starter.get(), cfg, DataPaths.create(args.data_root or manifest["data_root"], cfg.paths),
                            manifest, manifest_path, latest=newest)
    except PipelineError as exc:
        print(f"{exc.label}: {exc}", file=sys.stderr)
        return run_exit_code(exc)
    finally:
        starter.stop()       # the session it started, if any (not one that was there before)
    print(f"report: {path}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
