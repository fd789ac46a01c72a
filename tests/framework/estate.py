"""A small plain-data cluster for framework tests: wasteful enough that consolidation finds savings."""

from __future__ import annotations

from datetime import UTC, datetime

from engines.snapshot import ClusterState, Container, Node, Pod, Resources, Workload
from engines.snapshot_aws import Snapshot

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
GIB = 2**30


def _node(name: str, zone: str, itype: str = "m5.xlarge") -> Node:
    return Node(
        name=name, instance_type=itype, zone=zone, region="us-east-1", instance_id=f"i-{name}",
        provider_id=f"aws:///{zone}/i-{name}",
        labels={"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone,
                "node.kubernetes.io/instance-type": itype},
        allocatable=Resources(cpu=3.92, memory=14 * GIB, ephemeral_storage=20 * GIB, pods=58),
        capacity=Resources(cpu=4, memory=16 * GIB, ephemeral_storage=20 * GIB, pods=58),
    )  # fmt: skip


def _pod(name: str, node: str, cpu: float, mem_gib: float, app: str) -> Pod:
    return Pod(
        name=name, namespace="shop", node_name=node, labels={"app": app},
        owner_kind="Deployment", owner_name=app, controller_kind="ReplicaSet", controller_name=f"{app}-5d9f",
        containers=(Container(name="main", cpu_request=cpu, memory_request=int(mem_gib * GIB)),),
    )  # fmt: skip


def wasteful_snapshot() -> Snapshot:
    nodes = tuple(_node(f"node-{i}", f"us-east-1{'abc'[i % 3]}") for i in range(4))
    pods = (
        _pod("web-1", "node-0", 0.5, 1, "web"), _pod("web-2", "node-1", 0.5, 1, "web"),
        _pod("api-1", "node-2", 0.25, 0.5, "api"), _pod("cart-1", "node-3", 0.25, 0.5, "cart"),
    )  # fmt: skip
    workloads = tuple(
        Workload(kind="Deployment", name=a, namespace="shop", replicas=n) for a, n in (("web", 2), ("api", 1), ("cart", 1))
    )
    cluster = ClusterState(name="prod-east", region="us-east-1", nodes=nodes, pods=pods, workloads=workloads)
    return Snapshot(collected_at=NOW, cluster=cluster)


def empty_snapshots() -> list[Snapshot]:
    return [
        Snapshot(collected_at=NOW),
        Snapshot(collected_at=NOW, cluster=ClusterState(name="empty", region="us-east-1")),
    ]
