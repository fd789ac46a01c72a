"""Hourly price of a node or an instance from the price book, on-demand or Spot.

Shared by the engines (monthly cost of nodes and candidate types) and by app.services.costing
(inventory and the Overview's cluster cost), so the whole product prices a node the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engines.contract import PriceBook
from engines.snapshot import CapacityType, Node


@dataclass(frozen=True)
class NodePrice:
    hourly: Decimal
    source: str  # "on-demand", "spot-average" or "spot-advisor-estimate"


def type_hourly(prices: PriceBook, region: str, instance_type: str, capacity: CapacityType) -> NodePrice:
    """$/hour of one instance: on-demand list price, or the Spot average, else on-demand less the
    Spot Advisor's average saving (the advisor's own estimate, not ours)."""
    on_demand = prices.on_demand_hourly(region, instance_type)
    if capacity == "on-demand":
        return NodePrice(on_demand, "on-demand")
    spot = prices.spot_avg_hourly(region, instance_type)
    if spot is not None:
        return NodePrice(spot, "spot-average")
    advice = prices.spot_advice(region, instance_type)
    return NodePrice(
        on_demand * (Decimal(100) - Decimal(advice.savings_percent)) / Decimal(100), "spot-advisor-estimate"
    )


def node_hourly(prices: PriceBook, region: str, node: Node) -> NodePrice:
    if not node.instance_type:
        raise LookupError(f"node {node.name} has no instance type label")
    return type_hourly(prices, region, node.instance_type, node.capacity_type)
