"""Prices and allocatable estimates for nodes and candidate instance types, from the price book.

Called by `engine.py` and `bench/` (monthly cost of each node) and `replace.py` (candidate types). Every price
comes from `ctx.prices`; a type or region the book does not know raises `LookupError`, which the
engine turns into a skip reason rather than a guess.
"""

from __future__ import annotations

from decimal import Decimal

from engines.binpack.model import ClusterModel
from engines.contract import InstanceSpec, PriceBook
from engines.costs import node_hourly
from engines.money import monthly_from_hourly

MIB = 2**20


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
