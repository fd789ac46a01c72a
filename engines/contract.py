"""The engine contract: price book protocol, scan context, recommendation, scan result, Engine base.

Every built-in, installed or uploaded engine implements `Engine`; `app.services.scans` calls
`scan(snapshot, ctx)` and stores the result. An engine is pure (no network, database or clients:
the same snapshot, prices and settings give the same result), documents every setting, and says
why it recommends nothing through `ScanResult.skipped`; see the README's "Engines" section.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, computed_field

from engines.actions import ActionSpec
from engines.snapshot_aws import Snapshot

Risk = Literal["low", "medium", "high"]
Purpose = Literal["saving", "reliability"]


@dataclass(frozen=True)
class InstanceSpec:
    instance_type: str
    vcpu: int
    memory_mib: int
    gpu_count: int = 0
    architectures: tuple[str, ...] = ()
    max_enis: int | None = None
    ipv4_per_eni: int | None = None
    burstable: bool = False
    current_generation: bool = True

    @property
    def max_pods(self) -> int:
        """EKS default max pods (AWS VPC CNI without prefix delegation): ENIs * (IPs - 1) + 2."""
        if self.max_enis is None or self.ipv4_per_eni is None:
            return 110
        return min(self.max_enis * (self.ipv4_per_eni - 1) + 2, 737)


@dataclass(frozen=True)
class SpotAdvice:
    interruption_bucket: int
    interruption_label: str
    savings_percent: int


class PriceBook(Protocol):
    """Read-only real AWS prices; every lookup raises `LookupError` naming what is unknown."""

    def on_demand_hourly(self, region: str, instance_type: str) -> Decimal: ...
    def spot_avg_hourly(self, region: str, instance_type: str) -> Decimal | None: ...
    def spot_advice(self, region: str, instance_type: str, os: str = "Linux") -> SpotAdvice: ...
    def instance_spec(self, instance_type: str) -> InstanceSpec: ...
    def instance_types(self, region: str) -> list[str]: ...
    def ebs_gb_month(self, region: str, volume_type: str) -> Decimal: ...
    def ebs_dimension_price(self, region: str, volume_type: str, dimension: str) -> Decimal: ...
    def inter_az_per_gb(self, region: str) -> Decimal: ...


SettingsT = TypeVar("SettingsT", bound=BaseModel)


@dataclass(frozen=True)
class ScanContext(Generic[SettingsT]):
    """What an engine may use besides the snapshot: prices, the time of the scan, its settings."""

    prices: PriceBook
    now: datetime
    settings: SettingsT
    models: Mapping[str, Any] = field(default_factory=dict)
    """Trained models the service layer made available, by use (e.g. "spot-risk": a SpotRiskScorer);
    pure callables over plain features, so the engine stays pure. Empty = every engine's default."""


class Recommendation(BaseModel):
    model_config = ConfigDict(frozen=True)

    engine: str
    cluster: str | None
    target: str = Field(description="what is changed, e.g. node/ip-10-0-1-5 or volume/vol-123")
    action: ActionSpec
    current_monthly_cost: Decimal
    projected_monthly_cost: Decimal
    risk: Risk = "low"
    confidence: float = Field(1.0, ge=0.0, le=1.0)
    rationale: str
    purpose: Purpose = Field(
        "saving",
        description=(
            "saving: applied to cut cost (monthly_savings > 0 is the point). reliability: applied to "
            "prevent failures (e.g. raise an OOMKilled container's memory limit); it may cost more, so "
            "monthly_savings may be negative, and savings totals leave it out. Not part of the fingerprint."
        ),
    )
    evidence: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] = Field(
        default_factory=list,
        description=(
            "Fingerprints of recommendations of the same scan that must be applied before this one "
            "when both are applied (e.g. a node-type replacement depends on the drains that move pods "
            "onto that node: they name the node as destination, and the new type is sized for those "
            "pods). Each stays valid alone. Not part of the fingerprint."
        ),
    )
    related: list[str] = Field(
        default_factory=list,
        description=(
            "Fingerprints of recommendations of the same scan that touch a node this one touches (its "
            "target or a destination of its pod moves); symmetric, and a superset of depends_on. Not "
            "part of the fingerprint."
        ),
    )
    conflicts_with: list[str] = Field(
        default_factory=list,
        description=(
            "Fingerprints of recommendations of OTHER engines in the same scan that change the same node, "
            "instance, volume or workload (e.g. drain node X and move node X to Spot): applying one makes the "
            "other moot, so totals count the target once (the larger saving). Set by the scan service, "
            "not by engines. Not part of the fingerprint."
        ),
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def monthly_savings(self) -> Decimal:
        return self.current_monthly_cost - self.projected_monthly_cost

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fingerprint(self) -> str:
        """Engine, cluster, target and action key only: links and prices may change between scans
        while the recommendation stays the same one."""
        raw = "|".join([self.engine, self.cluster or "", self.target, self.action.key()])
        return hashlib.sha256(raw.encode()).hexdigest()[:24]


class Skipped(BaseModel):
    model_config = ConfigDict(frozen=True)

    target: str
    reason: str


class ScanResult(BaseModel):
    recommendations: list[Recommendation] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)

    def skip(self, target: str, reason: str) -> None:
        self.skipped.append(Skipped(target=target, reason=reason))


class Engine(Generic[SettingsT]):
    """Base class: subclasses set `name`, `title`, `Settings` and implement `scan`."""

    name: ClassVar[str]
    title: ClassVar[str]
    Settings: ClassVar[type[BaseModel]]

    def scan(self, snapshot: Snapshot, ctx: ScanContext[SettingsT]) -> ScanResult:
        raise NotImplementedError
