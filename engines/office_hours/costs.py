"""What one replica of a workload costs per hour, from its pods' requests and its nodes' prices.

Called by `engine.OfficeHoursEngine`. A node's hourly price (engines.costs.node_hourly, on-demand
or Spot) is split between its vCPUs and its GiB of memory in OpenCost's default ratio
(0.031611 $/vCPU-hour : 0.004237 $/GiB-hour), so a node's cores and memory together cost exactly
its price; a pod costs its CPU requests x the per-core price plus its memory requests x the per-GiB
price of the node it runs on. That is the share of the node the pod reserves: it is billed only if
nodes go when the pods do, so savings from it are an upper bound (the rationale says so). Every
lookup that fails raises `LookupError`; the engine skips the workload with that message.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engines.contract import PriceBook
from engines.costs import node_hourly
from engines.money import to_decimal
from engines.snapshot import Autoscaler, ClusterState, Container, Node, Pod, Workload

# OpenCost's default CPU and RAM hourly prices, used only for their ratio (its cost-model defaults).
REF_CORE_HOURLY = Decimal("0.031611")
REF_GIB_HOURLY = Decimal("0.004237")
GIB = Decimal(2**30)
MIB_PER_GIB = Decimal(1024)


@dataclass(frozen=True)
class Rates:
    per_core: Decimal  # $/vCPU-hour
    per_gib: Decimal  # $/GiB-hour
    node: str
    source: str


@dataclass(frozen=True)
class ReplicaPrice:
    hourly: Decimal  # $/hour of one replica (mean over its priced pods)
    cpu: float  # cores requested by one replica
    memory: int  # bytes requested by one replica
    nodes: tuple[str, ...]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """One workload's schedule and its price, before the node-level saving is known."""

    wl: Workload
    replicas: int
    replicas_off: int
    saved_replicas: Decimal  # replicas not running off hours (a CronJob: its mean pods running off hours)
    hpa: Autoscaler | None
    replica: ReplicaPrice
    current: Decimal
    saving: Decimal
    job_pod_hours_per_week: tuple[float, float] | None = None  # a CronJob's (off hours, in all)


def node_rates(prices: PriceBook, region: str, node: Node) -> Rates:
    hourly = node_hourly(prices, region, node)
    spec = prices.instance_spec(node.instance_type or "")
    cores, gib = Decimal(spec.vcpu), Decimal(spec.memory_mib) / MIB_PER_GIB
    if cores <= 0 or gib <= 0:
        raise LookupError(f"instance type {node.instance_type} has no vCPU or memory in the price book")
    weight_cpu, weight_mem = REF_CORE_HOURLY * cores, REF_GIB_HOURLY * gib
    share_cpu = weight_cpu / (weight_cpu + weight_mem)
    return Rates(hourly.hourly * share_cpu / cores, hourly.hourly * (1 - share_cpu) / gib, node.name, hourly.source)


def requests(containers: tuple[Container, ...]) -> tuple[float, int]:
    return sum(c.cpu_request or 0.0 for c in containers), sum(c.memory_request or 0 for c in containers)


def priced(cpu: float, memory: int, rates: Rates) -> Decimal:
    return to_decimal(cpu) * rates.per_core + Decimal(memory) / GIB * rates.per_gib


def pods_of(cluster: ClusterState, wl: Workload) -> list[Pod]:
    return sorted((p for p in cluster.pods if p.namespace == wl.namespace and p.owner_kind == wl.kind
                   and p.owner_name == wl.name and p.phase in ("Running", "Pending")), key=lambda p: p.name)  # fmt: skip


class Pricer:
    """Prices replicas on the cluster's nodes, each node's rates looked up once."""

    def __init__(self, cluster: ClusterState, prices: PriceBook) -> None:
        self._cluster, self._prices = cluster, prices
        self._nodes = {n.name: n for n in cluster.nodes}
        self._rates: dict[str, Rates] = {}

    def rates(self, node_name: str) -> Rates:
        if node_name not in self._rates:
            node = self._nodes.get(node_name)
            if node is None:
                raise LookupError(f"node {node_name} is not in the snapshot")
            self._rates[node_name] = node_rates(self._prices, node.region or self._cluster.region, node)
        return self._rates[node_name]

    def replica(self, wl: Workload, namespace_nodes: list[str]) -> ReplicaPrice:
        """One replica's price: the mean over its running pods on their nodes; a workload without a
        placed pod (a CronJob between runs) is priced from its template on its namespace's nodes."""
        pods = [p for p in pods_of(self._cluster, wl) if p.node_name]
        if pods:
            pairs = [(requests(p.containers), self.rates(p.node_name or "")) for p in pods]
        else:
            if not namespace_nodes:
                raise LookupError(f"{wl.kind} {wl.namespace}/{wl.name} has no placed pod and its namespace "
                                  "runs on no node to price it on")  # fmt: skip
            pairs = [(requests(wl.containers), self.rates(name)) for name in namespace_nodes]
        hourly = sum((priced(cpu, mem, r) for (cpu, mem), r in pairs), Decimal(0)) / len(pairs)
        (cpu, mem), _ = pairs[0]
        nodes = tuple(dict.fromkeys(r.node for _, r in pairs))
        sources = tuple(dict.fromkeys(r.source for _, r in pairs))
        return ReplicaPrice(hourly, cpu, mem, nodes, sources)

    def rate_evidence(self) -> dict[str, dict[str, str]]:
        return {name: {"per_vcpu_hour": str(round(r.per_core, 6)), "per_gib_hour": str(round(r.per_gib, 6)),
                       "price_source": r.source} for name, r in sorted(self._rates.items())}  # fmt: skip
