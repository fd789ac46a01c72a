"""Plain-data builders for the bin-packing tests: nodes sized like real EKS nodes, pods, a scan call.

Imported by the other test_binpack*.py modules; it holds no tests itself. Prices come from the real
price book (`app.pricing.load_price_book`, the shipped AWS data), never from numbers typed here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.pricing import load_price_book
from engines.binpack import BinPackEngine, BinPackSettings
from engines.binpack.pricing import eks_allocatable
from engines.contract import ScanContext, ScanResult
from engines.snapshot import ClusterState, Container, Node, Pod, Resources
from engines.snapshot_aws import Snapshot

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
GIB = 2**30
REGION = "us-east-1"


def node(
    name: str,
    instance_type: str = "m5.xlarge",
    zone: str = "us-east-1a",
    **extra: Any,
) -> Node:
    """A Ready node whose allocatable is what the EKS AMI leaves on that instance type."""
    spec = load_price_book().instance_spec(instance_type)
    cpu, mem, pods = eks_allocatable(spec)
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": instance_type,
        "topology.kubernetes.io/zone": zone,
        **extra.pop("labels", {}),
    }
    alloc = extra.pop("allocatable", Resources(cpu=cpu, memory=int(mem), ephemeral_storage=18 * GIB, pods=pods))
    return Node(
        name=name,
        instance_type=instance_type,
        zone=zone,
        region=REGION,
        instance_id=f"i-{name}",
        labels=labels,
        allocatable=alloc,
        capacity=alloc,
        **extra,
    )


def pod(
    name: str,
    on: str | None,
    cpu: float | None = 0.5,
    mem_gib: float | None = 1.0,
    namespace: str = "default",
    owner: str | None = "Deployment",
    **extra: Any,
) -> Pod:
    """A pod of a Deployment (by default) bound to node `on` with one container's requests."""
    memory = int(mem_gib * GIB) if mem_gib is not None else None
    container = Container(name="app", cpu_request=cpu, memory_request=memory)
    return Pod(
        name=name,
        namespace=namespace,
        node_name=on,
        phase="Running" if on else "Pending",
        owner_kind=owner,
        owner_name=name.rsplit("-", 1)[0] if owner else None,
        controller_kind="ReplicaSet" if owner == "Deployment" else owner,
        controller_name=name.rsplit("-", 1)[0] if owner else None,
        containers=(container,),
        **extra,
    )


def daemon(name: str, on: str, cpu: float = 0.1, mem_gib: float = 0.125) -> Pod:
    return pod(name, on, cpu, mem_gib, namespace="kube-system", owner="DaemonSet")


def cluster(nodes: list[Node], pods: list[Pod], **extra: Any) -> ClusterState:
    return ClusterState(name="test", region=REGION, nodes=tuple(nodes), pods=tuple(pods), **extra)


def scan(state: ClusterState | None, **settings: Any) -> ScanResult:
    ctx = ScanContext(prices=load_price_book(), now=NOW, settings=BinPackSettings(**settings))
    return BinPackEngine().scan(Snapshot(collected_at=NOW, cluster=state), ctx)


def removed(result: ScanResult) -> list[str]:
    return [r.target.removeprefix("node/") for r in result.recommendations if r.action.kind == "drain-and-remove-node"]


def reasons(result: ScanResult) -> dict[str, str]:
    return {s.target: s.reason for s in result.skipped}
