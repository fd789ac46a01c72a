"""Settings of the EBS cleanup engine: every knob with its unit, default and why.

`EbsCleanupEngine.Settings` points here; the UI renders the field descriptions as the settings
form, and `engine.py` and `report.py` read the values.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class EbsCleanupSettings(BaseModel):
    """How long a volume must sit unattached, which tags keep it, and the smallest saving shown."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    grace_period_days: int = Field(
        14,
        ge=0,
        le=3650,
        description=(
            "Days (count) a volume must have been unattached before snapshot-then-delete is proposed. "
            "Default 14: volumes detached for a maintenance window or a node replacement come back "
            "within days; Cloud Custodian's mark-for-op examples use a few days to two weeks."
        ),
    )
    keep_tags: list[str] = Field(
        default_factory=lambda: ["cloudoptim.io/keep", "keep", "do-not-delete", "DoNotDelete"],
        description=(
            'Tags (text, "key" or "key=value", keys compared without case) that keep an unattached '
            'volume: "key" matches any value except false/no/0, "key=value" only that value. A kept '
            "volume is skipped with the tag named. Default cloudoptim.io/keep, keep, do-not-delete, "
            "DoNotDelete. They do not block gp2-to-gp3 changes, which delete nothing."
        ),
    )
    savings_floor_monthly_usd: Decimal = Field(
        Decimal("1"),
        ge=0,
        description=(
            "Smallest monthly saving, in USD per month, for which a recommendation is made; smaller "
            "ones are skipped with the figure. Default 1: an 8 GiB gp2 root volume saves $0.16 as gp3, "
            "less than the review costs."
        ),
    )
    recommend_gp3: bool = Field(
        True,
        description=(
            "Whether attached gp2 volumes get a gp2-to-gp3 recommendation (on/off), priced with the "
            "IOPS and throughput that match gp2's baseline. Default on."
        ),
    )
    old_age_factor: float = Field(
        4.0,
        ge=1.0,
        le=100.0,
        description=(
            "Multiple (x) of the grace period beyond which an unattached volume counts as long "
            "abandoned, which raises the confidence of its recommendation. Default 4 (56 days with "
            "the default grace period)."
        ),
    )
