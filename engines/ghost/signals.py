"""The ghost probe's confidence: a documented fusion of independent signals.

Called by `engine.GhostProbeEngine`. Each signal scores 0 (argues the instance is in use) to 1
(argues it is a ghost). confidence = factor x (weighted sum of the signals, weights adding up to
1) x each penalty, rounded to 0.01. Trusted Advisor and Custodian give a yes/no on CPU and network
alone; the extra signals tell an abandoned box from a quiet but needed one.

Running instance (stop). Factor: the share of measured days that were low, so an instance busy
on 10 of 14 days (Trusted Advisor would still flag it) can never score above 0.29. Weights: data
coverage 0.20 (measured days / window days), age 0.15 (age / min_age_days, capped at 1; unknown
0), no owner tag 0.20, environment 0.10 (no tag 1, production 0, other 0.5), no public IP 0.15, at
most one network interface 0.10, only its root volume 0.10.
Stopped instance (terminate). Factor 1 (it passed the stopped-days gate). Weights: stopped
duration 0.30 (stopped days / twice the terminate threshold, capped at 1), age 0.10, no owner tag
0.25, environment 0.10, at most one network interface 0.10, only its root volume 0.15.
Penalty, both: registered in a load-balancer target group halves the confidence (something may
route traffic to it however quiet it looks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engines.ghost.gates import environment_tag, owner_tag
from engines.ghost.idle import Window
from engines.ghost.settings import GhostProbeSettings
from engines.snapshot_aws import Instance

PRODUCTION = {"prod", "production", "live", "prd"}
TARGET_GROUP_PENALTY = 0.5
RUNNING_WEIGHTS = {"data_coverage": 0.20, "age": 0.15, "no_owner_tag": 0.20, "environment": 0.10,
                   "no_public_ip": 0.15, "single_network_interface": 0.10, "only_root_volume": 0.10}  # fmt: skip
STOPPED_WEIGHTS = {"stopped_duration": 0.30, "age": 0.10, "no_owner_tag": 0.25, "environment": 0.10,
                   "single_network_interface": 0.10, "only_root_volume": 0.15}  # fmt: skip


@dataclass(frozen=True)
class Signal:
    name: str
    score: float
    value: Any
    meaning: str
    weight: float = 0.0

    def as_evidence(self) -> dict[str, Any]:
        return {
            "signal": self.name,
            "value": self.value,
            "score": round(self.score, 3),
            "weight": self.weight,
            "contribution": round(self.weight * self.score, 3),
            "meaning": self.meaning,
        }


@dataclass(frozen=True)
class Fusion:
    factor: Signal | None
    signals: tuple[Signal, ...]
    penalties: tuple[tuple[str, float], ...]

    @property
    def confidence(self) -> float:
        total = sum(s.weight * s.score for s in self.signals)
        if self.factor is not None:
            total *= self.factor.score
        for _, factor in self.penalties:
            total *= factor
        return round(min(1.0, max(0.0, total)), 2)

    def against(self) -> list[str]:
        """What pulled the confidence down, most costly first, for a skip reason."""
        lost = sorted((s for s in self.signals if s.score < 1), key=lambda s: (-(s.weight * (1 - s.score)), s.name))
        out = [f"{self.factor.name} {self.factor.value}"] if self.factor and self.factor.score < 1 else []
        return out + [f"{s.name} ({s.value})" for s in lost[:3]] + [name for name, _ in self.penalties]

    def as_evidence(self) -> dict[str, Any]:
        return {
            "confidence": self.confidence,
            "confidence_formula": "factor x sum(weight x score) x penalties, rounded to 0.01",
            "confidence_factor": None if self.factor is None else self.factor.as_evidence(),
            "signals": [s.as_evidence() for s in self.signals],
            "penalties": [{"penalty": name, "factor": factor} for name, factor in self.penalties],
        }


def aware(moment: datetime) -> datetime:
    """Collectors store aware UTC; a naive time from a hand-built snapshot is read as UTC, not refused."""
    # In UTC too, so the window's days are the collector's UTC days whatever zone the scan time has.
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def age_days(instance: Instance, now: datetime) -> float | None:
    if instance.launch_time is None:
        return None
    return max(0.0, (aware(now) - aware(instance.launch_time)).total_seconds() / 86400)


def _context(instance: Instance, now: datetime, volumes: int, s: GhostProbeSettings) -> list[Signal]:
    age = age_days(instance, now)
    owner = owner_tag(instance, s)
    env = environment_tag(instance, s)
    env_score = 1.0 if env is None else (0.0 if env[1].strip().lower() in PRODUCTION else 0.5)
    enis = len(instance.network_interfaces)
    age_score = 0.0 if age is None else (1.0 if s.min_age_days == 0 else min(1.0, age / s.min_age_days))
    return [
        Signal("age", age_score, "unknown" if age is None else f"{age:.0f} days",
               f"launched at least {s.min_age_days} days ago"),
        Signal("no_owner_tag", 1.0 if owner is None else 0.0, "absent" if owner is None else f"{owner[0]}={owner[1]}",
               "no tag names an owner (likelier orphaned)"),
        Signal("environment", env_score, "absent" if env is None else f"{env[0]}={env[1]}",
               "no environment tag scores 1, a production one 0, any other 0.5"),
        Signal("no_public_ip", 0.0 if instance.public_ip else 1.0, instance.public_ip or "none",
               "no public IP (nothing outside the VPC reaches it directly)"),
        Signal("single_network_interface", 1.0 if enis <= 1 else 0.0, enis,
               "at most one ENI (no extra interface another system may use)"),
        Signal("only_root_volume", 1.0 if volumes <= 1 else 0.0, volumes,
               "at most one attached EBS volume (no data volume in use)"),
    ]  # fmt: skip


def _weighted(signals: list[Signal], weights: dict[str, float]) -> tuple[Signal, ...]:
    return tuple(Signal(s.name, s.score, s.value, s.meaning, weights[s.name]) for s in signals if s.name in weights)


def _penalties(instance: Instance) -> tuple[tuple[str, float], ...]:
    if instance.target_groups:
        return ((f"registered in target group {', '.join(instance.target_groups)}", TARGET_GROUP_PENALTY),)
    return ()


def running(instance: Instance, window: Window, now: datetime, volumes: int, s: GhostProbeSettings) -> Fusion:
    idle = Signal(
        "idle_days_share",
        window.low_share,
        f"{window.low} of {window.measured} measured days low",
        f"days with average CPU <= {s.cpu_threshold_percent:g} % and network <= {s.network_threshold_mb_per_day:g} MB",
    )
    coverage = Signal(
        "data_coverage",
        window.measured / window.window_days,
        f"{window.measured} of {window.window_days} days measured",
        "CloudWatch data for the whole window",
    )
    signals = _weighted([coverage, *_context(instance, now, volumes, s)], RUNNING_WEIGHTS)
    return Fusion(idle, signals, _penalties(instance))


def stopped(instance: Instance, stopped_days: float, now: datetime, volumes: int, s: GhostProbeSettings) -> Fusion:
    horizon = 2 * s.stopped_days_before_terminate
    duration = Signal(
        "stopped_duration",
        min(1.0, stopped_days / horizon),
        f"{stopped_days:.0f} days",
        f"stopped for {horizon} days or more scores 1",
    )
    signals = _weighted([duration, *_context(instance, now, volumes, s)], STOPPED_WEIGHTS)
    return Fusion(None, signals, _penalties(instance))
