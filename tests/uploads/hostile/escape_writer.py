"""Hostile upload: writes a file outside its working directory (TARGET_HERE)."""

from pydantic import BaseModel, Field

from engines.contract import ScanContext, ScanResult
from engines.snapshot_aws import Snapshot
from engines.uploaded import DecisionEngine


class HostileSettings(BaseModel):
    level: int = Field(1, description="how hard to try")


class Hostile(DecisionEngine[HostileSettings]):
    """writes a file outside its working directory (TARGET_HERE)."""

    name = "escape-writer"
    title = "Hostile escape-writer"
    Settings = HostileSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[HostileSettings]) -> ScanResult:
        from pathlib import Path

        Path("TARGET_HERE").write_text("escaped")
        return ScanResult()
