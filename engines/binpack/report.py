"""Words and numbers an analyst reads: rationale sentences, evidence, risk and confidence.

Called by `engine.py` for every recommendation. Evidence keeps what is measured apart from what
is projected: top-level keys are facts that hold either way (the node's identity, the plan's
moves and blockers, price sources, the saving); `before` is the node as the snapshot shows it now
and `after` what the plan makes of it, with the same key for the same quantity so a page can show
them side by side. Keys carry their unit (`_cpu_cores`, `_bytes`, `_percent`, `_monthly_usd`,
`_pods`) and values are plain JSON (numbers, strings, booleans, lists and dicts of those), so
evidence stores, exports and diffs cleanly. Rationale sentences are written from those same
dicts, so their numbers cannot drift from the evidence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from engines.binpack.blockers import Disruption
from engines.binpack.model import CPU, DAEMON, EPH, MEM, PODS, WORKLOAD, ClusterModel, FloatArray, IntArray
from engines.binpack.pricing import money
from engines.contract import Risk
from engines.snapshot import Node

GIB = 2**30

Evidence = dict[str, Any]


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


def node_facts(model: ClusterModel, dis: Disruption, n: int, pods: list[int], price_source: str) -> Evidence:
    """Top-level evidence of node n whose workload pods `pods` the action evicts: who the node is
    and what evicting those pods risks (true before and after alike)."""
    node = model.nodes[n]
    covered, stateful, score = disruption(model, dis, pods)
    missing = [
        f"{model.pods[p].namespace}/{model.pods[p].name} ({', '.join(model.missing[p])})"
        for p in pods
        if model.missing[p]
    ]
    return {
        "node": node.name,
        "instance_type": node.instance_type or "",
        "capacity_type": node.capacity_type,
        "zone": model.zones[n] or "",
        "price_source": price_source,
        "moved_pods": len(pods),
        "pdb_covered_pods": covered,
        "stateful_pods": stateful,
        "disruption_score": score,
        "missing_requests": bool(missing),
        "pods_missing_requests": missing,
    }


def state(
    instance_type: str,
    capacity_type: str,
    monthly: Decimal,
    alloc: Sequence[float],
    used: FloatArray,
    workload_pods: int,
    daemons: int,
    estimated: bool,
) -> Evidence:
    """One side of the before/after comparison: a node of `instance_type` offering `alloc` (CPU
    cores, memory bytes, pod slots) with `used` requested (DaemonSets included) by its pods."""
    return {
        "removed": False,
        "instance_type": instance_type,
        "capacity_type": capacity_type,
        "cost_monthly_usd": str(monthly),
        "pods": workload_pods + daemons,
        "workload_pods": workload_pods,
        "daemonset_pods": daemons,
        "allocatable_cpu_cores": round(float(alloc[0]), 3),
        "allocatable_memory_bytes": int(alloc[1]),
        "allocatable_pods": int(alloc[2]),
        # The collector reports the allocatable of a running node; a new type's is the EKS formula.
        "allocatable_estimated": estimated,
        "requested_cpu_cores": round(float(used[CPU]), 3),
        "requested_memory_bytes": int(used[MEM]),
        "requested_ephemeral_storage_bytes": int(used[EPH]),
        "requested_cpu_percent": pct(float(used[CPU]), float(alloc[0])),
        "requested_memory_percent": pct(float(used[MEM]), float(alloc[1])),
    }


def measured(model: ClusterModel, n: int, monthly: Decimal, workload_pods: int, daemons: int) -> Evidence:
    """`before`: node n as the snapshot shows it, before any move of the plan."""
    node = model.nodes[n]
    alloc = model.alloc[n]
    return state(
        node.instance_type or "",
        node.capacity_type,
        monthly,
        (alloc[CPU], alloc[MEM], alloc[PODS]),
        model.used[n],
        workload_pods,
        daemons,
        estimated=False,
    )


def removed_state(destination_nodes: list[Evidence]) -> Evidence:
    """`after` of a drained node: gone, so nothing runs or is paid for there; no instance type and
    no percentages (a share of nothing is not 0 %). Its pods are on `destination_nodes`."""
    return {
        "removed": True,
        "cost_monthly_usd": "0.00",
        "pods": 0,
        "workload_pods": 0,
        "daemonset_pods": 0,
        "allocatable_cpu_cores": 0.0,
        "allocatable_memory_bytes": 0,
        "allocatable_pods": 0,
        "requested_cpu_cores": 0.0,
        "requested_memory_bytes": 0,
        "requested_ephemeral_storage_bytes": 0,
        "destination_nodes": destination_nodes,
    }


def projection(model: ClusterModel, loc: IntArray) -> tuple[FloatArray, IntArray]:
    """Requests and pod count of every node once the whole plan is applied (every drain and the
    pending pods it places): the state the plan checked its headroom against. Once per scan."""
    placed = loc >= 0
    used = np.zeros((model.n_nodes, 4))
    np.add.at(used, loc[placed], model.req[placed])
    return used, np.bincount(loc[placed], minlength=model.n_nodes).astype(np.int64)


def landing(model: ClusterModel, dests: list[str], projected: tuple[FloatArray, IntArray]) -> list[Evidence]:
    """Where a drain's pods go (`dests`, one name per pod), most first, with each destination's
    projected pods and utilisation on its current type."""
    used, pods = projected
    counted = Counter(dests)
    out: list[Evidence] = []
    for name in sorted(counted, key=lambda d: (-counted[d], d)):
        d = model.node_index[name]
        out.append(
            {
                "node": name,
                "moved_pods": counted[name],
                "pods": int(pods[d]),
                "requested_cpu_percent": pct(float(used[d, CPU]), float(model.alloc[d, CPU])),
                "requested_memory_percent": pct(float(used[d, MEM]), float(model.alloc[d, MEM])),
            }
        )
    return out


def _label(node: Node) -> str:
    return f"Node {node.name}" + (f" ({node.instance_type})" if node.instance_type else "")


def _pods(count: int) -> str:
    return f"{count} pod" if count == 1 else f"{count} pods"


def removal_rationale(node: Node, before: Evidence, after: Evidence, saving: Decimal) -> str:
    """The drain in one sentence, from its `before` and `after` evidence."""
    moved = int(before["workload_pods"])
    if not moved:
        return (
            f"{_label(node)} runs no workload pods, only {before['daemonset_pods']} DaemonSet or static pods; "
            f"removing it saves {money(saving)}/month."
        )
    where = name_list([d["node"] for d in after["destination_nodes"]])
    fit = "it fits" if moved == 1 else "they fit"
    return (
        f"{_label(node)} runs {_pods(moved)} using {before['requested_cpu_percent']:g}% of its CPU and "
        f"{before['requested_memory_percent']:g}% of its memory; {fit} on {where}, saving {money(saving)}/month."
    )


def replacement_rationale(node: Node, before: Evidence, after: Evidence, received: int) -> str:
    """The replacement in one sentence, from its `before` and `after` evidence; a node that the
    plan's drains fill says how many pods it runs now and how many it will run."""
    will = int(after["workload_pods"])
    if received:
        runs = f"runs {_pods(int(before['workload_pods']))} now and will run {will} ({received} moved in by this plan)"
    else:
        runs = f"runs {_pods(will)}"
    current, new = Decimal(before["cost_monthly_usd"]), Decimal(after["cost_monthly_usd"])
    return (
        f"{_label(node)} {runs} needing {after['requested_cpu_cores']:.2f} CPU and "
        f"{after['requested_memory_bytes'] / GIB:.1f} GiB including DaemonSets; a {after['instance_type']} fits "
        f"them for {money(new)}/month instead of {money(current)}, saving {money(current - new)}/month."
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
