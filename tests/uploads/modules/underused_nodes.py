"""A valid uploaded engine: remove on-demand nodes whose pods request little of their CPU."""

from decimal import Decimal

from pydantic import BaseModel, Field

from engines.actions import DrainAndRemoveNode
from engines.contract import Recommendation, ScanContext, ScanResult
from engines.snapshot_aws import Snapshot
from engines.uploaded import DecisionEngine


class UnderusedSettings(BaseModel):
    max_cpu_share: float = Field(0.2, ge=0, le=1, description="requested CPU / allocatable below which a node is underused")


class UnderusedNodes(DecisionEngine[UnderusedSettings]):
    """Recommends removing nodes whose pods request less than `max_cpu_share` of the node's CPU."""

    name = "underused-nodes"
    title = "Underused nodes"
    Settings = UnderusedSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[UnderusedSettings]) -> ScanResult:
        result = ScanResult()
        cluster = snapshot.cluster
        if cluster is None:
            return result
        for node in cluster.nodes:
            requested = sum(c.cpu_request or 0 for p in cluster.pods if p.node_name == node.name for c in p.containers)
            share = requested / node.allocatable.cpu if node.allocatable.cpu else 1.0
            if share >= ctx.settings.max_cpu_share or node.instance_type is None:
                result.skip(f"node/{node.name}", f"{share:.0%} of its CPU is requested")
                continue
            hourly = ctx.prices.on_demand_hourly(node.region or cluster.region, node.instance_type)
            result.recommendations.append(Recommendation(
                engine=self.name, cluster=cluster.name, target=f"node/{node.name}",
                action=DrainAndRemoveNode(node=node.name, instance_id=node.instance_id),
                current_monthly_cost=hourly * Decimal(730), projected_monthly_cost=Decimal(0),
                risk="medium", confidence=0.6, rationale=f"only {share:.0%} of the node's CPU is requested",
                evidence={"cpu_share": round(share, 3)},
            ))
        return result
