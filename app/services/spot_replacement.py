"""The replacement type set for an interrupted Spot node: its pods' needs, priced candidates, ranking.

Called by `app.services.spot_actions` between the cordon and the launch. It turns the live node
and its pods into `engines.spot.PodNeeds`, the price book into `SpotCandidate`s for the node's
region (built once per region and kept: ~800 types), and asks the spot-optimizer engine's ranking
(`engines.spot_optimizer.rank_replacements`: expected $/h = Spot price + P(interruption) x its cost,
P from the active risk model or the Advisor prior updated by the account's own warnings) for the
best `settings.spot.replacement_types` types, avoiding the interrupted pool and every pool
interrupted in the last `pool_avoid_minutes` (Karpenter marks a pool unavailable for 3 minutes; a
longer memory is cheap here). The scan and the interruption pipeline thus rank types one way. The
launch falls back through the set on InsufficientInstanceCapacity.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from decimal import Decimal

from app.pricing.catalog import CatalogError, PriceCatalog
from engines.contract import InstanceSpec
from engines.quantity import parse_bytes, parse_cpu
from engines.snapshot_aws import SpotPoolHistory
from engines.spot import PodNeeds, Pool, Ranking, normalize_architecture
from engines.spot.scorer import SpotRiskScorer
from engines.spot_optimizer import rank_replacements
from engines.spot_optimizer.scoring import CandidateTable
from executor import k8s_util as k

# What one interruption of the replacement would cost: every pod on it restarts (priced like the
# binpack engine's default disruption cost, $1 a pod) and old and new capacity overlap for about
# an hour at the interrupted type's on-demand price. An estimate, the same for every candidate,
# so it weighs the Advisor's risk against price without claiming precision.
POD_RESTART_COST_USD = Decimal(1)
INTERRUPTION_COST_HOURS = Decimal(1)
GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu")
ZONE_LABEL = "topology.kubernetes.io/zone"
ARCH_LABEL = "kubernetes.io/arch"
TYPE_LABEL = "node.kubernetes.io/instance-type"


def _requests(pod: k.Obj) -> tuple[int, int, int]:
    """(CPU millicores, memory bytes, GPUs) the pod requests; init containers run before the
    others, so the pod needs the larger of their peak and the containers' sum."""

    def of(containers: Iterable[k.Obj]) -> list[tuple[int, int, int]]:
        out = []
        for c in containers:
            req = (c.get("resources") or {}).get("requests") or {}
            limits = (c.get("resources") or {}).get("limits") or {}
            gpus = sum(int(parse_cpu(req.get(g) or limits.get(g) or 0)) for g in GPU_RESOURCES)
            out.append((round(parse_cpu(req.get("cpu") or 0) * 1000), parse_bytes(req.get("memory") or 0), gpus))
        return out

    main = of(k.spec(pod).get("containers") or [])
    init = of(k.spec(pod).get("initContainers") or [])
    return tuple(max(sum(m[i] for m in main), max((c[i] for c in init), default=0)) for i in range(3))  # type: ignore[return-value]


def pod_needs(node: k.Obj, pods: list[k.Obj], spec: InstanceSpec | None) -> PodNeeds:
    """What the replacement must hold: every pod bound to the node but finished ones (DaemonSet
    pods too: their DaemonSet starts them on the new node), on the node's architecture."""
    live = [p for p in pods if k.skip_reason(p) != "finished"]
    cpu = memory = gpus = 0
    for pod in live:
        c, m, g = _requests(pod)
        cpu, memory, gpus = cpu + c, memory + m, gpus + g
    arch = (k.meta(node).get("labels") or {}).get(ARCH_LABEL) or (
        spec.architectures[0] if spec and spec.architectures else "x86_64"
    )
    return PodNeeds(
        cpu_millicores=cpu, memory_bytes=memory, pods=len(live), architecture=normalize_architecture(arch), gpus=gpus
    )


class CandidateBook:
    """Spot candidate tables per region from the price book, built on first use and kept."""

    def __init__(self, prices: PriceCatalog) -> None:
        self.prices = prices
        self._tables: dict[str, CandidateTable] = {}
        self._lock = threading.Lock()

    def spec(self, instance_type: str) -> InstanceSpec | None:
        try:
            return self.prices.instance_spec(instance_type)
        except CatalogError:
            return None

    def bucket(self, region: str, instance_type: str) -> int | None:
        try:
            return self.prices.spot_advice(region, instance_type).interruption_bucket
        except CatalogError:
            return None

    def on_demand(self, region: str, instance_type: str) -> Decimal | None:
        try:
            return self.prices.on_demand_hourly(region, instance_type)
        except CatalogError:
            return None

    def table(self, region: str) -> CandidateTable:
        """The engine's candidate table of the region (prices, Advisor facts), built once."""
        with self._lock:
            if region not in self._tables:
                self._tables[region] = CandidateTable(self.prices, region)
            return self._tables[region]


def choose_types(
    book: CandidateBook,
    *,
    region: str,
    zone: str,
    old_type: str,
    needs: PodNeeds,
    recent: Iterable[Pool],
    count: int,
    scorer: SpotRiskScorer | None = None,
    history: Sequence[SpotPoolHistory] = (),
) -> Ranking:
    """The ranked replacement set; the interrupted pool itself is always avoided. `scorer` None =
    the engine's default (Advisor prior updated by `history`, the account's own warnings)."""
    avoid = {Pool(old_type, zone), *recent}
    cost = (
        book.on_demand(region, old_type) or Decimal(0)
    ) * INTERRUPTION_COST_HOURS + POD_RESTART_COST_USD * needs.pods
    return rank_replacements(book.prices, region, needs, zone=zone, interruption_cost=cost, count=count,
                             avoid=avoid, scorer=scorer, history=history, table=book.table(region))  # fmt: skip


def ranking_detail(ranking: Ranking) -> dict[str, object]:
    """The ranking as the row's detail keeps it: the chosen set with prices, and counts."""
    return {
        "needs": {"cpu_millicores": ranking.needs.cpu_millicores, "memory_bytes": ranking.needs.memory_bytes,
                  "pods": ranking.needs.pods, "architecture": ranking.needs.architecture, "gpus": ranking.needs.gpus},
        "zone": ranking.zone, "interruption_cost_usd": str(ranking.interruption_cost),
        "ranked": [{"instance_type": r.instance_type, "spot_hourly": str(r.spot_hourly),
                    "bucket": r.interruption_bucket, "expected_hourly": str(r.expected_hourly)} for r in ranking.ranked],
        "eligible": ranking.eligible,
        "avoided": sorted(r.instance_type for r in ranking.rejected if "avoided" in r.reason),
    }  # fmt: skip
