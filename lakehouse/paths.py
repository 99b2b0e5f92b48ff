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

    def staged(self, published: str) -> str:
        """The staging twin of a published path (same filesystem, so a rename swaps it in)."""
        return join(self.root, self.layout.staging, self._relative(published))

    def trash_prefix(self, published: str) -> str:
        """Trashed versions of `published` are `<prefix>.<token>`."""
        return join(self.root, self.layout.trash, self._relative(published))

    @property
    def work_dirs(self) -> tuple[str, str]:
        """Where staged and trashed versions live between a write and its publish."""
        return join(self.root, self.layout.staging), join(self.root, self.layout.trash)

    @property
    def dq_results(self) -> str:
        return join(self.root, self.layout.dq, "results")

    @property
    def dq_reports(self) -> str:
        return join(self.root, self.layout.dq, "reports")

    def _relative(self, path: str) -> str:
        prefix = self.root.rstrip("/") + "/"
        if not path.startswith(prefix):
            raise ValueError(f"{path} is not under the data root {self.root}")
        return path[len(prefix):]
