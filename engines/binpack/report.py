"""Words and numbers an analyst reads: rationale sentences, evidence, risk and confidence.

Called by `engine.py` for every recommendation. Evidence holds plain JSON values only (numbers,
strings, booleans, lists of strings) so it stores, exports and diffs cleanly.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from engines.binpack.blockers import Disruption
from engines.binpack.model import CPU, DAEMON, EPH, MEM, PODS, WORKLOAD, ClusterModel, FloatArray
from engines.binpack.pricing import money
from engines.contract import Risk

GIB = 2**30


def pct(used: float, total: float) -> float:
    return round(100.0 * used / total, 1) if total > 0 and total != float("inf") else 0.0


def name_list(names: list[str], limit: int = 3) -> str:
    if len(names) <= 1:
        return "".join(names)
    if len(names) <= limit:
        return ", ".join(names[:-1]) + " and " + names[-1]
    return ", ".join(names[:limit]) + f" and {len(names) - limit} other nodes"


def disruption(model: ClusterModel, dis: Disruption, pods: list[int]) -> tuple[int, int, int]:
    """(PDB-covered pods, stateful pods, score); the score weighs a PDB pod 2 and a stateful pod 3
    on top of the 1 every evicted pod costs, because those are the evictions that hurt."""
    covered = sum(1 for p in pods if dis.pod_pdbs[p])
    stateful = sum(1 for p in pods if dis.stateful[p])
    return covered, stateful, len(pods) + 2 * covered + 3 * stateful


def risk_of(score: int, stateful: int) -> Risk:
    """low: a few stateless evictions; high: many evictions or several stateful pods."""
    if stateful == 0 and score <= 6:
        return "low"
    if score > 25 or stateful >= 3:
        return "high"
    return "medium"


def confidence(model: ClusterModel, pods: list[int], base: float, constrained: int) -> float:
    """Lower when moved pods lack requests (they may not fit as planned), when pods are pending in
    the cluster, or when anti-affinity/spread let the scheduler choose other nodes than planned."""
    value = base
    if pods:
        value -= 0.3 * sum(1 for p in pods if model.missing[p]) / len(pods)
        value -= 0.05 if constrained else 0.0
    if (model.home < 0).any():
        value -= 0.1
    return round(min(1.0, max(0.3, value)), 2)


def node_evidence(model: ClusterModel, dis: Disruption, n: int, pods: list[int], daemons: int) -> dict[str, Any]:
    """Requests, utilisation and disruption facts of node n whose workload pods `pods` are evicted."""
    node = model.nodes[n]
    alloc, used = model.alloc[n], model.used[n]
    covered, stateful, score = disruption(model, dis, pods)
    missing = [
        f"{model.pods[p].namespace}/{model.pods[p].name} ({', '.join(model.missing[p])})"
        for p in pods
        if model.missing[p]
    ]
    ev: dict[str, Any] = {
        "node": node.name,
        "instance_type": node.instance_type or "",
        "capacity_type": node.capacity_type,
        "zone": model.zones[n] or "",
        "allocatable_cpu_cores": round(float(alloc[CPU]), 3),
        "allocatable_memory_bytes": int(alloc[MEM]),
        "allocatable_pods": int(alloc[PODS]),
        "requested_cpu_cores": round(float(used[CPU]), 3),
        "requested_memory_bytes": int(used[MEM]),
        "requested_ephemeral_storage_bytes": int(used[EPH]),
        "cpu_requested_percent": pct(float(used[CPU]), float(alloc[CPU])),
        "memory_requested_percent": pct(float(used[MEM]), float(alloc[MEM])),
        "pods_on_node": len(pods) + daemons,
        "daemonset_pods": daemons,
        "pods_moved": len(pods),
        "pdb_covered_pods": covered,
        "stateful_pods": stateful,
        "disruption_score": score,
        "missing_requests": bool(missing),
        "pods_missing_requests": missing,
    }
    return ev


def removal_rationale(
    model: ClusterModel, n: int, pods: list[int], dests: list[str], saving: Decimal, daemons: int
) -> str:
    node = model.nodes[n]
    label = f"Node {node.name}" + (f" ({node.instance_type})" if node.instance_type else "")
    if not pods:
        return f"{label} runs no workload pods, only {daemons} DaemonSet or static pods; removing it saves {money(saving)}/month."
    cpu = pct(float(model.used[n, CPU]), float(model.alloc[n, CPU]))
    mem = pct(float(model.used[n, MEM]), float(model.alloc[n, MEM]))
    counted = Counter(dests)
    where = name_list(sorted(counted, key=lambda d: (-counted[d], d)))
    noun, fit = ("pod", "it fits") if len(pods) == 1 else ("pods", "they fit")
    return (
        f"{label} runs {len(pods)} {noun} using {cpu:g}% of its CPU and {mem:g}% of its memory; "
        f"{fit} on {where}, saving {money(saving)}/month."
    )


def replacement_rationale(
    model: ClusterModel,
    n: int,
    to_type: str,
    current: Decimal,
    new: Decimal,
    pods: list[int],
    used: FloatArray,
    received: int,
) -> str:
    node = model.nodes[n]
    noun = "pod" if len(pods) == 1 else "pods"
    runs = f"will run {len(pods)} {noun} ({received} moved in by this plan)" if received else f"runs {len(pods)} {noun}"
    return (
        f"Node {node.name} ({node.instance_type}) {runs} needing {used[CPU]:.2f} CPU and "
        f"{used[MEM] / GIB:.1f} GiB including DaemonSets; a {to_type} fits them for {money(new)}/month "
        f"instead of {money(current)}, saving {money(current - new)}/month."
    )


def pods_by_node(model: ClusterModel) -> tuple[list[list[int]], list[int]]:
    """Workload pods of every node (by index) and its count of DaemonSet/static pods."""
    workloads: list[list[int]] = [[] for _ in range(model.n_nodes)]
    daemons = [0] * model.n_nodes
    for p, (n, role) in enumerate(zip(model.home.tolist(), model.role.tolist(), strict=True)):
        if n < 0:
            continue
        if role == WORKLOAD:
            workloads[n].append(p)
        elif role == DAEMON:
            daemons[n] += 1
    return workloads, daemons
