"""Hostile upload: allocates memory without bound."""

from pydantic import BaseModel, Field

from engines.contract import ScanContext, ScanResult
from engines.snapshot_aws import Snapshot
from engines.uploaded import DecisionEngine


class HostileSettings(BaseModel):
    level: int = Field(1, description="how hard to try")


class Hostile(DecisionEngine[HostileSettings]):
    """allocates memory without bound."""

    name = "memory-hog"
    title = "Hostile memory-hog"
    Settings = HostileSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[HostileSettings]) -> ScanResult:
        chunks = []
        while True:
            chunks.append(bytearray(64 * 2**20))
