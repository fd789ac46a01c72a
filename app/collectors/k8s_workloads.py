"""Turn Kubernetes controller-level API objects (JSON dicts) into Snapshot workloads and policies.

Called by `app.collectors.k8s`: Deployments/StatefulSets/DaemonSets, PodDisruptionBudgets,
HorizontalPodAutoscalers, Namespaces and OOM-related Events. Pods and nodes are in `k8s_convert`.
"""

from __future__ import annotations

from typing import Any, Literal

from app.collectors.k8s_convert import Obj, containers, controller_ref, m, selector, str_map, timestamp
from engines.snapshot import Autoscaler, DisruptionBudget, KubeEvent, Namespace, Workload

WorkloadKind = Literal["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"]

# Reasons that always mean memory pressure: kubelet/node-problem-detector OOM kills.
OOM_REASONS = frozenset({"OOMKilling", "OOMKilled", "SystemOOM"})


def workload_from_api(kind: WorkloadKind, obj: Obj) -> Workload:
    meta, spec = m(obj, "metadata") or {}, m(obj, "spec") or {}
    template = m(spec, "jobTemplate", "spec", "template", "spec") if kind == "CronJob" else m(spec, "template", "spec")
    replicas: Any = spec.get("replicas")
    if kind == "DaemonSet":
        # A DaemonSet has no spec.replicas; its size is how many nodes it is scheduled on.
        replicas = m(obj, "status", "desiredNumberScheduled")
    elif kind in ("Deployment", "StatefulSet", "ReplicaSet") and replicas is None:
        replicas = 1  # the API default when the field is omitted
    return Workload(
        kind=kind,
        name=str(meta.get("name")),
        namespace=str(meta.get("namespace") or "default"),
        replicas=int(replicas) if replicas is not None else None,
        labels=str_map(meta.get("labels")),
        annotations=str_map(meta.get("annotations")),
        selector=selector(spec.get("selector")),
        containers=containers(m(template, "containers"), None),
    )


def _int_or_str(value: Any) -> str | None:
    return None if value is None else str(value)


def pdb_from_api(obj: Obj) -> DisruptionBudget:
    meta, spec, status = m(obj, "metadata") or {}, m(obj, "spec") or {}, m(obj, "status") or {}
    allowed, expected = status.get("disruptionsAllowed"), status.get("expectedPods")
    return DisruptionBudget(
        name=str(meta.get("name")),
        namespace=str(meta.get("namespace") or "default"),
        selector=selector(spec.get("selector")),
        min_available=_int_or_str(spec.get("minAvailable")),
        max_unavailable=_int_or_str(spec.get("maxUnavailable")),
        disruptions_allowed=int(allowed) if allowed is not None else None,
        expected_pods=int(expected) if expected is not None else None,
    )


def hpa_from_api(obj: Obj) -> Autoscaler:
    meta, spec = m(obj, "metadata") or {}, m(obj, "spec") or {}
    return Autoscaler(
        name=str(meta.get("name")),
        namespace=str(meta.get("namespace") or "default"),
        target_kind=str(m(spec, "scaleTargetRef", "kind") or ""),
        target_name=str(m(spec, "scaleTargetRef", "name") or ""),
        min_replicas=int(spec.get("minReplicas") or 1),
        max_replicas=int(spec.get("maxReplicas") or 1),
        resources=_hpa_resources(spec),
    )


def _hpa_resources(spec: Obj) -> tuple[str, ...]:
    """cpu/memory an HPA scales on: v2 Resource and ContainerResource metrics, v1 targetCPU."""
    found: list[str] = []
    for metric in spec.get("metrics") or []:
        if not isinstance(metric, dict):
            continue
        source = metric.get("resource") or metric.get("containerResource")
        name = source.get("name") if isinstance(source, dict) else None
        if isinstance(name, str) and name:
            found.append(name)
    if spec.get("targetCPUUtilizationPercentage") is not None:
        found.append("cpu")
    return tuple(dict.fromkeys(found))


def namespace_from_api(obj: Obj) -> Namespace:
    return Namespace(
        name=str(m(obj, "metadata", "name")),
        labels=str_map(m(obj, "metadata", "labels")),
        annotations=str_map(m(obj, "metadata", "annotations")),
    )


def is_oom_event(reason: str, message: str) -> bool:
    """OOM kills, back-off after an OOM, and evictions for memory pressure."""
    lowered = message.lower()
    if reason in OOM_REASONS:
        return True
    if reason == "BackOff":
        return "oom" in lowered
    if reason == "Evicted":
        return "memory" in lowered
    return False


def event_from_api(obj: Obj) -> KubeEvent | None:
    """The event if it is OOM-related, else None (filtered here because emulators ignore fieldSelector)."""
    reason = str(obj.get("reason") or "")
    message = str(obj.get("message") or obj.get("note") or "")
    if not is_oom_event(reason, message):
        return None
    involved = m(obj, "involvedObject") or m(obj, "regarding") or {}
    last_seen = obj.get("lastTimestamp") or obj.get("eventTime") or m(obj, "series", "lastObservedTime")
    return KubeEvent(
        namespace=str(m(obj, "metadata", "namespace") or involved.get("namespace") or ""),
        involved_kind=str(involved.get("kind") or ""),
        involved_name=str(involved.get("name") or ""),
        reason=reason,
        message=message,
        count=int(obj.get("count") or m(obj, "series", "count") or 1),
        last_seen=timestamp(last_seen or obj.get("firstTimestamp")),
    )


def owner_map(replica_sets: list[Obj], jobs: list[Obj]) -> dict[tuple[str, str, str], tuple[str, str]]:
    """(namespace, kind, name) of each ReplicaSet/Job -> its own controller (Deployment, CronJob)."""
    owners: dict[tuple[str, str, str], tuple[str, str]] = {}
    for kind, objs in (("ReplicaSet", replica_sets), ("Job", jobs)):
        for obj in objs:
            ref = controller_ref(m(obj, "metadata"))
            if ref:
                key = (str(m(obj, "metadata", "namespace") or "default"), kind, str(m(obj, "metadata", "name")))
                owners[key] = ref
    return owners
