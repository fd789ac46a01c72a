"""One recommendation's change applied to a copy of a snapshot, for the plan simulation.

Called by `app.services.plan_simulation.simulate` only. Each applier returns the changed snapshot
and a short note, or, as a value, the reason the change cannot be modelled on a snapshot (a node
an earlier step removed, a schedule that saves only off-hours, traffic routing). Snapshots are
frozen pydantic models, so every change is a `model_copy`; the caller's snapshot is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

from engines.actions import (
    DrainAndRemoveNode,
    ModifyVolumeType,
    MoveToSpot,
    ReplaceNodeType,
    SetRequestsLimits,
    SnapshotAndDeleteVolume,
    StopInstance,
    TerminateInstance,
)
from engines.contract import Recommendation
from engines.snapshot import ClusterState, Container, Node, Pod
from engines.snapshot_aws import Snapshot

INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
CAPACITY_LABELS = ("karpenter.sh/capacity-type", "eks.amazonaws.com/capacityType")
GIB = 2**30

# Action kinds a snapshot cannot show the effect of, and why (the engine's estimate is shown instead).
NOT_SIMULATED = {
    "schedule-scale": "an office-hours schedule saves only while scaled down, through the autoscaler removing "
                      "nodes at night; a snapshot is one moment, so its saving is the engine's estimate",
    "scale-replicas": "a replica change adds or removes pods the snapshot cannot invent; the engine's estimate "
                      "is shown",
    "set-traffic-distribution": "cross-AZ traffic cost depends on how requests are routed, which the snapshot "
                                "does not model; the engine's estimate is shown",
    "set-preferred-affinity": "a preferred affinity changes where pods are scheduled later and what traffic "
                              "crosses zones, which the snapshot does not model; the engine's estimate is shown",
}  # fmt: skip


@dataclass(frozen=True)
class Applied:
    snapshot: Snapshot
    note: str = ""


def _cluster(snapshot: Snapshot, cluster: ClusterState) -> Snapshot:
    return snapshot.model_copy(update={"cluster": cluster})


def _node(cluster: ClusterState, name: str) -> Node | None:
    return next((n for n in cluster.nodes if n.name == name), None)


def _gone(name: str, touched: dict[str, int]) -> str:
    step = touched.get(name)
    where = f" by step {step + 1}" if step is not None else ""
    return f"node {name} is no longer in the snapshot (removed{where}), so this change cannot apply to it"


def _requests(snapshot: Snapshot, a: SetRequestsLimits) -> Applied | str:
    cluster = snapshot.cluster
    if cluster is None:
        return "the snapshot has no cluster"
    changes = {k: v for k, v in (("cpu_request", a.cpu_request), ("memory_request", a.memory_request),
                                 ("cpu_limit", a.cpu_limit), ("memory_limit", a.memory_limit)) if v is not None}  # fmt: skip

    def fix(containers: tuple[Container, ...]) -> tuple[Container, ...]:
        return tuple(c.model_copy(update=changes) if c.name == a.container else c for c in containers)

    pods, hit = [], 0
    for pod in cluster.pods:
        mine = (pod.namespace == a.namespace and pod.owner_kind == a.workload_kind and pod.owner_name == a.workload_name
                and any(c.name == a.container for c in pod.containers))  # fmt: skip
        hit += mine
        pods.append(pod.model_copy(update={"containers": fix(pod.containers)}) if mine else pod)
    workloads = tuple(
        w.model_copy(update={"containers": fix(w.containers)})
        if (w.namespace, w.kind, w.name) == (a.namespace, a.workload_kind, a.workload_name) else w
        for w in cluster.workloads
    )  # fmt: skip
    if not hit:
        return f"no pod of {a.workload_kind} {a.namespace}/{a.workload_name} has a container {a.container} in the snapshot"
    new = cluster.model_copy(update={"pods": tuple(pods), "workloads": workloads})
    return Applied(_cluster(snapshot, new), f"new requests on {hit} pod(s); node cost changes only when later "
                                            "steps remove or shrink nodes")  # fmt: skip


def _drain(snapshot: Snapshot, a: DrainAndRemoveNode, touched: dict[str, int], step: int) -> Applied | str:
    cluster = snapshot.cluster
    if cluster is None or _node(cluster, a.node) is None:
        return _gone(a.node, touched)
    names = {n.name for n in cluster.nodes}
    dest = {(m.namespace, m.pod): m.to_node for m in a.moves}
    pods, pending = [], 0
    for pod in cluster.pods:
        if pod.node_name != a.node:
            pods.append(pod)
            continue
        to = dest.get((pod.namespace, pod.name))
        if to is None or to not in names or to == a.node:
            pending += not _is_daemon(pod)
            to = None
        if _is_daemon(pod):
            continue  # a DaemonSet pod goes with its node
        pods.append(pod.model_copy(update={"node_name": to}))
    touched[a.node] = step
    gone = _node(cluster, a.node)
    new = cluster.model_copy(update={"nodes": tuple(n for n in cluster.nodes if n.name != a.node), "pods": tuple(pods)})
    note = f"node {a.node} removed, {len(a.moves)} pod(s) moved"
    if pending:
        note += f"; {pending} pod(s) have no planned destination and would need a new node"
    out = _cluster(snapshot, new)
    instance = a.instance_id or (gone.instance_id if gone is not None else None)
    if instance and out.account is not None:  # the removed node's instance is terminated with it
        out = out.model_copy(update={"account": out.account.model_copy(update={"instances": tuple(
            i.model_copy(update={"state": "terminated"}) if i.instance_id == instance else i
            for i in out.account.instances)})})  # fmt: skip
    return Applied(out, note)


def _is_daemon(pod: Pod) -> bool:
    return pod.owner_kind == "DaemonSet" or pod.controller_kind == "DaemonSet" or pod.is_mirror


def _retype(snapshot: Snapshot, node_name: str, to_type: str, capacity: str, touched: dict[str, int],
            step: int) -> Applied | str:  # fmt: skip
    cluster = snapshot.cluster
    node = _node(cluster, node_name) if cluster is not None else None
    if cluster is None or node is None:
        return _gone(node_name, touched)
    labels = dict(node.labels)
    if INSTANCE_TYPE_LABEL in labels:
        labels[INSTANCE_TYPE_LABEL] = to_type
    for key in CAPACITY_LABELS:
        if key in labels:
            labels[key] = "spot" if capacity == "spot" else ("ON_DEMAND" if key.startswith("eks") else "on-demand")
    changed = node.model_copy(update={"instance_type": to_type, "capacity_type": capacity, "labels": labels})
    touched[node_name] = step
    new = cluster.model_copy(update={"nodes": tuple(changed if n.name == node_name else n for n in cluster.nodes)})
    note = f"node {node_name}: {node.instance_type} {node.capacity_type} -> {to_type} {capacity}"
    if capacity == "spot":
        note += " (at the Spot average price; a Spot engine's estimate may also count the expected interruption cost)"
    return Applied(_cluster(snapshot, new), note)


def _instance(snapshot: Snapshot, instance_id: str, state: str) -> Applied | str:
    account = snapshot.account
    if account is None or not any(i.instance_id == instance_id for i in account.instances):
        return f"instance {instance_id} is not in the snapshot's account"
    if snapshot.cluster is not None and any(n.instance_id == instance_id for n in snapshot.cluster.nodes):
        return f"instance {instance_id} is a node of the cluster; node changes are planned through node steps"
    instances = tuple(i.model_copy(update={"state": state}) if i.instance_id == instance_id else i
                      for i in account.instances)  # fmt: skip
    volumes, note = account.volumes, f"instance {instance_id} stopped; its EBS volumes are still billed"
    if state == "terminated":  # its attached volumes go with it (what the ghost probe's saving counts)
        volumes = tuple(v for v in account.volumes if all(a.instance_id != instance_id for a in v.attachments))
        note = f"instance {instance_id} terminated with its {len(account.volumes) - len(volumes)} attached volume(s)"
    changed = account.model_copy(update={"instances": instances, "volumes": volumes})
    return Applied(snapshot.model_copy(update={"account": changed}), note)


def _volume(snapshot: Snapshot, volume_id: str, to_type: str | None) -> Applied | str:
    account = snapshot.account
    if account is None or not any(v.volume_id == volume_id for v in account.volumes):
        return f"volume {volume_id} is not in the snapshot's account"
    if to_type is None:
        volumes = tuple(v for v in account.volumes if v.volume_id != volume_id)
        note = f"volume {volume_id} deleted (the snapshot kept of it is not priced)"
    else:
        volumes = tuple(v.model_copy(update={"volume_type": to_type}) if v.volume_id == volume_id else v
                        for v in account.volumes)  # fmt: skip
        note = f"volume {volume_id} -> {to_type}"
    return Applied(snapshot.model_copy(update={"account": account.model_copy(update={"volumes": volumes})}), note)


def apply_action(snapshot: Snapshot, rec: Recommendation, touched: dict[str, int], step: int) -> Applied | str:
    """`rec`'s change applied to `snapshot`, or why it cannot be; `touched` records changed nodes."""
    action = rec.action
    if action.kind in NOT_SIMULATED:
        return NOT_SIMULATED[action.kind]
    match action:
        case SetRequestsLimits():
            return _requests(snapshot, action)
        case DrainAndRemoveNode():
            return _drain(snapshot, action, touched, step)
        case ReplaceNodeType():
            return _retype(snapshot, action.node, action.to_type, action.capacity_type, touched, step)
        case MoveToSpot():
            if not action.to_types:
                return "the Spot move names no instance type"
            return _retype(snapshot, action.node, action.to_types[0], "spot", touched, step)
        case StopInstance():
            return _instance(snapshot, action.instance_id, "stopped")
        case TerminateInstance():
            return _instance(snapshot, action.instance_id, "terminated")
        case SnapshotAndDeleteVolume():
            return _volume(snapshot, action.volume_id, None)
        case ModifyVolumeType():
            return _volume(snapshot, action.volume_id, action.to_type)
    return f"{action.kind} is not simulated"  # pragma: no cover - the action set is closed


def _requested(cluster: ClusterState | None) -> tuple[float, int]:
    if cluster is None:
        return 0.0, 0
    cpu = sum(c.cpu_request or 0.0 for p in cluster.pods for c in p.containers)
    mem = sum(c.memory_request or 0 for p in cluster.pods for c in p.containers)
    return cpu, mem


def freed_requests(start: Snapshot, end: Snapshot) -> str:
    """How the pods' total requests changed between two snapshots, in words ('' when unchanged)."""
    cpu0, mem0 = _requested(start.cluster)
    cpu1, mem1 = _requested(end.cluster)
    if abs(cpu0 - cpu1) < 1e-9 and mem0 == mem1:
        return ""
    return (f"pod requests change by {cpu1 - cpu0:+.2f} CPU cores and {(mem1 - mem0) / GIB:+.2f} GiB of memory "
            "(counted in what bin packing can remove)")  # fmt: skip
