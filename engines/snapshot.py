"""The Snapshot: plain, typed, serialisable state of one cluster and/or one AWS account.

Collectors in `app.collectors` build it from the Kubernetes API, boto3 and usage sources; engines
read it. It holds no clients, so it can be stored as JSON, diffed and fed to engines in tests.
CPU is in cores, memory and storage in bytes, times are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CapacityType = Literal["on-demand", "spot"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Resources(_Frozen):
    """An amount of schedulable resources."""

    cpu: float = Field(0.0, description="CPU in cores")
    memory: int = Field(0, description="memory in bytes")
    ephemeral_storage: int = Field(0, description="ephemeral storage in bytes")
    pods: int = Field(0, description="pod slots")


class Taint(_Frozen):
    key: str
    value: str = ""
    effect: str = "NoSchedule"


class Toleration(_Frozen):
    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""


class SelectorRequirement(_Frozen):
    """One matchExpressions entry (label selectors and node selector terms share this shape)."""

    key: str
    operator: str
    values: tuple[str, ...] = ()


class LabelSelector(_Frozen):
    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: tuple[SelectorRequirement, ...] = ()


class TopologySpread(_Frozen):
    max_skew: int
    topology_key: str
    when_unsatisfiable: str
    selector: LabelSelector = LabelSelector()


class Node(_Frozen):
    name: str
    instance_type: str | None = None
    zone: str | None = None
    region: str | None = None
    capacity_type: CapacityType = "on-demand"
    provider_id: str | None = None
    instance_id: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    allocatable: Resources = Resources()
    capacity: Resources = Resources()
    unschedulable: bool = False
    ready: bool = True
    created_at: datetime | None = None


class Container(_Frozen):
    """A container's requests/limits (None = not set) and last termination facts."""

    name: str
    image: str = ""
    cpu_request: float | None = None
    memory_request: int | None = None
    ephemeral_request: int | None = None
    cpu_limit: float | None = None
    memory_limit: int | None = None
    restart_count: int = 0
    last_termination_reason: str | None = None
    last_termination_exit_code: int | None = None
    last_termination_at: datetime | None = None
    state: str = "running"


class Pod(_Frozen):
    name: str
    namespace: str
    node_name: str | None = None
    phase: str = "Running"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    owner_kind: str | None = Field(None, description="kind of the top controller, e.g. Deployment")
    owner_name: str | None = None
    controller_kind: str | None = Field(None, description="kind of the direct controller, e.g. ReplicaSet")
    controller_name: str | None = None
    containers: tuple[Container, ...] = ()
    init_containers: tuple[Container, ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    node_selector: dict[str, str] = Field(default_factory=dict)
    required_node_affinity: tuple[tuple[SelectorRequirement, ...], ...] = Field(
        (), description="nodeSelectorTerms (OR) of matchExpressions (AND)"
    )
    anti_affinity_hostname: tuple[LabelSelector, ...] = Field(
        (), description="required pod anti-affinity terms with topologyKey kubernetes.io/hostname"
    )
    topology_spread: tuple[TopologySpread, ...] = ()
    pvc_names: tuple[str, ...] = ()
    pvc_zone: str | None = Field(None, description="zone of the pod's bound zonal volumes, if any")
    has_local_storage: bool = Field(False, description="uses emptyDir (non-memory) or hostPath")
    priority_class_name: str | None = None
    termination_grace_period_s: int | None = Field(
        None, description="spec.terminationGracePeriodSeconds; None = not read (Kubernetes defaults to 30)"
    )
    is_mirror: bool = False
    created_at: datetime | None = None


class Workload(_Frozen):
    kind: Literal["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"]
    name: str
    namespace: str
    replicas: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    selector: LabelSelector = LabelSelector()
    containers: tuple[Container, ...] = Field((), description="the pod template's containers")


class DisruptionBudget(_Frozen):
    name: str
    namespace: str
    selector: LabelSelector = LabelSelector()
    min_available: str | None = None
    max_unavailable: str | None = None
    disruptions_allowed: int | None = None
    expected_pods: int | None = None


class Autoscaler(_Frozen):
    name: str
    namespace: str
    target_kind: str
    target_name: str
    min_replicas: int = 1
    max_replicas: int = 1
    resources: tuple[str, ...] = Field(
        (), description='resources it scales on through Resource/ContainerResource metrics, e.g. ("cpu",); v1 targetCPU = cpu'
    )


class Namespace(_Frozen):
    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class KubeEvent(_Frozen):
    namespace: str
    involved_kind: str
    involved_name: str
    reason: str
    message: str = ""
    count: int = 1
    last_seen: datetime | None = None


class ServicePort(_Frozen):
    port: int
    protocol: str = "TCP"


class Service(_Frozen):
    """A Service: what the cross-AZ engine routes traffic to and may set trafficDistribution on."""

    name: str
    namespace: str
    type: str = "ClusterIP"
    selector: dict[str, str] = Field(default_factory=dict, description="empty = no selector (manual endpoints)")
    traffic_distribution: str | None = Field(None, description="spec.trafficDistribution, None = unset")
    internal_traffic_policy: str | None = None
    ports: tuple[ServicePort, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class TerminationRecord(_Frozen):
    """One container termination remembered across scans (the pod_events table): the snapshot's pods
    show only the last one per container, this keeps the earlier ones for counts and recency."""

    namespace: str
    pod: str
    container: str
    reason: str = Field(description="lastState.terminated.reason, e.g. OOMKilled, or an event reason such as Evicted")
    exit_code: int | None = None
    restart_count: int = 0
    occurred_at: datetime
    owner_kind: str | None = None
    owner_name: str | None = None
    message: str = ""


class ClusterState(_Frozen):
    name: str
    region: str
    nodes: tuple[Node, ...] = ()
    pods: tuple[Pod, ...] = ()
    workloads: tuple[Workload, ...] = ()
    pdbs: tuple[DisruptionBudget, ...] = ()
    hpas: tuple[Autoscaler, ...] = ()
    namespaces: tuple[Namespace, ...] = ()
    events: tuple[KubeEvent, ...] = ()
    services: tuple[Service, ...] = ()
    terminations: tuple[TerminationRecord, ...] = Field(
        (), description="earlier container terminations from the pod_events history, oldest first"
    )
