"""SQLModel tables the cloud engines' collectors and scorers keep between scans: how long each EBS
volume has been unattached, and the Spot risk scorer's predictions (to compare with what happened).

Written by app.services (volume tracking during collection, Spot predictions after a scan); read
when the next snapshot is built and by the Models views. Times are aware UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db.types import JsonDoc, UtcDateTime, utcnow


class VolumeSighting(SQLModel, table=True):
    """One EBS volume as scans have seen it. `unattached_since` is when it was first seen with no
    attachment in the current unattached stretch (reset when seen attached again); `detached_at`
    is the last DetachVolume CloudTrail knows of, looked up once per stretch."""

    __tablename__ = "volume_sightings"
    __table_args__ = (UniqueConstraint("account_id", "region", "volume_id", name="uq_volume_sightings_volume"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(max_length=20)
    region: str = Field(max_length=40)
    volume_id: str = Field(max_length=40, index=True)
    first_seen_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    unattached_since: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_instance_id: str | None = Field(default=None, max_length=40)
    detached_at: datetime | None = Field(default=None, sa_type=UtcDateTime, description="from CloudTrail")
    detach_checked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class SpotPrediction(SQLModel, table=True):
    """What a Spot risk scorer (the default prior or an uploaded model) predicted for one pool."""

    __tablename__ = "spot_predictions"

    id: int | None = Field(default=None, primary_key=True)
    model_id: int | None = Field(default=None, foreign_key="models.id", index=True, ondelete="SET NULL")
    scorer: str = Field(max_length=100, description="'advisor-prior' or the model's name")
    scan_run_id: int | None = Field(default=None, foreign_key="scan_runs.id", ondelete="SET NULL")
    region: str = Field(max_length=40)
    instance_type: str = Field(max_length=40)
    zone: str = Field(default="", max_length=40)
    p_interruption_hour: float
    features: dict[str, Any] = Field(default_factory=dict, sa_type=JsonDoc)
    predicted_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
