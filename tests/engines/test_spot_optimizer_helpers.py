"""Plain-data builders for the Spot optimizer tests: node groups, pods of every class, a scan call.

Imported by the other test_spot_optimizer*.py modules; it holds no tests itself. Nodes and pods come
from the bin-packing builders (EKS-sized nodes); prices from the shipped price book.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.pricing import load_price_book
from engines.contract import ScanContext, ScanResult
from engines.snapshot import DisruptionBudget, LabelSelector, Namespace, Workload
from engines.snapshot_aws import Snapshot, SpotPoolHistory
from engines.spot_optimizer import SpotOptimizerEngine, SpotOptimizerSettings
from tests.engines.test_binpack_helpers import NOW, cluster, daemon, node, pod

GROUP = "eks.amazonaws.com/nodegroup"


def estate(spot_history: tuple[SpotPoolHistory, ...] = ()) -> Snapshot:
    """Node groups covering every decision: web (moves), batch (wider preset), stateful, slow drain,
    PDB at zero, on-demand-only pod, Spot opt-out, an unknown type, risky and calm Spot nodes."""
    groups = {
        "web": ("m5.xlarge", ("us-east-1a", "us-east-1a", "us-east-1b")),
        "batch": ("c5.2xlarge", ("us-east-1a",)),
        "db": ("r5.xlarge", ("us-east-1a",)),
        "slow": ("m5.large", ("us-east-1b",)),
        "pdb": ("m5.large", ("us-east-1c",)),
        "pinned": ("m6i.large", ("us-east-1a",)),
        "never": ("c6i.large", ("us-east-1a",)),
    }
    nodes = [node(f"{g}-{i}", t, zone=z, labels={GROUP: g}) for g, (t, zones) in groups.items()
             for i, z in enumerate(zones)]  # fmt: skip
    nodes += [
        node("odd-0", "m5.xlarge", labels={GROUP: "odd"}).model_copy(update={"instance_type": "x9.huge"}),
        node("spot-risky", "m5.xlarge", capacity_type="spot"),
        node("spot-calm", "c5.xlarge", capacity_type="spot"),
    ]
    pods = [daemon(f"ds-{n.name}", n.name) for n in nodes]
    pods += [pod(f"web-{i}", f"web-{i}", 1.0, 4, labels={"app": "web"}, termination_grace_period_s=20) for i in range(3)]
    pods += [pod(f"etl-{i}", "batch-0", 1.5, 3, owner="Job") for i in range(3)]
    pods += [pod("pg-0", "db-0", 2.0, 16, owner="StatefulSet")]
    pods += [pod("slow-1", "slow-0", 0.5, 1, termination_grace_period_s=300)]
    pods += [pod(f"api-{i}", "pdb-0", 0.5, 1, labels={"app": "api"}) for i in range(2)]
    pods += [pod("legacy-1", "pinned-0", 0.5, 1, node_selector={"eks.amazonaws.com/capacityType": "ON_DEMAND"})]
    pods += [pod("ledger-1", "never-0", 0.5, 1, namespace="finance")]
    pods += [pod("odd-1", "odd-0", 0.5, 1)]
    pods += [pod(f"risky-{i}", "spot-risky", 0.5, 2) for i in range(4)]
    pods += [pod("calm-1", "spot-calm", 0.5, 1)]
    pdb = DisruptionBudget(name="api", namespace="default", selector=LabelSelector(match_labels={"app": "api"}),
                           min_available="2", disruptions_allowed=0)  # fmt: skip
    workloads = (Workload(kind="Deployment", name="web", namespace="default", replicas=3),)
    namespaces = (Namespace(name="finance", annotations={"cloudoptim.io/spot": "never"}), Namespace(name="default"))
    state = cluster(nodes, pods, pdbs=(pdb,), workloads=workloads, namespaces=namespaces)
    return Snapshot(collected_at=NOW, cluster=state, spot_history=spot_history)


def scan(snapshot: Snapshot, models: Mapping[str, Any] | None = None, **settings: Any) -> ScanResult:
    ctx = ScanContext(prices=load_price_book(), now=NOW, settings=SpotOptimizerSettings(**settings),
                      models=dict(models or {}))  # fmt: skip
    return SpotOptimizerEngine().scan(snapshot, ctx)


def reasons(result: ScanResult) -> dict[str, str]:
    return {s.target: s.reason for s in result.skipped}
