"""AWS and usage parts of the Snapshot: EC2 instances, EBS volumes, metrics, container usage, traffic.

Built by `app.collectors` (boto3, Prometheus, files); read by engines. Plain data, no clients.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from engines.snapshot import CapacityType, ClusterState


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DailyMetric(_Frozen):
    """One UTC day of an instance's CloudWatch data; `hours` = hours that have any datapoint.

    Days without data (the instance was stopped, or CloudWatch has a gap) are absent, not zero, so
    an engine can count only the days that were measured (as Cloud Custodian and Trusted Advisor do).
    """

    day: date
    hours: int
    cpu_avg: float | None = None
    cpu_max: float | None = None
    network_bytes: float | None = Field(None, description="NetworkIn + NetworkOut over the day's hours")


class MetricSummary(_Frozen):
    """CloudWatch statistics of one instance over the collection window."""

    cpu_avg: float | None = Field(None, description="average CPUUtilization, percent")
    cpu_p95: float | None = Field(None, description="95th percentile of CPUUtilization, percent")
    cpu_max: float | None = Field(None, description="maximum CPUUtilization, percent")
    network_in_bytes_per_day: float | None = None
    network_out_bytes_per_day: float | None = None
    datapoints: int = 0
    window_days: float = 0.0
    daily: tuple[DailyMetric, ...] = Field((), description="per-day values, oldest first, measured days only")


class Instance(_Frozen):
    instance_id: str
    instance_type: str
    state: str
    zone: str
    region: str
    lifecycle: CapacityType = "on-demand"
    launch_time: datetime | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    private_dns_name: str | None = None
    cluster: str | None = Field(None, description="cluster this instance is a node of, from its tags")
    metrics: MetricSummary | None = None
    platform: str = Field("Linux", description="Linux or Windows (the Spot Advisor and price key)")
    target_groups: tuple[str, ...] = Field((), description="ELBv2 target groups this instance is registered in")
    network_interfaces: tuple[str, ...] = Field((), description="ENI ids attached to the instance")
    public_ip: str | None = None
    state_since: datetime | None = Field(None, description="when the current state began, when AWS says (stopped)")


class VolumeAttachment(_Frozen):
    instance_id: str
    device: str | None = None
    state: str = "attached"


class Volume(_Frozen):
    volume_id: str
    volume_type: str
    size_gb: int
    state: str
    zone: str
    region: str
    iops: int | None = None
    throughput: int | None = None
    create_time: datetime | None = None
    attachments: tuple[VolumeAttachment, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)
    snapshot_id: str | None = None
    unattached_since: datetime | None = Field(
        None, description="when the volume was last seen detached from everything (see unattached_source)"
    )
    unattached_source: str | None = Field(
        None, description="how unattached_since is known: cloudtrail, first-seen or create-time"
    )
    last_instance_id: str | None = Field(None, description="the instance it was last attached to, when known")


class SpotQueue(_Frozen):
    """Where Spot interruption warnings for this account arrive (EventBridge rule -> SQS)."""

    queue_url: str | None = None
    rule_names: tuple[str, ...] = ()


class AccountState(_Frozen):
    account_id: str
    region: str
    instances: tuple[Instance, ...] = ()
    volumes: tuple[Volume, ...] = ()
    spot_queue: SpotQueue | None = None
    cluster_node_instances: tuple[str, ...] = Field(
        (), description="instance ids that are nodes of any connected cluster (providerID), from the DB"
    )
    cloudtrail: str | None = Field(
        None, description="None = CloudTrail was read; otherwise why detach times are not known from it"
    )


class SpotPoolHistory(_Frozen):
    """The account's own Spot record for one pool (type + zone) over a window, from spot_warnings."""

    instance_type: str
    zone: str
    interruptions: int = Field(0, description="interruption warnings received in the window")
    instance_hours: float = Field(0.0, description="Spot instance-hours observed in the pool in the window")
    window_days: float = 30.0


class ContainerUsage(_Frozen):
    """Usage history of one container of one pod, evenly spaced samples (None = missing)."""

    namespace: str
    pod: str
    container: str
    workload_kind: str | None = None
    workload_name: str | None = None
    start: datetime
    step_seconds: int = 300
    cpu_cores: tuple[float | None, ...] = ()
    memory_bytes: tuple[float | None, ...] = ()


class TrafficEdge(_Frozen):
    """Bytes per day sent from one workload to a service (for the cross-AZ engine)."""

    namespace: str
    source: str
    destination: str
    bytes_per_day: float
    destination_namespace: str | None = Field(None, description="None = the source's namespace")


class SourceError(_Frozen):
    """A source that failed during collection, and why (the last good data is kept elsewhere).

    `degraded` marks a source that answered but had part of its data skipped (one malformed
    object, one forbidden optional list); a source that failed outright is not degraded.
    """

    source: str
    message: str
    degraded: bool = False


class Snapshot(_Frozen):
    """Everything engines see for one cluster and/or account at one time."""

    collected_at: datetime
    cluster: ClusterState | None = None
    account: AccountState | None = None
    usage: tuple[ContainerUsage, ...] = ()
    traffic: tuple[TrafficEdge, ...] = ()
    spot_history: tuple[SpotPoolHistory, ...] = ()
    errors: tuple[SourceError, ...] = ()
