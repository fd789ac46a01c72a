"""Settings of the container rightsizing engine: the sizing policies and every knob's unit, default and why.

`RightsizingEngine.Settings` points here; the UI renders the field descriptions as the settings
form. `policy.py` turns a `Policy` (the default, a namespace's, or one overridden by workload
annotations) into a `stats.Rule`; `engine.py` and `report.py` read the rest.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engines.validators import NamespaceName

LimitMode = Literal["keep-ratio", "equal-request", "none"]


class Policy(BaseModel):
    """How one workload is sized: percentile and buffer per resource, history windows, floors, caps, limits.

    Default: CPU p95 of 14 days with no buffer (KRR's CPU rule: a short burst above a CPU request
    is throttling, not a crash), memory the maximum of the last 7 days plus 15 % (KRR uses the
    maximum of 14 days plus 15 %; a recent window forgets a leak or one-off load that a restart or
    fix has ended while 7 days still hold a full weekly cycle), KRR's 10m / 100 MiB floors. So it
    never asks more than KRR, and `python -m bench rightsizing` checks its violations against KRR's.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu_percentile: float = Field(
        95.0, gt=0, le=100,
        description="Percentile (0-100, 100 = maximum) of the CPU samples the request covers. Default 95, as KRR.",
    )
    cpu_buffer: float = Field(
        0.0, ge=0, le=5,
        description=("Fraction (0.15 = +15 %) added to the CPU percentile. Default 0: going over a CPU request "
                     "only slows a container when the node is busy, and p95 already leaves 5 % of samples above."),
    )
    memory_percentile: float = Field(
        100.0, gt=0, le=100,
        description=("Percentile (0-100, 100 = maximum) of the memory samples the request and limit cover. "
                     "Default 100 (the maximum): memory over the limit is an OOM kill, not a slowdown."),
    )
    memory_buffer: float = Field(
        0.15, ge=0, le=5,
        description="Fraction (0.15 = +15 %) added to the memory percentile. Default 0.15, as KRR and the VPA.",
    )
    history_days: float = Field(
        14.0, gt=0, le=90,
        description=("Days of usage history (days) read for CPU and for confidence. Default 14: two weekly "
                     "cycles, KRR's default."),
    )
    memory_recent_days: float = Field(
        7.0, gt=0, le=90,
        description=("Days (days, at most history_days) of the most recent memory samples the memory size is "
                     "taken from. Default 7: one full weekly cycle, while older one-off peaks are forgotten."),
    )
    min_history_days: float = Field(
        3.0, gt=0, le=90,
        description=("Days (days) of history a container needs, first to last sample, before it is sized; "
                     "less is skipped, never guessed. Default 3: several daily cycles."),
    )
    min_coverage: float = Field(
        0.5, gt=0, le=1,
        description=("Share (0-1) of the 5-minute slots since the first sample that must hold a sample; "
                     "gappier history is skipped. Default 0.5."),
    )
    cpu_floor_cores: float = Field(
        0.01, ge=0.001, le=64,
        description=("Smallest CPU request (cores) recommended. Default 0.01 (10m), KRR's minimum; the VPA "
                     "uses 25m. A floor never raises a request that is already below it."),
    )
    memory_floor_mib: int = Field(
        100, ge=4, le=1_048_576,
        description=("Smallest memory request (MiB) recommended. Default 100, KRR's minimum: the VPA's 250 MiB "
                     "asks more than many sidecars use (on the sandbox's traces it cost most of the memory "
                     "saving in `python -m bench rightsizing`). A floor never raises a request already below it."),
    )
    cpu_cap_cores: float | None = Field(
        None, gt=0,
        description="Largest CPU request (cores) recommended; None = no cap. Default none.",
    )
    memory_cap_mib: int | None = Field(
        None, gt=0,
        description="Largest memory request (MiB) recommended; None = no cap. Default none.",
    )
    cpu_limit: LimitMode = Field(
        "keep-ratio",
        description=("How the CPU limit follows the new request: keep-ratio (the old limit:request ratio; no "
                     "limit stays none), equal-request, or none (remove it). Default keep-ratio: the owners "
                     "chose whether to cap CPU."),
    )
    memory_limit: LimitMode = Field(
        "equal-request",
        description=("How the memory limit follows the new request: equal-request, keep-ratio or none. Default "
                     "equal-request (as KRR): memory above the request is not reserved on the node, so a "
                     "higher limit risks node-pressure eviction; the OOM risk shown is at this limit."),
    )

    @model_validator(mode="after")
    def _windows(self) -> Policy:
        if self.memory_recent_days > self.history_days:
            raise ValueError(f"memory_recent_days ({self.memory_recent_days}) exceeds history_days ({self.history_days})")
        if self.min_history_days > self.history_days:
            raise ValueError(f"min_history_days ({self.min_history_days}) exceeds history_days ({self.history_days})")
        return self


class RightsizingSettings(BaseModel):
    """The default policy, per-namespace policies, the HPA rule and the smallest change worth making."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_policy: Policy = Field(
        default_factory=Policy,
        description=("The policy (see its fields) for workloads without a namespace policy. Workload annotations "
                     "cloudoptim.io/rightsizing-cpu-percentile, -memory-percentile, -cpu-buffer, -memory-buffer "
                     "override it per workload; cloudoptim.io/rightsizing: off opts a workload out."),
    )
    namespace_policies: dict[NamespaceName, Policy] = Field(
        default_factory=dict,
        description="Policies (namespace -> policy) replacing the default for a whole namespace. Default none.",
    )
    hpa_same_resource: Literal["keep-resource", "skip"] = Field(
        "keep-resource",
        description=("What to do with a workload whose HorizontalPodAutoscaler scales on CPU or memory "
                     "utilisation: keep-resource (leave that resource's request and limit as they are, size the "
                     "other; changing it would change when the HPA scales) or skip the workload. Default "
                     "keep-resource."),
    )
    min_change_percent: float = Field(
        10.0, ge=0, le=100,
        description=("Smallest change (percent of the current request) of CPU or memory that makes a "
                     "recommendation; smaller ones are skipped as already right-sized. Default 10: pod restarts "
                     "cost more than a few percent."),
    )
    savings_floor_monthly_usd: Decimal = Field(
        Decimal("1"), ge=0,
        description=("Smallest requests-value saving (USD per month) for a recommendation that lowers cost; "
                     "smaller ones are skipped with the figure. Raises (reliability) are never floored. Default 1."),
    )
    node_level_search_effort: int = Field(
        1, ge=1, le=16,
        description=("Search effort (count, 1-16) of the two bin-packing runs that price the node-level saving "
                     "(the binpack engine's search_effort). Default 1: one candidate order, what the binpack "
                     "engine itself uses above 200 nodes; both runs use the same effort, so their difference "
                     "is fair, and the scan stays fast on 10,000 containers."),
    )
    price_split_pair: tuple[str, str] = Field(
        ("c5.large", "r5.large"),
        description=("Two instance types (compute-optimised, memory-optimised; same vCPUs) whose real on-demand "
                     "prices in the cluster's region give the price ratio of one vCPU to one GiB; each node's "
                     "price is split into CPU and memory by that ratio to value requests. Default c5.large and "
                     "r5.large (2 vCPU, 4 vs 16 GiB)."),
    )
