"""Turn one ClusterState into the arrays the planner works on: node capacity, pod requests, masks.

Called by `engine.py` (and by `bench/`) before planning. Requests, not usage, are packed, as the
scheduler does. Dimensions are CPU cores, memory bytes, ephemeral-storage bytes and pod slots.
Missing requests are counted as 0 (as the scheduler does) and flagged for the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from engines.binpack.constraints import BoolArray, Signature, node_zone, signature, static_masks
from engines.snapshot import ClusterState, Container, Node, Pod

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DIMS = ("cpu", "memory", "ephemeral_storage", "pods")
CPU, MEM, EPH, PODS = range(4)
DEFAULT_MAX_PODS = 110  # kubelet's default --max-pods, used when a node does not report pod slots

# Pod roles: workloads may move; daemons (DaemonSet, mirror/static pods) stay with their node and
# are its overhead; pending pods have no node yet and are placed before any node is removed.
WORKLOAD, DAEMON, PENDING = 0, 1, 2
_ACTIVE_PHASES = ("Running", "Pending", "Unknown")


@dataclass
class ClusterModel:
    cluster: ClusterState
    nodes: list[Node]
    zones: list[str | None]
    alloc: FloatArray  # (N, 4) what each node offers; ephemeral = inf when the node does not say
    used: FloatArray  # (N, 4) requests of every pod bound to the node, DaemonSets included
    dest_ok: BoolArray  # (N,) may receive pods: ready, schedulable, non-zero allocatable
    node_notes: list[str | None]  # why a node is left out of the plan entirely
    pods: list[Pod]
    req: FloatArray  # (P, 4)
    home: IntArray  # (P,) node index, -1 for pending pods
    role: npt.NDArray[np.int8]
    missing: list[tuple[str, ...]]  # per pod: dimensions whose request was not set
    sig: IntArray  # (P,) index into fit_masks / aff_masks
    fit_masks: BoolArray  # (S, N) taints + affinity + PVC zone
    aff_masks: BoolArray  # (S, N) affinity alone (topology spread's eligible domains)
    node_index: dict[str, int] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)


def _sum(containers: tuple[Container, ...]) -> tuple[float, float, float, bool, bool]:
    """Requests summed over containers; an unset CPU/memory request falls back to the limit, as
    the API defaults it, and otherwise counts as 0 and is reported as missing."""
    cpu = mem = eph = 0.0
    no_cpu = no_mem = False
    for c in containers:
        v = c.cpu_request if c.cpu_request is not None else c.cpu_limit
        if v is None:
            no_cpu = True
        else:
            cpu += v
        m = c.memory_request if c.memory_request is not None else c.memory_limit
        if m is None:
            no_mem = True
        else:
            mem += m
        if c.ephemeral_request is not None:
            eph += c.ephemeral_request
    return cpu, mem, eph, no_cpu, no_mem


def pod_requests(pod: Pod) -> tuple[tuple[float, float, float, float], tuple[str, ...]]:
    """Effective pod requests: max(sum of app containers, largest init container) per dimension.
    Ephemeral storage is optional by nature, so only CPU and memory gaps are flagged."""
    cpu, mem, eph, no_cpu, no_mem = _sum(pod.containers)
    for init in pod.init_containers:
        i_cpu, i_mem, i_eph, _, _ = _sum((init,))
        cpu, mem, eph = max(cpu, i_cpu), max(mem, i_mem), max(eph, i_eph)
    missing = ("cpu",) * no_cpu + ("memory",) * no_mem
    return (cpu, mem, eph, 1.0), missing


def is_daemon(pod: Pod) -> bool:
    return (
        pod.is_mirror
        or "kubernetes.io/config.mirror" in pod.annotations
        or pod.owner_kind == "DaemonSet"
        or pod.controller_kind == "DaemonSet"
    )


def _node_capacity(node: Node) -> tuple[tuple[float, float, float, float], str | None]:
    a = node.allocatable
    if a.cpu <= 0 or a.memory <= 0:
        return (0.0, 0.0, 0.0, 0.0), f"node {node.name} reports zero allocatable CPU or memory; left out of the plan"
    eph = float(a.ephemeral_storage) if a.ephemeral_storage > 0 else float("inf")
    pods = float(a.pods) if a.pods > 0 else float(DEFAULT_MAX_PODS)
    return (float(a.cpu), float(a.memory), eph, pods), None


def build_model(cluster: ClusterState) -> ClusterModel:
    """Arrays for one cluster; nodes sorted by name and pods by namespace/name, for determinism."""
    nodes = sorted(cluster.nodes, key=lambda n: n.name)
    node_index = {n.name: i for i, n in enumerate(nodes)}
    zones = [node_zone(n) for n in nodes]
    alloc = np.zeros((len(nodes), 4))
    dest_ok = np.zeros(len(nodes), dtype=bool)
    notes: list[str | None] = []
    flags = {"nodes_without_pod_slots": 0, "pods_on_unknown_nodes": 0, "pods_missing_requests": 0}
    for i, node in enumerate(nodes):
        cap, note = _node_capacity(node)
        alloc[i] = cap
        if note is None and node.allocatable.pods <= 0:
            flags["nodes_without_pod_slots"] += 1
        if note is None and not node.ready:
            note = f"node {node.name} is not Ready; left out of the plan"
        elif note is None and node.unschedulable:
            note = f"node {node.name} is cordoned (probably being drained already); left out of the plan"
        notes.append(note)
        dest_ok[i] = note is None

    pods: list[Pod] = []
    homes: list[int] = []
    roles: list[int] = []
    reqs: list[tuple[float, float, float, float]] = []
    missing: list[tuple[str, ...]] = []
    for pod in sorted(cluster.pods, key=lambda p: (p.namespace, p.name)):
        if pod.phase not in _ACTIVE_PHASES:
            continue  # Succeeded/Failed pods hold no resources
        if pod.node_name is None:
            home, role = -1, PENDING
        elif pod.node_name in node_index:
            home, role = node_index[pod.node_name], (DAEMON if is_daemon(pod) else WORKLOAD)
        else:
            flags["pods_on_unknown_nodes"] += 1
            continue
        req, miss = pod_requests(pod)
        if miss:
            flags["pods_missing_requests"] += 1
        pods.append(pod)
        homes.append(home)
        roles.append(role)
        reqs.append(req)
        missing.append(miss)

    req_arr = np.array(reqs, dtype=np.float64).reshape(-1, 4)
    home_arr = np.array(homes, dtype=np.int64)
    used = np.zeros((len(nodes), 4))
    bound = home_arr >= 0
    np.add.at(used, home_arr[bound], req_arr[bound])

    sig_ids: dict[Signature, int] = {}
    fit_rows: list[BoolArray] = []
    aff_rows: list[BoolArray] = []
    sig = np.zeros(len(pods), dtype=np.int64)
    for p, pod in enumerate(pods):
        key = signature(pod)
        sid = sig_ids.get(key)
        if sid is None:
            fits, aff = static_masks(pod, nodes, zones)
            sid = sig_ids[key] = len(fit_rows)
            fit_rows.append(fits & dest_ok)
            aff_rows.append(aff)
        sig[p] = sid
    fit_masks = np.array(fit_rows, dtype=bool).reshape(-1, len(nodes))
    aff_masks = np.array(aff_rows, dtype=bool).reshape(-1, len(nodes))
    return ClusterModel(
        cluster=cluster,
        nodes=nodes,
        zones=zones,
        alloc=alloc,
        used=used,
        dest_ok=dest_ok,
        node_notes=notes,
        pods=pods,
        req=req_arr,
        home=home_arr,
        role=np.array(roles, dtype=np.int8),
        missing=missing,
        sig=sig,
        fit_masks=fit_masks,
        aff_masks=aff_masks,
        node_index=node_index,
        flags=flags,
    )
