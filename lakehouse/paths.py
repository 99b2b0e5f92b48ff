"""Where every dataset lives under a data root. Paths are URI strings, never local-only objects,
so the same jobs run against a local directory, hdfs:// or s3a:// without code changes."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from lakehouse.config import Paths

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def qualify_root(root: str) -> str:
    """A URI (`s3a://...`, `file:///...`) stays as it is; a local path becomes absolute."""
    if _SCHEME.match(root):
        return root.rstrip("/")
    return os.path.abspath(root)


def is_local(uri: str) -> bool:
    return not _SCHEME.match(uri) or uri.startswith("file://")


def local_path(uri: str) -> str:
    """The filesystem path of a local URI (for the generators and the orchestrator's files)."""
    if not is_local(uri):
        raise ValueError(f"{uri}: only local paths are supported here")
    return uri[len("file://"):] if uri.startswith("file://") else uri


def join(*parts: str) -> str:
    return "/".join([parts[0].rstrip("/")] + [p.strip("/") for p in parts[1:]])


@dataclass(frozen=True)
class DataPaths:
    root: str
    layout: Paths

    @classmethod
    def create(cls, root: str, layout: Paths) -> "DataPaths":
        return cls(qualify_root(root), layout)

    def bronze(self, table: str) -> str:
        return join(self.root, self.layout.bronze, table)

    @property
    def bronze_manifest(self) -> str:
        return join(self.root, self.layout.bronze, "_manifest.json")

    def silver(self, table: str) -> str:
        return join(self.root, self.layout.silver, table)

    def quarantine(self, table: str) -> str:
        return join(self.root, self.layout.quarantine, table)

    def gold(self, table: str) -> str:
        return join(self.root, self.layout.gold, table)

    def lineage(self, table: str) -> str:
        return join(self.root, self.layout.lineage, table)

    def changes(self, table: str, run_id: str) -> str:
        """The Silver rows run `run_id` added and removed in `table` (what Gold recomputes)."""
        return join(self.staging_dir(run_id), "_changes", table)

    def staged(self, published: str, run_id: str) -> str:
        """Where run `run_id` stages its new version of `published` until the run publishes."""
        return join(self.staging_dir(run_id), self.relative(published))

    def staging_dir(self, run_id: str) -> str:
        return join(self.root, self.layout.staging, run_id)

    @property
    def staging_root(self) -> str:
        return join(self.root, self.layout.staging)

    @property
    def publish_current(self) -> str:
        """The commit point: which version of every table the latest published run left."""
        return join(self.root, self.layout.publish, "current.json")

    def run_record(self, run_id: str) -> str:
        """A run's gate results and what it published (and so what every table said after it)."""
        return join(self.root, self.layout.publish, "runs", f"{run_id}.json")

    @property
    def dq_results(self) -> str:
        return join(self.root, self.layout.dq, "results")

    @property
    def dq_reports(self) -> str:
        return join(self.root, self.layout.dq, "reports")

    def run_report(self, name: str) -> str:
        """A run's HTML report (`<run_id>.html`, or `latest.html`)."""
        return join(self.root, self.layout.reports, name)

    def relative(self, path: str) -> str:
        """`path` relative to the data root (`silver/orders`): how the publish record names it."""
        prefix = self.root.rstrip("/") + "/"
        if not path.startswith(prefix):
            raise ValueError(f"{path} is not under the data root {self.root}")
        return path[len(prefix):]
