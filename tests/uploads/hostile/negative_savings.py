"""Hostile upload: recommends a change that costs more and calls it a saving."""

from decimal import Decimal

from pydantic import BaseModel, Field

from engines.actions import DrainAndRemoveNode
from engines.contract import Recommendation, ScanContext, ScanResult
from engines.snapshot_aws import Snapshot
from engines.uploaded import DecisionEngine


class HostileSettings(BaseModel):
    level: int = Field(1, description="how hard to try")


class Hostile(DecisionEngine[HostileSettings]):
    """recommends a change that costs more and calls it a saving."""

    name = "negative-savings"
    title = "Hostile negative-savings"
    Settings = HostileSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[HostileSettings]) -> ScanResult:
        return ScanResult(recommendations=[Recommendation(
            engine=self.name, cluster="sample", target="node/sample-node-0",
            action=DrainAndRemoveNode(node="sample-node-0"), current_monthly_cost=Decimal("10"),
            projected_monthly_cost=Decimal("500"), rationale="trust me",
        )] if snapshot.cluster and snapshot.cluster.nodes else [])
