"""Cluster states for the bin-packing benchmark: sandbox estate, Alibaba trace, generated clusters.

Called by `bench/binpack.py` (and tests). Every scenario is a plain `ClusterState` (what a collector would
produce), so the engine under test runs exactly as in production. Generated clusters use real EC2
instance types sized like EKS nodes and log-normal pod requests per workload, placed the way the
default scheduler spreads pods (least allocated), so consolidation has real work to do.
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.binpack.pricing import eks_allocatable
from engines.contract import PriceBook
from engines.snapshot import ClusterState, Container, Node, Pod, Resources

ALIBABA_DIR = Path(__file__).resolve().parents[2] / "shared" / "real-inputs" / "traces" / "alibaba-gpu-v2023"
REGION = "us-east-1"
MIB = 2**20
# Real EKS DaemonSet requests on every node: aws-node (VPC CNI) 25m CPU, kube-proxy 100m CPU.
DAEMONSETS = (("aws-node", 0.025, 0), ("kube-proxy", 0.1, 0))


class ScenarioSkipped(Exception):
    """A scenario whose input is not available here; the message says why."""


@dataclass(frozen=True)
class Scenario:
    name: str
    cluster: ClusterState
    priced: bool  # node instance types are in the price book, so the full engine can run


def node_for(name: str, instance_type: str, prices: PriceBook, zone: str) -> Node:
    cpu, mem, pods = eks_allocatable(prices.instance_spec(instance_type))
    res = Resources(cpu=cpu, memory=int(mem), ephemeral_storage=18 * 2**30, pods=pods)
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/arch": "amd64", "topology.kubernetes.io/zone": zone}
    labels["node.kubernetes.io/instance-type"] = instance_type
    return Node(
        name=name,
        instance_type=instance_type,
        zone=zone,
        region=REGION,
        instance_id=f"i-{name}",
        labels=labels,
        allocatable=res,
        capacity=res,
    )


def spread(cap: np.ndarray, req: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Place pods as the default scheduler roughly does (LeastAllocated): each pod goes to the less
    loaded of two random nodes that fit, else to the node with the most free room."""
    free = cap.copy()
    where = np.full(len(req), -1, dtype=np.int64)
    n = len(cap)
    for p in rng.permutation(len(req)):
        r = req[p]
        a, b = rng.integers(0, n, size=2)
        choices = [c for c in (a, b) if (free[c] >= r).all()]
        if choices:
            best = max(choices, key=lambda c: float((free[c, :2] / cap[c, :2]).sum()))
        else:
            fits = (free >= r).all(axis=1)
            if not fits.any():
                continue
            best = int(np.argmax(np.where(fits, (free[:, :2] / cap[:, :2]).sum(axis=1), -1)))
        free[best] -= r
        where[p] = best
    return where


def _pods_for(names: Sequence[str], req: np.ndarray, where: np.ndarray, owners: Sequence[str]) -> list[Pod]:
    """Pods of Deployments; a pod the spreading scheduler could not place stays Pending."""
    pods = []
    for i, name in enumerate(names):
        container = Container(name="app", cpu_request=round(float(req[i, 0]), 3), memory_request=int(req[i, 1]))
        pods.append(
            Pod(
                name=name,
                namespace="apps",
                node_name=f"node-{where[i]:05d}" if where[i] >= 0 else None,
                phase="Running" if where[i] >= 0 else "Pending",
                owner_kind="Deployment",
                owner_name=owners[i],
                controller_kind="ReplicaSet",
                controller_name=owners[i],
                containers=(container,),
            )
        )
    return pods


def _daemons(nodes: list[Node]) -> list[Pod]:
    return [
        Pod(
            name=f"{ds}-{node.name}",
            namespace="kube-system",
            node_name=node.name,
            owner_kind="DaemonSet",
            owner_name=ds,
            controller_kind="DaemonSet",
            controller_name=ds,
            containers=(Container(name=ds, cpu_request=cpu, memory_request=mem),),
        )
        for node in nodes
        for ds, cpu, mem in DAEMONSETS
    ]


def generated(
    name: str,
    n_nodes: int,
    n_pods: int,
    types: Sequence[tuple[str, float]],
    prices: PriceBook,
    seed: int,
    cpu_util: float = 0.6,
    mem_util: float = 0.5,
) -> Scenario:
    """`n_nodes` nodes of `types` (type, share) and `n_pods` pods of workloads whose CPU and memory
    requests are log-normal (correlated, rounded to 10m / 16 MiB as people write them), scaled so
    the cluster starts at `cpu_util` / `mem_util` of allocatable after DaemonSets."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(len(types), size=n_nodes, p=[share for _, share in types])
    zones = ("us-east-1a", "us-east-1b", "us-east-1c")
    nodes = [node_for(f"node-{i:05d}", types[int(k)][0], prices, zones[i % 3]) for i, k in enumerate(kinds)]
    cap = np.array([[n.allocatable.cpu, n.allocatable.memory, 1e30, n.allocatable.pods] for n in nodes])
    cap[:, 0] -= sum(c for _, c, _ in DAEMONSETS)
    cap[:, 3] -= len(DAEMONSETS)
    # Workloads: replicas ~ 1 + geometric; requests shared by the replicas of one workload.
    sizes: list[int] = []
    while sum(sizes) < n_pods:
        sizes.append(min(int(rng.geometric(0.15)), n_pods - sum(sizes)))
    z = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.5], [0.5, 1.0]], size=len(sizes))
    w_cpu = np.exp(math.log(0.1) + 0.9 * z[:, 0])
    w_mem = np.exp(math.log(256 * MIB) + 0.9 * z[:, 1])
    owner_of = np.repeat(np.arange(len(sizes)), sizes)
    cpu = w_cpu[owner_of] * cpu_util * cap[:, 0].sum() / float(w_cpu[owner_of].sum())
    mem = w_mem[owner_of] * mem_util * cap[:, 1].sum() / float(w_mem[owner_of].sum())
    cpu = np.clip(np.round(cpu, 2), 0.01, cap[:, 0].max() * 0.9)
    mem = np.clip(np.round(mem / (16 * MIB)) * 16 * MIB, 16 * MIB, cap[:, 1].max() * 0.9)
    req = np.stack([cpu, mem, np.zeros(n_pods), np.ones(n_pods)], axis=1)
    where = spread(cap, req, rng)
    owners = [f"app-{o:05d}" for o in owner_of]
    names = [f"{owners[i]}-{i:06d}" for i in range(n_pods)]
    cluster = ClusterState(
        name=name,
        region=REGION,
        nodes=tuple(nodes),
        pods=tuple(_daemons(nodes) + _pods_for(names, req, where, owners)),
    )
    return Scenario(name=name, cluster=cluster, priced=True)


@functools.cache
def _alibaba_rows(directory: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The trace's node and pod rows, read once per process from the shared folder (never copied)."""
    nodes_csv, pods_csv = directory / "openb_node_list_all_node.csv", directory / "openb_pod_list_default.csv"
    if not nodes_csv.exists() or not pods_csv.exists():
        raise ScenarioSkipped(f"Alibaba trace not found under {directory} (research-use data, not shipped)")
    with nodes_csv.open(newline="") as fh:
        node_rows = list(csv.DictReader(fh))
    with pods_csv.open(newline="") as fh:
        pod_rows = list(csv.DictReader(fh))
    return node_rows, pod_rows


def _alibaba_cluster(
    name: str, node_rows: Sequence[dict[str, str]], pod_rows: Sequence[dict[str, str]], rng: np.random.Generator
) -> ClusterState:
    nodes = []
    for row in node_rows:
        res = Resources(cpu=int(row["cpu_milli"]) / 1000, memory=int(row["memory_mib"]) * MIB, pods=110)
        nodes.append(Node(name=row["sn"], labels={"kubernetes.io/hostname": row["sn"]}, allocatable=res, capacity=res))
    cap = np.array([[n.allocatable.cpu, n.allocatable.memory, 1e30, 110] for n in nodes])
    req = np.array([[int(r["cpu_milli"]) / 1000, int(r["memory_mib"]) * MIB, 0, 1] for r in pod_rows], dtype=float)
    where = spread(cap, req.reshape(-1, 4), rng)
    pods = [
        Pod(
            name=row["name"],
            namespace="openb",
            node_name=nodes[where[i]].name if where[i] >= 0 else None,
            phase="Running" if where[i] >= 0 else "Pending",
            owner_kind="Job",
            owner_name=row["name"],
            controller_kind="Job",
            controller_name=row["name"],
            containers=(Container(name="main", cpu_request=req[i, 0], memory_request=int(req[i, 1])),),
        )
        for i, row in enumerate(pod_rows)
    ]
    return ClusterState(name=name, region=REGION, nodes=tuple(nodes), pods=tuple(pods))


def alibaba(directory: Path = ALIBABA_DIR, seed: int = 7) -> Scenario:
    """The Alibaba openb trace's real nodes (1,523) and pod requests (all 8,152 pod specs, as if
    running at once; CPU and memory only, GPUs are not packed here), placed by the spreading
    scheduler above. Nodes carry no EC2 type, so the planner runs with one unit of value per node."""
    node_rows, pod_rows = _alibaba_rows(directory)
    cluster = _alibaba_cluster("alibaba-openb", node_rows, pod_rows, np.random.default_rng(seed))
    return Scenario(name="b-alibaba-openb", cluster=cluster, priced=False)


def alibaba_subset(seed: int, n_nodes: int = 30, n_pods: int = 200, directory: Path = ALIBABA_DIR) -> Scenario:
    """A held-out real node list: `n_nodes` nodes drawn from the openb list (heterogeneous CPU
    nodes and 8-GPU nodes with up to 128 cores; CPU binds, memory rarely) with `n_pods` of its pod
    specs, spread as above. Unpriced, like `alibaba`."""
    node_rows, pod_rows = _alibaba_rows(directory)
    rng = np.random.default_rng(seed)
    nodes = [node_rows[i] for i in sorted(rng.choice(len(node_rows), n_nodes, replace=False).tolist())]
    pods = [pod_rows[i] for i in sorted(rng.choice(len(pod_rows), n_pods, replace=False).tolist())]
    name = f"alibaba-subset-{seed}"
    return Scenario(name=name, cluster=_alibaba_cluster(name, nodes, pods, rng), priced=False)


def sandbox(seed: int = 7) -> list[Scenario]:
    try:
        from sandbox.estate import build_cluster_states
    except ImportError as exc:
        raise ScenarioSkipped(f"sandbox estate not available ({exc})") from exc
    return [Scenario(name=f"a-sandbox-{c.name}", cluster=c, priced=True) for c in build_cluster_states(seed=seed)]
