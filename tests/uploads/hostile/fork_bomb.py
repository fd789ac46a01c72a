"""Hostile upload: forks children until the process limit stops it."""

from pydantic import BaseModel, Field

from engines.contract import ScanContext, ScanResult
from engines.snapshot_aws import Snapshot
from engines.uploaded import DecisionEngine


class HostileSettings(BaseModel):
    level: int = Field(1, description="how hard to try")


class Hostile(DecisionEngine[HostileSettings]):
    """forks children until the process limit stops it."""

    name = "fork-bomb"
    title = "Hostile fork-bomb"
    Settings = HostileSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[HostileSettings]) -> ScanResult:
        import os
        import time

        children = 0
        while children < 10_000:
            if os.fork() == 0:
                time.sleep(600)
                os._exit(0)
            children += 1
        return ScanResult()
