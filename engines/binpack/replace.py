"""Node-type replacement: the cheapest instance type in the price book that still fits a node's pods.

Called by `engine.py` for the candidate nodes the plan keeps, as Karpenter's single-node
consolidation does, sized for the pods they will hold (their own and those the plan's drains move
onto them). A candidate must fit the node's requests including DaemonSets (allocatable estimated
with the EKS formula, corrected by how much more the current node reserves), its pod count,
architecture and GPUs, and every pod's nodeSelector/affinity on the labels the new node would carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from engines.binpack.constraints import affinity_matches
from engines.binpack.model import CPU, MEM, PODS, ClusterModel
from engines.binpack.pricing import eks_allocatable, family_and_size
from engines.binpack.settings import BinPackSettings
from engines.contract import InstanceSpec, PriceBook
from engines.costs import type_hourly
from engines.money import monthly_from_hourly
from engines.snapshot import CapacityType, Node

_ARCH = {"amd64": "x86_64", "arm64": "arm64"}
_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
_FAMILY_LABEL = "karpenter.k8s.aws/instance-family"
_SIZE_LABEL = "karpenter.k8s.aws/instance-size"
_DERIVED_PREFIX = "karpenter.k8s.aws/instance-"  # cpu, memory, generation…: dropped, not guessed


@dataclass(frozen=True)
class Replacement:
    to_type: str
    capacity: CapacityType
    monthly: Decimal
    price_source: str
    # (CPU cores, memory bytes, pod slots) the new node is expected to offer: the EKS formula less
    # what the current node reserves beyond it; the evidence reports utilisation against it.
    allocatable: tuple[float, float, float]


@dataclass
class _Table:
    names: list[str]
    specs: list[InstanceSpec]
    cpu: npt.NDArray[np.float64]
    mem: npt.NDArray[np.float64]
    pods: npt.NDArray[np.float64]
    gpu: npt.NDArray[np.int64]
    usable: npt.NDArray[np.bool_]


class Replacer:
    """Caches one table of candidate types per region; `best` answers for one node."""

    def __init__(self, model: ClusterModel, prices: PriceBook, settings: BinPackSettings) -> None:
        self.model = model
        self.prices = prices
        self.settings = settings
        self._tables: dict[str, _Table | None] = {}
        self._monthly: dict[tuple[str, str, str], tuple[Decimal, str] | None] = {}

    def _table(self, region: str) -> _Table | None:
        if region not in self._tables:
            try:
                names = sorted(self.prices.instance_types(region))
            except LookupError:
                self._tables[region] = None
                return None
            specs: list[InstanceSpec] = []
            kept: list[str] = []
            for name in names:
                try:
                    specs.append(self.prices.instance_spec(name))
                except LookupError:
                    continue
                kept.append(name)
            alloc = [eks_allocatable(s) for s in specs]
            s = self.settings
            self._tables[region] = _Table(
                names=kept,
                specs=specs,
                cpu=np.array([a[0] for a in alloc], dtype=np.float64),
                mem=np.array([a[1] for a in alloc], dtype=np.float64),
                pods=np.array([a[2] for a in alloc], dtype=np.float64),
                gpu=np.array([sp.gpu_count for sp in specs], dtype=np.int64),
                usable=np.array(
                    [
                        (s.allow_burstable_types or not sp.burstable)
                        and (s.allow_previous_generation or sp.current_generation)
                        for sp in specs
                    ],
                    dtype=bool,
                ),
            )
        return self._tables[region]

    def _price(self, region: str, name: str, capacity: CapacityType) -> tuple[Decimal, str] | None:
        key = (region, name, capacity)
        if key not in self._monthly:
            try:
                price = type_hourly(self.prices, region, name, capacity)
                self._monthly[key] = (monthly_from_hourly(price.hourly), price.source)
            except LookupError:
                self._monthly[key] = None
        return self._monthly[key]

    def best(
        self, n: int, region: str, current_monthly: Decimal, pods: list[int], used: npt.NDArray[np.float64]
    ) -> Replacement | None:
        """Cheapest type that holds `used` (all requests, DaemonSets included) and the labels
        `pods` need, saving at least the floors; None if there is none."""
        node = self.model.nodes[n]
        table = self._table(region)
        if table is None or not node.instance_type:
            return None
        try:
            current = self.prices.instance_spec(node.instance_type)
        except LookupError:
            return None
        # The collector's allocatable is the truth for the current node; a node that reserves more
        # than the formula (custom kubelet flags) is assumed to do the same on the new type.
        est_cpu, est_mem, _ = eks_allocatable(current)
        extra_cpu = max(0.0, est_cpu - float(self.model.alloc[n, CPU]))
        extra_mem = max(0.0, est_mem - float(self.model.alloc[n, MEM]))
        ok = table.usable & (table.cpu - extra_cpu >= used[CPU]) & (table.mem - extra_mem >= used[MEM])
        ok &= table.pods >= used[PODS]
        ok &= (table.gpu >= current.gpu_count) if current.gpu_count else (table.gpu == 0)
        arch = _ARCH.get(node.labels.get("kubernetes.io/arch", ""), "")
        wanted = {arch} if arch else set(current.architectures)
        # The replacement keeps the node's capacity type: on-demand to Spot is the Spot optimizer's call.
        capacity: CapacityType = node.capacity_type
        options: list[tuple[Decimal, str, CapacityType, str, int]] = []
        for i in np.flatnonzero(ok).tolist():
            name = table.names[i]
            if name == node.instance_type or (wanted and not wanted & set(table.specs[i].architectures)):
                continue
            priced = self._price(region, name, capacity)
            if priced is not None and priced[0] < current_monthly:
                options.append((priced[0], name, capacity, priced[1], i))
        for monthly, name, capacity, source, i in sorted(options):
            if not self._worth_it(current_monthly, monthly, len(pods)):
                return None  # options are sorted by price, so no dearer one can pass either
            if self._labels_fit(node, name, pods):
                alloc = (float(table.cpu[i]) - extra_cpu, float(table.mem[i]) - extra_mem, float(table.pods[i]))
                return Replacement(name, capacity, monthly, source, alloc)
        return None

    def _worth_it(self, current: Decimal, new: Decimal, moved: int) -> bool:
        s = self.settings
        saving = current - new
        return (
            saving >= s.savings_floor_monthly_usd
            and saving >= s.disruption_cost_per_pod_usd * moved
            and saving * 100 >= current * Decimal(str(s.min_replacement_savings_percent))
        )

    def _labels_fit(self, node: Node, to_type: str, pods: list[int]) -> bool:
        """The pods' nodeSelector/affinity on the labels the new node would carry (same capacity type)."""
        labels = {k: v for k, v in node.labels.items() if not k.startswith(_DERIVED_PREFIX)}
        for key in _TYPE_LABELS:
            if key in node.labels:
                labels[key] = to_type
        family, size = family_and_size(to_type)
        if _FAMILY_LABEL in node.labels:
            labels[_FAMILY_LABEL] = family
        if _SIZE_LABEL in node.labels:
            labels[_SIZE_LABEL] = size
        return all(affinity_matches(self.model.pods[p], labels) for p in pods)
