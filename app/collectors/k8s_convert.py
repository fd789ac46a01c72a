"""Turn Kubernetes API objects (plain JSON dicts, camelCase) into Snapshot nodes and pods.

Called by `app.collectors.k8s` for every listed object (Services too, for the cross-AZ engine);
also usable on saved pod JSON in tests.
The collector asks the client for raw JSON (no model deserialisation), so this module is the
only place that touches untyped API data. Workload-level objects live in `k8s_workloads`.
Malformed quantities raise `engines.quantity.QuantityError`; the caller skips that object.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from engines.quantity import parse_bytes, parse_cpu
from engines.snapshot import (
    CapacityType,
    Container,
    LabelSelector,
    Node,
    Pod,
    Resources,
    SelectorRequirement,
    Service,
    ServicePort,
    Taint,
    Toleration,
    TopologySpread,
)

Obj = Mapping[str, Any]
HOSTNAME_KEY = "kubernetes.io/hostname"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
ZONE_KEYS = (
    "topology.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/zone",
    "topology.ebs.csi.aws.com/zone",
)
_SPOT_VALUES = {"spot", "SPOT", "Spot"}


def m(obj: Obj | None, *keys: str) -> Any:
    """Nested lookup that treats missing keys and JSON nulls alike."""
    current: Any = obj
    for key in keys:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def items(value: Any) -> list[Obj]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def timestamp(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def selector(value: Any) -> LabelSelector:
    return LabelSelector(
        match_labels=str_map(m(value, "matchLabels")),
        match_expressions=requirements(m(value, "matchExpressions")),
    )


def requirements(value: Any) -> tuple[SelectorRequirement, ...]:
    return tuple(
        SelectorRequirement(
            key=str(r.get("key", "")),
            operator=str(r.get("operator", "In")),
            values=tuple(str(v) for v in r.get("values") or ()),
        )
        for r in items(value)
    )


def resources(value: Any) -> Resources:
    value = value if isinstance(value, Mapping) else {}
    return Resources(
        cpu=parse_cpu(value["cpu"]) if value.get("cpu") is not None else 0.0,
        memory=parse_bytes(value["memory"]) if value.get("memory") is not None else 0,
        ephemeral_storage=parse_bytes(value["ephemeral-storage"]) if value.get("ephemeral-storage") is not None else 0,
        pods=int(parse_cpu(value["pods"])) if value.get("pods") is not None else 0,
    )


def capacity_type(labels: Mapping[str, str]) -> CapacityType:
    # Karpenter, EKS managed node groups and kops/eksctl each use their own label.
    for key in ("karpenter.sh/capacity-type", "eks.amazonaws.com/capacityType", "node.kubernetes.io/lifecycle"):
        if labels.get(key) in _SPOT_VALUES:
            return "spot"
    return "on-demand"


def node_from_api(obj: Obj, default_region: str) -> Node:
    labels = str_map(m(obj, "metadata", "labels"))
    provider_id = m(obj, "spec", "providerID")
    instance_id = None
    if isinstance(provider_id, str) and provider_id.startswith("aws://"):
        # aws:///us-east-1a/i-0abc -> i-0abc (Fargate ids look different and are left out)
        last = provider_id.rsplit("/", 1)[-1]
        instance_id = last if last.startswith("i-") else None
    conditions = items(m(obj, "status", "conditions"))
    ready_values = [c.get("status") for c in conditions if c.get("type") == "Ready"]
    return Node(
        name=str(m(obj, "metadata", "name")),
        instance_type=labels.get("node.kubernetes.io/instance-type") or labels.get("beta.kubernetes.io/instance-type"),
        zone=labels.get("topology.kubernetes.io/zone") or labels.get("failure-domain.beta.kubernetes.io/zone"),
        region=labels.get("topology.kubernetes.io/region")
        or labels.get("failure-domain.beta.kubernetes.io/region")
        or default_region,
        capacity_type=capacity_type(labels),
        provider_id=provider_id if isinstance(provider_id, str) else None,
        instance_id=instance_id,
        labels=labels,
        annotations=str_map(m(obj, "metadata", "annotations")),
        taints=tuple(
            Taint(key=str(t.get("key", "")), value=str(t.get("value") or ""), effect=str(t.get("effect") or ""))
            for t in items(m(obj, "spec", "taints"))
        ),
        allocatable=resources(m(obj, "status", "allocatable")),
        capacity=resources(m(obj, "status", "capacity")),
        unschedulable=bool(m(obj, "spec", "unschedulable")),
        # A node that never reported conditions (emulators, just-registered) is treated as ready.
        ready=not ready_values or ready_values[0] == "True",
        created_at=timestamp(m(obj, "metadata", "creationTimestamp")),
    )


def container_from_api(spec: Obj, status: Obj | None = None) -> Container:
    requests = m(spec, "resources", "requests") or {}
    limits = m(spec, "resources", "limits") or {}
    terminated = m(status, "lastState", "terminated") or {}
    state = m(status, "state")
    state_name = next(iter(state), "running") if isinstance(state, Mapping) and state else "running"
    return Container(
        name=str(spec.get("name", "")),
        image=str(spec.get("image") or ""),
        cpu_request=parse_cpu(requests["cpu"]) if requests.get("cpu") is not None else None,
        memory_request=parse_bytes(requests["memory"]) if requests.get("memory") is not None else None,
        ephemeral_request=parse_bytes(requests["ephemeral-storage"])
        if requests.get("ephemeral-storage") is not None
        else None,
        cpu_limit=parse_cpu(limits["cpu"]) if limits.get("cpu") is not None else None,
        memory_limit=parse_bytes(limits["memory"]) if limits.get("memory") is not None else None,
        restart_count=int(m(status, "restartCount") or 0),
        last_termination_reason=terminated.get("reason"),
        last_termination_exit_code=terminated.get("exitCode"),
        last_termination_at=timestamp(terminated.get("finishedAt")),
        state=str(state_name),
    )


def containers(specs: Any, statuses: Any) -> tuple[Container, ...]:
    by_name = {str(s.get("name")): s for s in items(statuses)}
    return tuple(container_from_api(c, by_name.get(str(c.get("name")))) for c in items(specs))


def controller_ref(meta: Any) -> tuple[str, str] | None:
    refs = items(m(meta, "ownerReferences"))
    chosen = next((r for r in refs if r.get("controller")), refs[0] if refs else None)
    return (str(chosen.get("kind")), str(chosen.get("name"))) if chosen else None


def pod_from_api(
    obj: Obj,
    owners: Mapping[tuple[str, str, str], tuple[str, str]],
    pvc_zones: Mapping[tuple[str, str], str],
) -> Pod:
    """`owners` maps (namespace, kind, name) of a ReplicaSet/Job to its controller (kind, name)."""
    meta, spec, status = m(obj, "metadata") or {}, m(obj, "spec") or {}, m(obj, "status") or {}
    namespace = str(meta.get("namespace") or "default")
    direct = controller_ref(meta)
    top = direct
    # Walk up at most a few levels (Pod -> ReplicaSet -> Deployment, Pod -> Job -> CronJob).
    for _ in range(3):
        if top is None or (namespace, *top) not in owners:
            break
        top = owners[(namespace, *top)]
    volumes = items(spec.get("volumes"))
    pvc_names = tuple(str(m(v, "persistentVolumeClaim", "claimName")) for v in volumes if m(v, "persistentVolumeClaim"))
    zones = [pvc_zones[(namespace, name)] for name in pvc_names if (namespace, name) in pvc_zones]
    annotations = str_map(meta.get("annotations"))
    node_name = spec.get("nodeName")
    return Pod(
        name=str(meta.get("name")),
        namespace=namespace,
        node_name=node_name,
        phase=str(status.get("phase") or ("Running" if node_name else "Pending")),
        labels=str_map(meta.get("labels")),
        annotations=annotations,
        owner_kind=top[0] if top else None,
        owner_name=top[1] if top else None,
        controller_kind=direct[0] if direct else None,
        controller_name=direct[1] if direct else None,
        containers=containers(spec.get("containers"), status.get("containerStatuses")),
        init_containers=containers(spec.get("initContainers"), status.get("initContainerStatuses")),
        tolerations=tuple(
            Toleration(
                key=str(t.get("key") or ""),
                operator=str(t.get("operator") or "Equal"),
                value=str(t.get("value") or ""),
                effect=str(t.get("effect") or ""),
            )
            for t in items(spec.get("tolerations"))
        ),
        node_selector=str_map(spec.get("nodeSelector")),
        # matchFields (metadata.name) are not label requirements, so only matchExpressions are kept.
        required_node_affinity=tuple(
            requirements(term.get("matchExpressions"))
            for term in items(m(spec, "affinity", "nodeAffinity", REQUIRED, "nodeSelectorTerms"))
        ),
        anti_affinity_hostname=tuple(
            selector(term.get("labelSelector"))
            for term in items(m(spec, "affinity", "podAntiAffinity", REQUIRED))
            if term.get("topologyKey") == HOSTNAME_KEY
        ),
        topology_spread=tuple(
            TopologySpread(
                max_skew=int(c.get("maxSkew") or 1),
                topology_key=str(c.get("topologyKey", "")),
                when_unsatisfiable=str(c.get("whenUnsatisfiable") or "DoNotSchedule"),
                selector=selector(c.get("labelSelector")),
            )
            for c in items(spec.get("topologySpreadConstraints"))
        ),
        pvc_names=pvc_names,
        pvc_zone=zones[0] if zones else None,
        has_local_storage=any(
            (isinstance(v.get("emptyDir"), Mapping) and m(v, "emptyDir", "medium") != "Memory") or v.get("hostPath")
            for v in volumes
        ),
        priority_class_name=spec.get("priorityClassName"),
        termination_grace_period_s=_grace(spec.get("terminationGracePeriodSeconds")),
        is_mirror="kubernetes.io/config.mirror" in annotations,
        created_at=timestamp(meta.get("creationTimestamp")),
    )


def pv_zone(pv: Obj) -> str | None:
    """Zone of a PersistentVolume from its node affinity (CSI) or its zone label (in-tree)."""
    for term in items(m(pv, "spec", "nodeAffinity", "required", "nodeSelectorTerms")):
        for req in items(term.get("matchExpressions")):
            if req.get("key") in ZONE_KEYS and req.get("operator", "In") == "In" and req.get("values"):
                return str(req["values"][0])
    labels = str_map(m(pv, "metadata", "labels"))
    return next((labels[k] for k in ZONE_KEYS if k in labels), None)


def service_from_api(obj: Obj) -> Service:
    """A Service as the cross-AZ engine reads it; a missing type is ClusterIP, the API's default."""
    spec = m(obj, "spec") or {}
    if not isinstance(spec, Mapping):
        raise TypeError("spec is not an object")
    ports = tuple(
        ServicePort(port=int(p["port"]), protocol=str(p.get("protocol") or "TCP")) for p in items(spec.get("ports"))
    )
    distribution = spec.get("trafficDistribution")
    policy = spec.get("internalTrafficPolicy")
    return Service(
        name=str(m(obj, "metadata", "name")),
        namespace=str(m(obj, "metadata", "namespace")),
        type=str(spec.get("type") or "ClusterIP"),
        selector=str_map(spec.get("selector")),
        traffic_distribution=str(distribution) if distribution else None,
        internal_traffic_policy=str(policy) if policy else None,
        ports=ports,
        labels=str_map(m(obj, "metadata", "labels")),
        annotations=str_map(m(obj, "metadata", "annotations")),
    )


def _grace(value: object) -> int | None:
    """spec.terminationGracePeriodSeconds; None when absent or not a non-negative integer."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
