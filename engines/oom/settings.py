"""Settings of the OOMKilled remediation engine: every knob with its unit, default and why.

`OomRemediationEngine.Settings` points here; the UI renders the field descriptions as the settings
form. `triage.py` reads the classification knobs, `engine.py` the sizing formula, caps and cost
split. The sizing defaults are the Kubernetes VPA's OOM bump (oom-bump-up-ratio 1.2,
oom-min-bump-up-bytes 100 MiB); the triage in front of it is what the VPA and KRR do not do.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class OomRemediationSettings(BaseModel):
    """Which kills count, how each class of case is sized, the caps, and how memory is priced."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lookback_days: int = Field(
        14, ge=1, le=30,
        description=(
            "Days (count) of history judged, ending at the scan: OOM kills, evictions and memory samples "
            "older than this are ignored. Default 14, the usage window the collectors keep; at most 30, "
            "the termination history the pipeline reads into the snapshot."
        ),
    )
    min_oom_kills: int = Field(
        1, ge=1,
        description=(
            "Fewest OOM kills (count) of one owner's container within the window before its limit is "
            "raised. Default 1: every OOM kill loses the container's work and restarts it."
        ),
    )
    bump_factor: float = Field(
        1.2, ge=1.0, le=4.0,
        description=(
            "Multiple (x) of the memory the container reached (its limit or its measured peak, whichever "
            "is higher) for a limit that steady peaks hit. Default 1.2, the VPA's oom-bump-up-ratio."
        ),
    )
    min_bump_mib: int = Field(
        100, ge=0, le=65536,
        description=(
            "Smallest raise, in MiB, added to the memory the container reached; the new limit is the "
            "larger of reached + this and reached x the class factor. Default 100, the VPA's "
            "oom-min-bump-up-bytes; it matters for small limits where 20 % is a few MiB."
        ),
    )
    spike_factor: float = Field(
        1.5, ge=1.0, le=4.0,
        description=(
            "Multiple (x) for a spike: usage normally well under the limit, killed during a short burst. "
            "The kill cut the burst off, so its real height is unknown and 1.2 often OOMs again. "
            "Default 1.5."
        ),
    )
    crash_loop_factor: float = Field(
        2.0, ge=1.0, le=8.0,
        description=(
            "Multiple (x) of the current limit for a container that OOMs right after start with no usage "
            "recorded (too short-lived for a 5-minute sample): start-up needs more than the limit, by an "
            "unknown amount, so the limit is doubled. Default 2. The VPA recommends nothing here."
        ),
    )
    crash_loop_min_restarts: int = Field(
        3, ge=1,
        description=(
            "Fewest restarts (count) for a container without usage samples to count as a crash loop "
            "(sized by crash_loop_factor); fewer restarts use bump_factor on the limit. Default 3."
        ),
    )
    steady_peak_fraction: float = Field(
        0.85, gt=0.0, le=1.0,
        description=(
            "Fraction (0-1) of the limit that the median per-day peak must reach for the limit to be "
            "called too low for steady peaks; under it the kill is called a spike. Default 0.85."
        ),
    )
    min_valid_samples: int = Field(
        12, ge=1,
        description=(
            "Fewest valid memory samples (count, 5 minutes each) needed to classify from usage; with "
            "fewer, the case is sized from the limit and the restart pattern. Default 12 (one hour)."
        ),
    )
    max_bad_sample_share: float = Field(
        0.1, ge=0.0, le=1.0,
        description=(
            "Largest share (0-1) of recorded samples that may be NaN, negative or above the node's memory; "
            "beyond it the series is called garbage and the case is skipped, never sized on it. Bad "
            "samples under the share are dropped and counted in the evidence. Default 0.1."
        ),
    )
    reset_drop_fraction: float = Field(
        0.5, gt=0.0, lt=1.0,
        description=(
            "Drop (fraction 0-1 of the previous sample) that marks a restart in a memory series; the leak "
            "test fits each stretch between restarts. Default 0.5: a restarted process starts far lower."
        ),
    )
    leak_min_hours: float = Field(
        6.0, ge=0.5, le=336.0,
        description=(
            "Shortest stretch between restarts, in hours, fitted by the leak test; shorter stretches are "
            "start-up warm-ups. Default 6."
        ),
    )
    leak_min_r2: float = Field(
        0.8, ge=0.0, le=1.0,
        description=(
            "Lowest R squared (0-1) of the straight-line fit for a stretch to count as steady growth. "
            "Default 0.8: a daily cycle or a plateau fits a line much worse."
        ),
    )
    leak_min_rise_fraction: float = Field(
        0.3, gt=0.0, le=1.0,
        description=(
            "Smallest rise over a fitted stretch, as a fraction (0-1) of the limit, for it to count as "
            "growth. A leak is called when at least half of the long stretches grow like this. Default 0.3."
        ),
    )
    recommend_for_leaks: bool = Field(
        False,
        description=(
            "Whether a likely leak gets a high-risk, low-confidence raise (on) or only a skip with the "
            "growth evidence (off). Default off: a bigger limit only delays the next kill of a leaking "
            "process and hides the bug; the skip names the growth rate so the owner can fix it."
        ),
    )
    max_increase_factor: float = Field(
        4.0, ge=1.0, le=16.0,
        description=(
            "Largest new limit as a multiple (x) of the current one in one recommendation; a bigger need "
            "is capped and marked. Default 4: larger jumps deserve a look at the workload first."
        ),
    )
    max_limit_gib: float = Field(
        64.0, gt=0.0, le=24576.0,
        description=(
            "Largest memory limit, in GiB, ever recommended; also capped at the largest node's allocatable "
            "memory (a limit no node can hold only moves the kill to the node). Default 64."
        ),
    )
    cpu_to_ram_cost_ratio: float = Field(
        7.46, gt=0.0, le=100.0,
        description=(
            "Price of one vCPU as a multiple (x) of the price of one GiB of RAM, used to split a node's "
            "hourly price into CPU and memory (price per GiB-hour = node $/h / (vCPUs x ratio + GiB)). "
            "Default 7.46, Kubecost's default allocation prices ($0.031611 per vCPU-hour, $0.004237 "
            "per GiB-hour)."
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> OomRemediationSettings:
        if self.spike_factor < self.bump_factor:
            raise ValueError("spike_factor cannot be below bump_factor")
        return self
