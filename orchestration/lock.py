"""One run per data root: an O_EXCL lock file holding the owner's pid and host."""
from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path

log = logging.getLogger("orchestrator")


class AlreadyRunning(Exception):
    pass


class RunLock:
    """One run per data root: an O_EXCL lock file holding the owner's pid and host. A lock whose
    process is gone (same host) is stale and taken over."""

    def __init__(self, path: Path):
        self.path = path

    def acquire(self, run_id: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "run_id": run_id})
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner and self._alive(owner):
                    raise AlreadyRunning(
                        f"another pipeline run ({owner.get('run_id')}, pid {owner.get('pid')} on "
                        f"{owner.get('host')}) holds {self.path}; wait for it to finish") from None
                log.warning("taking over stale lock %s (owner %s is gone)", self.path, owner)
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(payload)
            return
        raise AlreadyRunning(f"could not take the lock {self.path}")

    def release(self) -> None:
        owner = self._owner()
        if owner and owner.get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)

    def _owner(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    @staticmethod
    def _alive(owner: dict) -> bool:
        if owner.get("host") != socket.gethostname():
            return True  # another machine's process: cannot tell, assume alive
        try:
            os.kill(int(owner["pid"]), 0)
        except (ProcessLookupError, ValueError, KeyError, TypeError):
            return False
        except PermissionError:
            return True
        return True
