"""A small plain-data estate an uploaded engine is validated on when no cluster was collected yet.

Used by `app.services.engine_uploads` (as the validation snapshot) and by the child's contract
checks (`empty_snapshots`). Four half-empty m5.xlarge nodes in us-east-1, so a consolidating
engine has something to recommend and every engine has nodes, pods and workloads to read.
"""

from __future__ import annotations

from datetime import UTC, datetime

from engines.snapshot import ClusterState, Container, Node, Pod, Resources, Workload
from engines.snapshot_aws import Snapshot

SAMPLE_TIME = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
_GIB = 2**30


def _node(i: int) -> Node:
    zone = f"us-east-1{'abc'[i % 3]}"
    name = f"sample-node-{i}"
    return Node(
        name=name, instance_type="m5.xlarge", zone=zone, region="us-east-1", instance_id=f"i-sample{i:04d}",
        provider_id=f"aws:///{zone}/i-sample{i:04d}",
        labels={"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone,
                "node.kubernetes.io/instance-type": "m5.xlarge"},
        allocatable=Resources(cpu=3.92, memory=14 * _GIB, ephemeral_storage=20 * _GIB, pods=58),
        capacity=Resources(cpu=4, memory=16 * _GIB, ephemeral_storage=20 * _GIB, pods=58),
    )  # fmt: skip


def _pod(name: str, node: str, cpu: float, mem_gib: float, app: str) -> Pod:
    return Pod(
        name=name, namespace="shop", node_name=node, labels={"app": app},
        owner_kind="Deployment", owner_name=app, controller_kind="ReplicaSet", controller_name=f"{app}-5d9f",
        containers=(Container(name="main", cpu_request=cpu, memory_request=int(mem_gib * _GIB)),),
    )  # fmt: skip


def sample_snapshot() -> Snapshot:
    nodes = tuple(_node(i) for i in range(4))
    pods = (
        _pod("web-1", "sample-node-0", 0.5, 1, "web"), _pod("web-2", "sample-node-1", 0.5, 1, "web"),
        _pod("api-1", "sample-node-2", 0.25, 0.5, "api"), _pod("cart-1", "sample-node-3", 0.25, 0.5, "cart"),
    )  # fmt: skip
    workloads = tuple(Workload(kind="Deployment", name=a, namespace="shop", replicas=n)
                      for a, n in (("web", 2), ("api", 1), ("cart", 1)))  # fmt: skip
    cluster = ClusterState(name="sample", region="us-east-1", nodes=nodes, pods=pods, workloads=workloads)
    return Snapshot(collected_at=SAMPLE_TIME, cluster=cluster)


def empty_snapshots(now: datetime = SAMPLE_TIME) -> list[Snapshot]:
    """No cluster at all, and a cluster with nothing in it: an engine must recommend nothing on both."""
    return [Snapshot(collected_at=now), Snapshot(collected_at=now, cluster=ClusterState(name="empty", region="us-east-1"))]
