"""Spot risk scorers: P(interruption in one hour) per pool, from the Advisor prior and the account's
own history, or from an analyst's scikit-learn model.

Pure: a scorer is a function of `PoolFeatures` only. The default, `AdvisorPriorScorer`, treats the
pool's Spot Advisor bucket as a Gamma prior on the hourly interruption rate worth `prior_hours`
instance-hours, and updates it with the interruptions and Spot instance-hours the account itself
observed in that pool (spot_warnings): posterior mean = (prior_rate x prior_hours + interruptions)
/ (prior_hours + observed_hours). An uploaded model (app.services.spot_models) implements the same
protocol over the same `FEATURE_NAMES`, so the engine never knows which one it uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

from engines.money import HOURS_PER_MONTH
from engines.spot.ranking import BUCKET_MONTHLY_RATE

# The feature schema a model must declare, in this order (name -> meaning).
FEATURES: dict[str, str] = {
    "advisor_bucket": "Spot Advisor interruption bucket, 0 (<5 %) to 4 (>20 %)",
    "advisor_savings_percent": "Spot Advisor saving vs on-demand, percent",
    "vcpu": "vCPUs of the instance type",
    "memory_gib": "memory of the instance type, GiB",
    "gpus": "GPUs of the instance type",
    "spot_to_on_demand": "average Spot price / on-demand price",
    "observed_interruptions": "interruption warnings the account received in this pool in the window",
    "observed_hours": "Spot instance-hours the account ran in this pool in the window",
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)
SPOT_RISK_MODEL = "spot-risk"  # the key of ScanContext.models and the kind of a stored model


@dataclass(frozen=True)
class PoolFeatures:
    """What a scorer may know about one pool (instance type in a zone of a region)."""

    region: str
    instance_type: str
    zone: str
    advisor_bucket: int
    advisor_savings_percent: int
    vcpu: int
    memory_gib: float
    gpus: int
    spot_to_on_demand: float
    observed_interruptions: int = 0
    observed_hours: float = 0.0

    def vector(self) -> list[float]:
        """The features in FEATURE_NAMES order, as a model's input row."""
        values = asdict(self)
        return [float(values[name]) for name in FEATURE_NAMES]


class SpotRiskScorer(Protocol):
    """Anything that gives P(interruption in one hour) for pools, one probability per pool; `name`
    (an attribute or a property) is shown in the evidence of every recommendation it ranked."""

    @property
    def name(self) -> str: ...

    def p_interruption_hour(self, pools: Sequence[PoolFeatures]) -> list[float]: ...


@dataclass(frozen=True)
class AdvisorPriorScorer:
    """The default: the Advisor bucket as prior, the account's own history as evidence."""

    prior_hours: float = float(HOURS_PER_MONTH)
    name: str = "advisor-prior"

    def p_interruption_hour(self, pools: Sequence[PoolFeatures]) -> list[float]:
        out = []
        for pool in pools:
            prior_rate = float(BUCKET_MONTHLY_RATE.get(pool.advisor_bucket, BUCKET_MONTHLY_RATE[4])) / float(
                HOURS_PER_MONTH
            )
            hours = max(pool.observed_hours, 0.0)
            events = max(pool.observed_interruptions, 0)
            rate = (prior_rate * self.prior_hours + events) / (self.prior_hours + hours)
            out.append(min(max(rate, 0.0), 1.0))
        return out
