"""Node groups and what their pods need: the unit the Spot optimizer ranks types for.

Called by `engine.py`. On-demand nodes are grouped by their node group (EKS managed node group,
Karpenter NodePool or eksctl label) and instance type, or by instance type alone; a group's type set
must hold the busiest node of the group in every dimension, so one set serves all its nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from engines.contract import InstanceSpec
from engines.snapshot import Container, Node, Pod
from engines.spot.ranking import DEFAULT_USABLE_FRACTION, PodNeeds, normalize_architecture

GROUP_LABELS = ("eks.amazonaws.com/nodegroup", "karpenter.sh/nodepool", "alpha.eksctl.io/nodegroup-name")
ARCH_LABEL = "kubernetes.io/arch"
ASG_TAG = "aws:autoscaling:groupName"


@dataclass(frozen=True)
class GroupKey:
    group: str  # "eks.amazonaws.com/nodegroup=web" or "" when the node carries no group label
    instance_type: str

    def label(self) -> str:
        return f"{self.group} ({self.instance_type})" if self.group else f"{self.instance_type} nodes"


def group_key(node: Node) -> GroupKey:
    for label in GROUP_LABELS:
        if node.labels.get(label):
            return GroupKey(f"{label}={node.labels[label]}", node.instance_type or "")
    return GroupKey("", node.instance_type or "")


def _sum(containers: Iterable[Container]) -> tuple[int, int]:
    cpu = mem = 0
    for c in containers:
        cpu += round((c.cpu_request or 0.0) * 1000)
        mem += c.memory_request or 0
    return cpu, mem


def _peak(containers: Iterable[Container]) -> tuple[int, int]:
    sizes = [_sum((c,)) for c in containers]
    return max((s[0] for s in sizes), default=0), max((s[1] for s in sizes), default=0)


def node_needs(node: Node, pods: Sequence[Pod], spec: InstanceSpec | None) -> PodNeeds:
    """Requests of every pod on the node, DaemonSets included (they follow it); init containers run
    first, so a pod needs the larger of their peak and its containers' sum. GPUs: pod requests do
    not carry them in the snapshot, so a GPU node's replacement keeps its GPU count."""
    cpu = mem = 0
    for pod in pods:
        main, init = _sum(pod.containers), _peak(pod.init_containers)
        cpu += max(main[0], init[0])
        mem += max(main[1], init[1])
    arch = node.labels.get(ARCH_LABEL) or (spec.architectures[0] if spec and spec.architectures else "x86_64")
    return PodNeeds(cpu_millicores=cpu, memory_bytes=mem, pods=len(pods),
                    architecture=normalize_architecture(arch), gpus=spec.gpu_count if spec else 0)  # fmt: skip


def merge(needs: Sequence[PodNeeds]) -> PodNeeds:
    """The busiest node of a group in every dimension (same architecture within a group)."""
    return PodNeeds(
        cpu_millicores=max(n.cpu_millicores for n in needs),
        memory_bytes=max(n.memory_bytes for n in needs),
        pods=max(n.pods for n in needs),
        architecture=needs[0].architecture,
        gpus=max(n.gpus for n in needs),
    )


def at_least_node(needs: PodNeeds, spec: InstanceSpec, usable: Decimal = DEFAULT_USABLE_FRACTION) -> PodNeeds:
    """Needs raised to the current type's size, so the ranking (which packs against `usable` of a
    type) accepts the current type and nothing smaller."""
    cpu = int(Decimal(spec.vcpu * 1000) * usable)
    memory = int(Decimal(spec.memory_mib * 2**20) * usable)
    return replace(needs, cpu_millicores=max(needs.cpu_millicores, cpu), memory_bytes=max(needs.memory_bytes, memory))


def rotated(types: Sequence[str], position: int) -> tuple[str, ...]:
    """The set starting at `position`: node i of a zone prefers type i of the set, so the group's
    nodes land in different pools and one capacity event takes at most a share of them."""
    if not types:
        return ()
    k = position % len(types)
    return tuple(types[k:]) + tuple(types[:k])
