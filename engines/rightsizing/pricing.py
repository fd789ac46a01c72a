"""Savings priced honestly: the value of container requests, and the node-level saving they buy.

Requests are not billed; nodes are. `Rates.for_nodes` splits each node's real hourly price (from
`engines.costs.node_hourly`) into a CPU part and a memory part by the price ratio of one vCPU to
one GiB, which `split_ratio` reads from two real instance prices in the price book (by default
c5.large and r5.large: same vCPUs, 4 vs 16 GiB, so their price difference is 12 GiB). A node's
rates are its price over its allocatable cores and GiB, so a node whose allocatable is fully
requested is fully paid for. `engine.py` values the current and recommended requests with them.

Freed requests are money only when they let nodes go or shrink: `node_level` runs
`engines.binpack.BinPackEngine` (default settings) on the snapshot as it is and on a copy whose
pods of each rightsized owner carry the new requests and limits, and returns the difference of
the two savings totals. Called once per scan by `engine.py`; the figure is cluster-wide.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from engines.binpack import BinPackEngine
from engines.binpack.settings import BinPackSettings
from engines.contract import PriceBook, ScanContext, ScanResult
from engines.costs import node_hourly
from engines.money import ZERO, monthly_from_hourly, quantize, to_decimal
from engines.snapshot import Container, Node
from engines.snapshot_aws import Snapshot

GIB = Decimal(2**30)


@dataclass(frozen=True)
class Rates:
    """$/hour of one requested core and of one requested GiB, and where they come from."""

    per_core_hour: Decimal
    per_gib_hour: Decimal
    nodes: tuple[str, ...]

    def cpu_monthly(self, cores: float | None, replicas: int) -> Decimal:
        return monthly_from_hourly(self.per_core_hour * to_decimal(round(cores or 0.0, 6)), replicas)

    def memory_monthly(self, size: float | None, replicas: int) -> Decimal:
        return monthly_from_hourly(self.per_gib_hour * Decimal(int(size or 0)) / GIB, replicas)

    def evidence(self) -> dict[str, object]:
        return {
            "per_core_hour_usd": str(self.per_core_hour.quantize(Decimal("0.000001"))),
            "per_gib_hour_usd": str(self.per_gib_hour.quantize(Decimal("0.000001"))),
            "from_nodes": list(self.nodes),
            "method": ("each node's hourly price split into CPU and memory by the real vCPU:GiB price ratio "
                       "of the price_split_pair, divided by its allocatable cores and GiB; averaged over the "
                       "workload's pods"),
        }


def split_ratio(prices: PriceBook, region: str, pair: tuple[str, str]) -> Decimal:
    """Price of one vCPU in GiB-prices: from two types with the same vCPUs and different memory."""
    low, high = pair
    lo_spec, hi_spec = prices.instance_spec(low), prices.instance_spec(high)
    if lo_spec.vcpu != hi_spec.vcpu or lo_spec.memory_mib == hi_spec.memory_mib or lo_spec.vcpu <= 0:
        raise LookupError(f"price_split_pair {low}/{high} must have the same vCPUs and different memory")
    lo_price, hi_price = prices.on_demand_hourly(region, low), prices.on_demand_hourly(region, high)
    gib_lo, gib_hi = Decimal(lo_spec.memory_mib) / 1024, Decimal(hi_spec.memory_mib) / 1024
    per_gib = (hi_price - lo_price) / (gib_hi - gib_lo)
    per_cpu = (lo_price - gib_lo * per_gib) / Decimal(lo_spec.vcpu)
    if per_gib <= 0 or per_cpu <= 0:
        raise LookupError(f"the prices of {low} and {high} in {region} do not give positive CPU and memory rates")
    return per_cpu / per_gib


def node_rates(prices: PriceBook, region: str, node: Node, ratio: Decimal) -> tuple[Decimal, Decimal]:
    """(per core-hour, per GiB-hour) of one node; LookupError when it cannot be priced."""
    hourly = node_hourly(prices, node.region or region, node).hourly
    res = node.allocatable if node.allocatable.cpu > 0 and node.allocatable.memory > 0 else node.capacity
    if res.cpu <= 0 or res.memory <= 0:
        raise LookupError(f"node {node.name} reports no allocatable CPU or memory")
    cores, gib = to_decimal(res.cpu), Decimal(res.memory) / GIB
    per_gib = hourly / (ratio * cores + gib)
    return ratio * per_gib, per_gib


class RateBook:
    """Node rates of one cluster, computed once per scan; `for_nodes` averages them per workload."""

    def __init__(self, prices: PriceBook, region: str, nodes: Iterable[Node], pair: tuple[str, str]) -> None:
        self.problem: str | None = None
        self._rates: dict[str, tuple[Decimal, Decimal]] = {}
        try:
            ratio = split_ratio(prices, region, pair)
        except LookupError as exc:
            self.problem = f"requests cannot be valued: {_text(exc)}"
            return
        for node in nodes:
            try:
                self._rates[node.name] = node_rates(prices, region, node, ratio)
            except LookupError:
                continue  # an unpriced node is left out; the workload falls back to the priced ones

    def for_nodes(self, names: list[str | None]) -> Rates | None:
        """Pod-weighted average over the named nodes that are priced, else over every priced node."""
        used = [n for n in names if n is not None and n in self._rates]
        if not used:
            used = sorted(self._rates)
        if not used:
            return None
        cpu = sum((self._rates[n][0] for n in used), Decimal(0)) / len(used)
        mem = sum((self._rates[n][1] for n in used), Decimal(0)) / len(used)
        return Rates(cpu, mem, tuple(sorted(set(used))))


def _text(exc: LookupError) -> str:
    return str(exc.args[0]) if exc.args else type(exc).__name__

# (namespace, owner kind, owner name, container) -> (cpu request, memory request, cpu limit, memory limit)
Change = tuple[float | None, int | None, float | None, int | None]
Changes = dict[tuple[str, str, str, str], Change]


@dataclass(frozen=True)
class NodeLevel:
    before: Decimal  # binpack's savings on the snapshot as it is
    after: Decimal  # binpack's savings with every rightsizing applied
    nodes_before: int
    nodes_after: int

    @property
    def saving(self) -> Decimal:
        return quantize(self.after - self.before)

    def evidence(self) -> dict[str, object]:
        return {
            "cluster_monthly_saving": str(self.saving),
            "binpack_saving_before": str(self.before),
            "binpack_saving_after": str(self.after),
            "binpack_node_recommendations_before": self.nodes_before,
            "binpack_node_recommendations_after": self.nodes_after,
            "method": ("bin-packing engine (default settings, search effort node_level_search_effort) run on the snapshot and on a copy whose pods carry "
                       "every recommended request of this scan; the difference of its savings is what the freed "
                       "requests are worth in nodes. Cluster-wide: the same for every recommendation of the scan."),
        }


def _resized(c: Container, change: Change | None) -> Container:
    if change is None:
        return c
    cpu, mem, cpu_limit, mem_limit = change
    return c.model_copy(update={"cpu_request": cpu, "memory_request": mem, "cpu_limit": cpu_limit,
                                "memory_limit": mem_limit})


def apply(snapshot: Snapshot, changes: Changes) -> Snapshot:
    """A copy of the snapshot whose owners' pods and pod templates carry the new resources."""
    cluster = snapshot.cluster
    if cluster is None or not changes:
        return snapshot
    pods = tuple(
        p.model_copy(update={"containers": tuple(
            _resized(c, changes.get((p.namespace, p.owner_kind or "", p.owner_name or "", c.name)))
            for c in p.containers)})
        for p in cluster.pods
    )
    workloads = tuple(
        w.model_copy(update={"containers": tuple(
            _resized(c, changes.get((w.namespace, w.kind, w.name, c.name))) for c in w.containers)})
        for w in cluster.workloads
    )
    return snapshot.model_copy(update={"cluster": cluster.model_copy(update={"pods": pods, "workloads": workloads})})


def _total(result: ScanResult) -> tuple[Decimal, int]:
    recs = [r for r in result.recommendations if r.purpose == "saving"]
    return sum((r.monthly_savings for r in recs), ZERO), len(recs)


def node_level(snapshot: Snapshot, changes: Changes, prices: PriceBook, now: datetime, search_effort: int = 1) -> NodeLevel:
    engine = BinPackEngine()
    ctx = ScanContext(prices=prices, now=now, settings=BinPackSettings(search_effort=search_effort))
    before, n_before = _total(engine.scan(snapshot, ctx))
    after, n_after = _total(engine.scan(apply(snapshot, changes), ctx))
    return NodeLevel(quantize(before), quantize(after), n_before, n_after)
