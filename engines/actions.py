"""The closed set of typed action specs an engine may recommend and the executor may apply.

Each spec is a pydantic model with a literal `kind`; `ActionSpec` is their discriminated union, so a
stored recommendation round-trips through JSON to the same typed object.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def key(self) -> str:
        """The fields that identify what is changed (not by how much), for fingerprints."""
        return self.model_dump_json(include=self._key_fields())

    def _key_fields(self) -> set[str]:
        return {"kind"}


class PodMove(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace: str
    pod: str
    to_node: str | None = Field(None, description="planned destination; None = new node")


class DrainAndRemoveNode(_Action):
    kind: Literal["drain-and-remove-node"] = "drain-and-remove-node"
    node: str
    instance_id: str | None = None
    moves: tuple[PodMove, ...] = ()

    def _key_fields(self) -> set[str]:
        return {"kind", "node"}


class ReplaceNodeType(_Action):
    kind: Literal["replace-node-type"] = "replace-node-type"
    node: str
    instance_id: str | None = None
    from_type: str
    to_type: str
    capacity_type: Literal["on-demand", "spot"] = "on-demand"

    def _key_fields(self) -> set[str]:
        return {"kind", "node", "to_type", "capacity_type"}


class MoveToSpot(_Action):
    kind: Literal["move-to-spot"] = "move-to-spot"
    node: str
    instance_id: str | None = None
    from_type: str
    to_types: tuple[str, ...] = Field(description="candidate spot types, best first")

    def _key_fields(self) -> set[str]:
        return {"kind", "node"}


class SetRequestsLimits(_Action):
    kind: Literal["set-requests-limits"] = "set-requests-limits"
    namespace: str
    workload_kind: str
    workload_name: str
    container: str
    cpu_request: float | None = Field(None, description="cores")
    memory_request: int | None = Field(None, description="bytes")
    cpu_limit: float | None = Field(None, description="cores")
    memory_limit: int | None = Field(None, description="bytes")

    def _key_fields(self) -> set[str]:
        return {"kind", "namespace", "workload_kind", "workload_name", "container"}


class ScaleReplicas(_Action):
    kind: Literal["scale-replicas"] = "scale-replicas"
    namespace: str
    workload_kind: str
    workload_name: str
    from_replicas: int
    to_replicas: int

    def _key_fields(self) -> set[str]:
        return {"kind", "namespace", "workload_kind", "workload_name"}


class ScheduleScale(_Action):
    kind: Literal["schedule-scale"] = "schedule-scale"
    namespace: str
    workload_kind: str
    workload_name: str
    timezone: str = "UTC"
    scale_down_cron: str = Field("", description="five-field crontab; empty when `uptime` is used")
    scale_up_cron: str = Field("", description="five-field crontab; empty when `uptime` is used")
    uptime: str | None = Field(
        None,
        description=(
            'readable office hours the workload runs in, kube-downscaler style, e.g. "Mon-Fri 07:30-20:30 '
            'Europe/Berlin" (several periods comma-separated); replaces the two crons'
        ),
    )
    holidays: str | None = Field(
        None, description='ISO 3166 country[-subdivision] whose public holidays are off all day, e.g. "DE-BY"'
    )
    exception_dates: tuple[str, ...] = Field((), description="YYYY-MM-DD dates that are off all day")
    replicas_off: int = 0

    @model_validator(mode="after")
    def _one_schedule_form(self) -> ScheduleScale:
        crons = [bool(self.scale_down_cron.strip()), bool(self.scale_up_cron.strip())]
        if self.uptime is not None and self.uptime.strip():
            if any(crons):
                raise ValueError("give either `uptime` or the two crons, not both")
        elif not all(crons):
            raise ValueError(
                'a schedule needs `uptime` (e.g. "Mon-Fri 07:30-20:30 Europe/Berlin") or both '
                "`scale_down_cron` and `scale_up_cron`"
            )
        elif self.holidays or self.exception_dates:
            raise ValueError("`holidays` and `exception_dates` need an `uptime` schedule, not crons")
        return self

    def _key_fields(self) -> set[str]:
        return {"kind", "namespace", "workload_kind", "workload_name"}


class StopInstance(_Action):
    kind: Literal["stop-instance"] = "stop-instance"
    instance_id: str

    def _key_fields(self) -> set[str]:
        return {"kind", "instance_id"}


class TerminateInstance(_Action):
    kind: Literal["terminate-instance"] = "terminate-instance"
    instance_id: str

    def _key_fields(self) -> set[str]:
        return {"kind", "instance_id"}


class SnapshotAndDeleteVolume(_Action):
    kind: Literal["snapshot-and-delete-volume"] = "snapshot-and-delete-volume"
    volume_id: str

    def _key_fields(self) -> set[str]:
        return {"kind", "volume_id"}


class ModifyVolumeType(_Action):
    kind: Literal["modify-volume-type"] = "modify-volume-type"
    volume_id: str
    from_type: str
    to_type: str

    def _key_fields(self) -> set[str]:
        return {"kind", "volume_id", "to_type"}


class SetTrafficDistribution(_Action):
    kind: Literal["set-traffic-distribution"] = "set-traffic-distribution"
    namespace: str
    service: str
    value: str = "PreferClose"

    def _key_fields(self) -> set[str]:
        return {"kind", "namespace", "service"}


class SetPreferredAffinity(_Action):
    """Add a preferred pod-affinity term to a workload's template so its pods land in the zone (or
    on the node) of a chatty peer's pods; preferred, so scheduling never blocks on it."""

    kind: Literal["set-preferred-affinity"] = "set-preferred-affinity"
    namespace: str
    workload_kind: str
    workload_name: str
    peer_namespace: str
    peer_labels: dict[str, str] = Field(description="labels selecting the peer's pods")
    topology_key: str = "topology.kubernetes.io/zone"
    weight: int = Field(50, ge=1, le=100)

    def _key_fields(self) -> set[str]:
        return {"kind", "namespace", "workload_kind", "workload_name", "peer_namespace", "peer_labels"}


ActionSpec = Annotated[
    DrainAndRemoveNode
    | ReplaceNodeType
    | MoveToSpot
    | SetRequestsLimits
    | ScaleReplicas
    | ScheduleScale
    | StopInstance
    | TerminateInstance
    | SnapshotAndDeleteVolume
    | ModifyVolumeType
    | SetTrafficDistribution
    | SetPreferredAffinity,
    Field(discriminator="kind"),
]
