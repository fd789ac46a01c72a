"""Settings of the ghost-probe engine: every knob with its unit, default and why.

`GhostProbeEngine.Settings` points here; the UI renders the field descriptions as the settings
form, and `idle.py` (the daily window), `gates.py` (what is never touched), `signals.py` (the
confidence) and `engine.py` (stop and terminate) read the values. The idle defaults are AWS
Trusted Advisor's "Low Utilization Amazon EC2 Instances" check.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class GhostProbeSettings(BaseModel):
    """What counts as an idle day, how much data is needed, and when a stopped instance is gone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_days: int = Field(
        14,
        ge=1,
        le=63,
        description=(
            "Days (count) of CloudWatch history judged, ending on the scan day. Default 14, as Trusted "
            "Advisor and Cloud Custodian's metrics filter; CloudWatch keeps hourly data for 63 days."
        ),
    )
    cpu_threshold_percent: float = Field(
        10.0,
        gt=0.0,
        le=100.0,
        description=(
            "Daily average CPUUtilization, in percent, at or under which a day can count as low. "
            "Default 10, Trusted Advisor's threshold."
        ),
    )
    network_threshold_mb_per_day: float = Field(
        5.0,
        ge=0.0,
        description=(
            "NetworkIn + NetworkOut per day, in MB (1,000,000 bytes), at or under which a day can count as "
            "low; a partly measured day is scaled to 24 hours first. Default 5, Trusted Advisor's threshold."
        ),
    )
    min_low_days: int = Field(
        4,
        ge=1,
        description=(
            "Fewest low days (count) within the window for an instance to be called idle. Default 4, "
            "Trusted Advisor's '4 of the last 14 days'; the share of low days also drives the confidence."
        ),
    )
    min_measured_days: int = Field(
        7,
        ge=1,
        description=(
            "Fewest measured days (count) within the window needed to judge a running instance; fewer "
            "gives a skip 'not enough CloudWatch data'. Default 7: half of the default window."
        ),
    )
    min_hours_per_day: int = Field(
        12,
        ge=1,
        le=24,
        description=(
            "Fewest hours with CloudWatch data (count) for a day to be counted. Days with fewer (the "
            "instance was stopped, launched or had a gap) are not counted and the evidence says how "
            "many were dropped, as Cloud Custodian treats missing data. Default 12."
        ),
    )
    min_age_days: int = Field(
        30,
        ge=0,
        description=(
            "Age in days since launch from which age fully supports the idle verdict (a younger "
            "instance may still be being set up). Default 30."
        ),
    )
    stopped_days_before_terminate: int = Field(
        30,
        ge=1,
        description=(
            "Days (count) a stopped instance must have been stopped before terminating it is proposed; "
            "a running idle instance is only ever proposed for a stop first. Default 30."
        ),
    )
    min_confidence: float = Field(
        0.4,
        ge=0.0,
        le=1.0,
        description=(
            "Lowest confidence (0-1) for which a stop or a termination is proposed; a lower one gives a skip naming "
            "the signals against it. Default 0.4: an idle instance in a load-balancer target group "
            "(confidence halved) is still shown, one idle on only 4 of 14 days is not."
        ),
    )
    owner_tag_keys: list[str] = Field(
        default_factory=lambda: ["owner", "team", "created-by", "contact"],
        description=(
            "Tag keys (text, case-insensitive) naming who owns an instance; an instance with none of "
            "them is likelier orphaned. Default owner, team, created-by, contact."
        ),
    )
    environment_tag_keys: list[str] = Field(
        default_factory=lambda: ["environment", "env", "stage"],
        description=(
            "Tag keys (text, case-insensitive) naming an instance's environment; a production value "
            "(prod, production, live) lowers the confidence. Default environment, env, stage."
        ),
    )
    opt_out_tag_keys: list[str] = Field(
        default_factory=lambda: ["cloudoptim.io/keep", "cloudoptim.io/opt-out"],
        description=(
            'Tag keys (text) that, set to any value other than "false", keep an instance out of this '
            "engine. Default cloudoptim.io/keep and cloudoptim.io/opt-out."
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> GhostProbeSettings:
        if self.min_low_days > self.window_days:
            raise ValueError("min_low_days cannot exceed window_days")
        if self.min_measured_days > self.window_days:
            raise ValueError("min_measured_days cannot exceed window_days")
        return self
