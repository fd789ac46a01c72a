"""Which pods may be evicted and which nodes may be drained: annotations, controllers, PDBs.

Called by `engine.py` after `model.build_model`. Rules follow the Cluster Autoscaler's scale-down
checks, Karpenter's do-not-disrupt and CAST AI's Evictor: a pod that would be lost, refused by
the Eviction API or explicitly protected blocks its node, with a reason naming the pod.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from engines.binpack.constraints import selector_matches
from engines.binpack.model import WORKLOAD, ClusterModel
from engines.binpack.pricing import money
from engines.binpack.settings import BinPackSettings
from engines.money import ZERO
from engines.snapshot import DisruptionBudget, Pod

DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"


@dataclass
class Disruption:
    pod_block: list[str | None]  # per pod: why it may not be evicted
    node_block: list[str | None]  # per node: why it may not be drained
    pdb_names: list[str]
    pdb_allowed: list[int]
    pod_pdbs: list[tuple[int, ...]]  # per pod: indices of the PDBs selecting it
    stateful: npt.NDArray[np.bool_]  # per pod: StatefulSet member or PVC user


def _is_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "true"


def _scaled(value: str, total: int) -> int:
    """An IntOrString of a PDB: "50%" of total, rounded up as the disruption controller does."""
    text = value.strip()
    if text.endswith("%"):
        return math.ceil(total * float(text[:-1]) / 100.0)
    return int(text)


def allowed_disruptions(pdb: DisruptionBudget, matched: list[Pod]) -> int:
    """Evictions the budget allows now: the status field when collected, else recomputed."""
    if pdb.disruptions_allowed is not None:
        return max(0, pdb.disruptions_allowed)
    expected = pdb.expected_pods if pdb.expected_pods is not None else len(matched)
    healthy = sum(1 for p in matched if p.phase == "Running" and p.node_name)
    try:
        if pdb.max_unavailable is not None:
            return max(0, _scaled(pdb.max_unavailable, expected) - (expected - healthy))
        if pdb.min_available is not None:
            return max(0, healthy - _scaled(pdb.min_available, expected))
    except ValueError:
        return 0  # an unreadable budget is treated as the strictest one
    return healthy


def _pod_reason(pod: Pod, settings: BinPackSettings, ns_opt_out: set[str], covered: bool) -> str | None:
    who = f"pod {pod.namespace}/{pod.name}"
    ann = pod.annotations
    if _is_true(ann.get(settings.opt_out_annotation)):
        return f"{who} carries the opt-out annotation {settings.opt_out_annotation}"
    if pod.namespace in ns_opt_out:
        return f"{who} is in namespace {pod.namespace}, which opted out ({settings.opt_out_annotation})"
    if _is_true(ann.get(DO_NOT_DISRUPT)):
        return f'{who} has {DO_NOT_DISRUPT}: "true"'
    safe = ann.get(SAFE_TO_EVICT, "").strip().lower()
    if safe == "false":
        return f'{who} has {SAFE_TO_EVICT}: "false"'
    if pod.namespace in settings.protected_namespaces:
        if pod.priority_class_name in settings.critical_priority_classes:
            return f"{who} is a critical pod ({pod.priority_class_name}) in protected namespace {pod.namespace}"
        if not covered:
            return f"{who} is in protected namespace {pod.namespace} and no PodDisruptionBudget covers it"
    if safe == "true":
        return None  # the owner vouched for it: bare and local-storage pods may go
    if pod.owner_kind is None and pod.controller_kind is None:
        return f"{who} has no controller, so evicting it would delete it for good"
    if pod.has_local_storage:
        return f"{who} uses local storage (emptyDir or hostPath) that eviction would lose"
    return None


def assess(model: ClusterModel, settings: BinPackSettings) -> Disruption:
    """Blockers per pod and per node, and each PDB's allowance, for the whole cluster."""
    cluster = model.cluster
    by_ns: dict[str, list[int]] = defaultdict(list)
    for p, pod in enumerate(model.pods):
        by_ns[pod.namespace].append(p)
    pdbs = sorted(cluster.pdbs, key=lambda b: (b.namespace, b.name))
    pod_pdbs: list[list[int]] = [[] for _ in model.pods]
    names: list[str] = []
    allowed: list[int] = []
    for b, pdb in enumerate(pdbs):
        matched = [p for p in by_ns.get(pdb.namespace, []) if selector_matches(pdb.selector, model.pods[p].labels)]
        for p in matched:
            pod_pdbs[p].append(b)
        names.append(f"{pdb.namespace}/{pdb.name}")
        allowed.append(allowed_disruptions(pdb, [model.pods[p] for p in matched]))

    ns_opt_out = {ns.name for ns in cluster.namespaces if _is_true(ns.annotations.get(settings.opt_out_annotation))}
    pod_block: list[str | None] = []
    stateful = np.zeros(len(model.pods), dtype=bool)
    for p, pod in enumerate(model.pods):
        stateful[p] = pod.owner_kind == "StatefulSet" or bool(pod.pvc_names)
        if model.role[p] != WORKLOAD:
            pod_block.append(None)
            continue
        reason = _pod_reason(pod, settings, ns_opt_out, bool(pod_pdbs[p]))
        if reason is None and len(pod_pdbs[p]) > 1:
            reason = (
                f"pod {pod.namespace}/{pod.name} is selected by {len(pod_pdbs[p])} PodDisruptionBudgets, "
                "which the Eviction API refuses"
            )
        if reason is None and pod_pdbs[p] and allowed[pod_pdbs[p][0]] == 0:
            reason = (
                f"PodDisruptionBudget {names[pod_pdbs[p][0]]} allows no disruption now (pod {pod.namespace}/{pod.name})"
            )
        pod_block.append(reason)

    node_block: list[str | None] = []
    for node in model.nodes:
        if _is_true(node.annotations.get(settings.opt_out_annotation)):
            node_block.append(f"node {node.name} carries the opt-out annotation {settings.opt_out_annotation}")
        elif _is_true(node.annotations.get(DO_NOT_DISRUPT)) or _is_true(node.labels.get(DO_NOT_DISRUPT)):
            node_block.append(f'node {node.name} has {DO_NOT_DISRUPT}: "true"')
        else:
            node_block.append(None)
    # A drain evicts a node's pods together, so no budget may cover more of them than it allows.
    per_node: dict[tuple[int, int], int] = defaultdict(int)
    for p, budgets in enumerate(pod_pdbs):
        if model.role[p] == WORKLOAD and len(budgets) == 1:
            per_node[(int(model.home[p]), budgets[0])] += 1
    for (n, b), count in sorted(per_node.items()):
        if node_block[n] is None and count > allowed[b] > 0:
            node_block[n] = (
                f"draining node {model.nodes[n].name} would evict {count} pods of PodDisruptionBudget "
                f"{names[b]} at once, which allows {allowed[b]}"
            )
    return Disruption(
        pod_block=pod_block,
        node_block=node_block,
        pdb_names=names,
        pdb_allowed=allowed,
        pod_pdbs=[tuple(x) for x in pod_pdbs],
        stateful=stateful,
    )


def ineligible(
    model: ClusterModel, dis: Disruption, s: BinPackSettings, n: int, pods: list[int], cost: Decimal | None
) -> str | None:
    """Why node n may not be drained at all, checked before planning (cheapest first)."""
    node = model.nodes[n]
    if model.node_notes[n] is not None:
        return model.node_notes[n]
    if dis.node_block[n] is not None:
        return dis.node_block[n]
    blocked = [p for p in pods if dis.pod_block[p] is not None]
    if blocked:
        more = f" (and {len(blocked) - 1} more pods that may not move)" if len(blocked) > 1 else ""
        return f"node {node.name} was kept: {dis.pod_block[blocked[0]]}{more}"
    if len(pods) > s.max_pods_moved_per_node:
        return (
            f"node {node.name} runs {len(pods)} pods, more than max_pods_moved_per_node ({s.max_pods_moved_per_node})"
        )
    saving = cost or ZERO
    if saving < s.savings_floor_monthly_usd:
        return (
            f"removing node {node.name} would save {money(saving)}/month, below the savings "
            f"floor of {money(s.savings_floor_monthly_usd)}"
        )
    if saving < s.disruption_cost_per_pod_usd * len(pods):
        return (
            f"removing node {node.name} would save {money(saving)}/month for {len(pods)} evicted "
            f"pods, less than {money(s.disruption_cost_per_pod_usd)} per pod"
        )
    return None


def removable_nodes(
    model: ClusterModel,
    dis: Disruption,
    settings: BinPackSettings,
    costs: list[Decimal | None],
    workloads: list[list[int]],
) -> list[int]:
    """Nodes the planner may try to remove: priced, drainable and worth the disruption."""
    return [
        n
        for n in range(model.n_nodes)
        if costs[n] is not None and ineligible(model, dis, settings, n, workloads[n], costs[n]) is None
    ]
