"""The HTML run report: `<data root>/reports/<run_id>.html` and `reports/latest.html`, written at
the end of every run that got past planning (also a failed one) and on demand:

    python -m reporting [--run-id ID] [--log-dir logs] [--data-root DIR]
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from lakehouse.config import Config
from lakehouse.paths import DataPaths, is_local, join, local_path
from lakehouse.tables import TableStore

LATEST = "latest.html"


def write_report(spark, cfg: Config, paths: DataPaths, manifest: dict, manifest_path: Path,
                 latest: bool = True) -> str:
    """Gather, render and write the report of the run `manifest` describes; returns its path."""
    from reporting.data import gather
    from reporting.page import render
    report = paths.run_report(f"{manifest['run_id']}.html")
    fs = TableStore(spark, paths).fs
    links = {"run manifest": manifest_path, "pipeline log": Path(manifest["log_file"])}
    # written by the DQ step also when its gate failed (then the manifest does not name it)
    dq_report = join(paths.dq_reports, f"{manifest.get('data_run_id') or manifest['run_id']}.md")
    if fs.exists(dq_report):
        links["data-quality report (Markdown)"] = dq_report
    html = render(gather(spark, paths, manifest), {k: _link(report, v) for k, v in links.items()},
                  dataclasses.asdict(cfg.enums))
    fs.write_text(report, html)
    if latest:
        fs.write_text(paths.run_report(LATEST), html)
    return report


def _link(report: str, target: Path | str) -> str:
    """`target` relative to the report's folder when both are local files, else as it is."""
    target = str(target)
    if is_local(report) and is_local(target):
        return os.path.relpath(local_path(target), os.path.dirname(local_path(report)))
    return target
