"""What the estate costs per month, from the price book: nodes of a cluster, and the instances and
EBS volumes of an account. Used by `cloudoptim inventory`, the Overview page (via the stored
cluster cost) and the collection service. Unpriced items are listed, never counted as zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from engines.contract import PriceBook
from engines.costs import node_hourly, type_hourly
from engines.money import ZERO, monthly_from_hourly, quantize
from engines.snapshot import ClusterState
from engines.snapshot_aws import AccountState


@dataclass
class CostBreakdown:
    monthly: Decimal = ZERO
    items: dict[str, Decimal] = field(default_factory=dict)
    unpriced: list[str] = field(default_factory=list)


def cluster_cost(prices: PriceBook, cluster: ClusterState) -> CostBreakdown:
    out = CostBreakdown()
    for node in cluster.nodes:
        try:
            monthly = monthly_from_hourly(node_hourly(prices, node.region or cluster.region, node).hourly)
        except LookupError as exc:
            out.unpriced.append(f"node/{node.name}: {exc}")
            continue
        out.items[node.name] = monthly
        out.monthly += monthly
    return out


def account_cost(prices: PriceBook, account: AccountState) -> CostBreakdown:
    """Running instances (spot at the spot price) plus every EBS volume's provisioned storage."""
    out = CostBreakdown()
    for inst in account.instances:
        if inst.state not in ("running", "pending"):
            continue
        try:
            hourly = type_hourly(prices, inst.region, inst.instance_type, inst.lifecycle).hourly
        except LookupError as exc:
            out.unpriced.append(f"instance/{inst.instance_id}: {exc}")
            continue
        out.items[inst.instance_id] = monthly_from_hourly(hourly)
        out.monthly += out.items[inst.instance_id]
    for vol in account.volumes:
        try:
            monthly = quantize(prices.ebs_gb_month(vol.region, vol.volume_type) * vol.size_gb)
        except LookupError as exc:
            out.unpriced.append(f"volume/{vol.volume_id}: {exc}")
            continue
        out.items[vol.volume_id] = monthly
        out.monthly += monthly
    return out
