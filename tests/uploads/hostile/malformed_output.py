"""Hostile upload: writes malformed JSON where the reply goes, and exits."""

from pydantic import BaseModel, Field

from engines.contract import ScanContext, ScanResult
from engines.snapshot_aws import Snapshot
from engines.uploaded import DecisionEngine


class HostileSettings(BaseModel):
    level: int = Field(1, description="how hard to try")


class Hostile(DecisionEngine[HostileSettings]):
    """writes malformed JSON where the reply goes, and exits."""

    name = "malformed-output"
    title = "Hostile malformed-output"
    Settings = HostileSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[HostileSettings]) -> ScanResult:
        import contextlib
        import os

        for fd in range(3, 32):
            with contextlib.suppress(OSError):
                os.write(fd, b'{"result": [not json')
        os._exit(0)
