"""What the pods of one node allow: may they run on Spot, which risk preset applies, how long a drain takes.

Called by `engine.py` for every node. A pod keeps its node on-demand when it opted out, must not be
evicted, requires on-demand capacity or pins the instance type, has no controller to recreate it,
or is stateful; its class (web or batch) caps the Spot Advisor bucket. The drain estimate is what
the 120 s notice must cover: pods are evicted in parallel, but a PodDisruptionBudget lets only
`disruptions_allowed` of its pods go at a time, so a workload drains in waves of its grace period.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from engines.binpack.constraints import affinity_matches, referenced_keys, selector_matches
from engines.snapshot import ClusterState, DisruptionBudget, Node, Pod, Workload
from engines.spot_optimizer.settings import SpotOptimizerSettings

CLASSES = ("web", "batch", "stateful")
DEFAULT_GRACE_S = 30  # Kubernetes' terminationGracePeriodSeconds default, used when the collector did not read it
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"
# Labels that say which capacity a node is; the new node carries the Spot value.
CAPACITY_LABELS = {"karpenter.sh/capacity-type": "spot", "eks.amazonaws.com/capacityType": "SPOT"}
# A pod that selects on these would not follow a move to other instance types.
TYPE_KEYS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type",
             "karpenter.k8s.aws/instance-family", "karpenter.k8s.aws/instance-size")  # fmt: skip
_LIVE = ("Running", "Pending")


@dataclass(frozen=True)
class Drain:
    """How long the node's pods take to leave it, and what sets that time."""

    seconds: int
    slowest: str
    defaulted_grace: int  # pods whose terminationGracePeriodSeconds was not read (30 s assumed)


@dataclass
class NodePods:
    """The verdict on one node's pods: blockers (any one keeps the node on-demand), the class of
    every workload pod, the strictest bucket cap and the drain estimate."""

    workload: list[Pod] = field(default_factory=list)
    daemons: list[Pod] = field(default_factory=list)  # DaemonSet and mirror pods: they follow the node
    blockers: list[str] = field(default_factory=list)
    evict_blockers: list[str] = field(default_factory=list)  # the subset that forbids any drain at all
    classes: dict[str, int] = field(default_factory=dict)  # class -> pod count
    max_bucket: int = 4
    drain: Drain = Drain(0, "no pods to evict", 0)


class PodIndex:
    """Pods by node, workloads and namespaces by key, PDBs by namespace: built once per scan."""

    def __init__(self, cluster: ClusterState) -> None:
        self.by_node: dict[str, list[Pod]] = {}
        for pod in cluster.pods:
            if pod.node_name and pod.phase in _LIVE:
                self.by_node.setdefault(pod.node_name, []).append(pod)
        self.workloads: dict[tuple[str, str, str], Workload] = {
            (w.namespace, w.kind, w.name): w for w in cluster.workloads
        }
        self.namespaces: dict[str, Mapping[str, str]] = {n.name: n.annotations for n in cluster.namespaces}
        self.pdbs: dict[str, list[DisruptionBudget]] = {}
        for pdb in cluster.pdbs:
            self.pdbs.setdefault(pdb.namespace, []).append(pdb)

    def workload_of(self, pod: Pod) -> Workload | None:
        if not pod.owner_kind or not pod.owner_name:
            return None
        return self.workloads.get((pod.namespace, pod.owner_kind, pod.owner_name))

    def pdb_of(self, pod: Pod) -> DisruptionBudget | None:
        for pdb in self.pdbs.get(pod.namespace, []):
            if (pdb.selector.match_labels or pdb.selector.match_expressions) and selector_matches(
                pdb.selector, pod.labels
            ):
                return pdb
        return None


def _who(pod: Pod) -> str:
    return f"pod {pod.namespace}/{pod.name}"


def workload_class(pod: Pod, workload: Workload | None, key: str) -> str:
    """The class named on the pod (annotation, then label), else on its workload, else inferred."""
    for source in (pod.annotations, pod.labels, *((workload.annotations, workload.labels) if workload else ())):
        if key in source:
            return str(source[key]).strip().lower()
    if pod.owner_kind in ("Job", "CronJob"):
        return "batch"
    if pod.owner_kind == "StatefulSet":
        return "stateful"
    return "web"


def _blocker(pod: Pod, node: Node, index: PodIndex, s: SpotOptimizerSettings, cls: str) -> tuple[str, bool] | None:
    """Why this pod keeps its node on-demand, and whether it forbids any drain at all; None = no reason."""
    ns = index.namespaces.get(pod.namespace, {})
    workload = index.workload_of(pod)
    if pod.annotations.get(s.opt_out_annotation) == "true" or ns.get(s.opt_out_annotation) == "true":
        return f"{_who(pod)} opted out ({s.opt_out_annotation}: true on the pod or its namespace)", True
    if pod.annotations.get(DO_NOT_DISRUPT) == "true" or pod.annotations.get(SAFE_TO_EVICT) == "false":
        return f"{_who(pod)} may not be evicted ({DO_NOT_DISRUPT} or {SAFE_TO_EVICT}=false)", True
    for what, notes in (("pod", pod.annotations), ("workload", workload.annotations if workload else {}),
                        ("namespace", ns)):  # fmt: skip
        if notes.get(s.spot_opt_out_annotation, "").lower() == "never":
            return f"{_who(pod)} must not run on Spot ({s.spot_opt_out_annotation}: never on its {what})", False
    spot_labels = {**node.labels, **CAPACITY_LABELS}
    if set(referenced_keys(pod)) & set(CAPACITY_LABELS) and not affinity_matches(pod, spot_labels):
        return (
            f"{_who(pod)} requires on-demand capacity (its nodeSelector or node affinity names the capacity type)",
            False,
        )
    pinned = sorted(set(referenced_keys(pod)) & set(TYPE_KEYS))
    if pinned:
        return f"{_who(pod)} selects its node by {', '.join(pinned)}: it would not follow a move to other types", False
    if cls not in CLASSES:
        return f"{_who(pod)} has an unknown workload class {cls!r} (use web, batch or stateful)", False
    if cls == "stateful":
        return (f"{_who(pod)} is stateful ({pod.owner_kind or 'class'} {pod.owner_name or cls}): annotate it "
                f"{s.class_annotation}: web or batch to allow Spot"), False  # fmt: skip
    if not pod.owner_kind:
        return f"{_who(pod)} has no controller: an interrupted pod would not be recreated", False
    return None


def _drain(pods: Sequence[Pod], index: PodIndex, blockers: list[str]) -> Drain:
    """Per workload: waves of its PDB slack times its longest grace period; the node takes the slowest."""
    groups: dict[tuple[str, str], list[Pod]] = {}
    for pod in pods:
        groups.setdefault((pod.namespace, pod.owner_name or pod.name), []).append(pod)
    best = Drain(0, "no pods to evict", 0)
    defaulted = sum(1 for p in pods if p.termination_grace_period_s is None)
    for (namespace, name), members in sorted(groups.items()):
        grace = max(DEFAULT_GRACE_S if p.termination_grace_period_s is None else p.termination_grace_period_s
                    for p in members)  # fmt: skip
        pdb = index.pdb_of(members[0])
        slack = None if pdb is None else pdb.disruptions_allowed
        if pdb is not None and slack == 0:
            blockers.append(f"PodDisruptionBudget {namespace}/{pdb.name} allows no disruption now: pods of "
                            f"{namespace}/{name} cannot be evicted inside the notice")  # fmt: skip
            continue
        per_wave = len(members) if pdb is None else (slack or 1)  # slack unknown: one at a time
        waves = math.ceil(len(members) / per_wave)
        seconds = waves * grace
        if seconds > best.seconds:
            how = f"{len(members)} pod(s), grace {grace} s"
            if pdb is not None:
                how += f", {per_wave} at a time by PodDisruptionBudget {pdb.name}"
            best = Drain(seconds, f"{namespace}/{name} ({how})", defaulted)
    return Drain(best.seconds, best.slowest, defaulted)


def assess_node(node: Node, index: PodIndex, s: SpotOptimizerSettings) -> NodePods:
    """The node's pods as the Spot decision sees them (DaemonSet and mirror pods follow the node)."""
    out = NodePods()
    for pod in index.by_node.get(node.name, []):
        if pod.owner_kind == "DaemonSet" or pod.is_mirror:
            out.daemons.append(pod)
            continue
        out.workload.append(pod)
        cls = workload_class(pod, index.workload_of(pod), s.class_annotation)
        out.classes[cls] = out.classes.get(cls, 0) + 1
        found = _blocker(pod, node, index, s, cls)
        if found is not None:
            out.blockers.append(found[0])
            if found[1]:
                out.evict_blockers.append(found[0])
        elif cls == "web":
            out.max_bucket = min(out.max_bucket, s.web_max_bucket)
        else:
            out.max_bucket = min(out.max_bucket, s.batch_max_bucket)
    before = len(out.blockers)
    out.drain = _drain(out.workload, index, out.blockers)
    out.evict_blockers += out.blockers[before:]  # a PodDisruptionBudget at zero blocks every drain
    return out
