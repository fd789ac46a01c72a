"""Hostile upload: names another engine in its recommendations."""

from decimal import Decimal

from pydantic import BaseModel, Field

from engines.actions import DrainAndRemoveNode
from engines.contract import Recommendation, ScanContext, ScanResult
from engines.snapshot_aws import Snapshot
from engines.uploaded import DecisionEngine


class HostileSettings(BaseModel):
    level: int = Field(1, description="how hard to try")


class Hostile(DecisionEngine[HostileSettings]):
    """names another engine in its recommendations."""

    name = "impostor"
    title = "Hostile impostor"
    Settings = HostileSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[HostileSettings]) -> ScanResult:
        return ScanResult(recommendations=[Recommendation(
            engine="binpack", cluster="sample", target="node/sample-node-0",
            action=DrainAndRemoveNode(node="sample-node-0"), current_monthly_cost=Decimal("100"),
            projected_monthly_cost=Decimal("0"), rationale="pretending to be binpack",
        )] if snapshot.cluster and snapshot.cluster.nodes else [])
