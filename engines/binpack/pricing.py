"""Prices and allocatable estimates for nodes and candidate instance types, from the price book.

Called by `engine.py` and `bench/` (monthly cost of each node) and `replace.py` (candidate types). Every price
comes from `ctx.prices`; a type or region the book does not know raises `LookupError`, which the
engine turns into a skip reason rather than a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engines.binpack.model import ClusterModel
from engines.contract import InstanceSpec, PriceBook
from engines.money import monthly_from_hourly
from engines.snapshot import CapacityType, Node

MIB = 2**20


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


def eks_allocatable(spec: InstanceSpec) -> tuple[float, float, int]:
    """(CPU cores, memory bytes, max pods) the EKS AMI leaves for pods on this type.

    Uses the EKS bootstrap formula: kube-reserved memory 255 MiB + 11 MiB per pod slot, a 100 MiB
    hard eviction threshold, and kube-reserved CPU of 6 % of the first core, 1 % of the second,
    0.5 % of the third and fourth and 0.25 % of every further core.
    """
    max_pods = spec.max_pods
    memory = spec.memory_mib * MIB - (255 + 11 * max_pods) * MIB - 100 * MIB
    cores = spec.vcpu
    reserved = 0.06 * min(cores, 1) + 0.01 * min(max(cores - 1, 0), 1)
    reserved += 0.005 * min(max(cores - 2, 0), 2) + 0.0025 * max(cores - 4, 0)
    return max(cores - reserved, 0.0), float(max(memory, 0)), max_pods


def money(amount: Decimal) -> str:
    """Dollars as an analyst reads them: $1,234.50."""
    return f"${amount:,.2f}"


def family_and_size(instance_type: str) -> tuple[str, str]:
    family, _, size = instance_type.partition(".")
    return family, size


def node_costs(model: ClusterModel, prices: PriceBook) -> tuple[list[Decimal | None], list[str]]:
    """Monthly cost of every node and where its price came from; None and the reason when the
    price book does not know the node's type or region."""
    costs: list[Decimal | None] = []
    sources: list[str] = []
    for node in model.nodes:
        region = node.region or model.cluster.region
        try:
            price = node_hourly(prices, region, node)
        except LookupError as exc:
            costs.append(None)
            sources.append(
                f"no price for node {node.name} ({node.instance_type or 'no instance type'}, {region}): {exc}; "
                "kept as is"
            )
            continue
        costs.append(monthly_from_hourly(price.hourly))
        sources.append(price.source)
    return costs, sources
