"""SQLModel tables for the analyst's web app: per-cluster engine switches, admin settings kept in
the database (guardrails, default schedules and holidays) and what-if plans.

Tables are created only by Alembic migrations (0008); `models.py` holds users and sessions.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db.states import PlanState, check_in
from app.db.types import JsonDoc, UtcDateTime, utcnow


class EngineToggle(SQLModel, table=True):
    """An engine switched on or off for one cluster; no row means the engine's default (on for
    built-ins, off for uploaded engines until an admin enables them)."""

    __tablename__ = "engine_toggles"
    __table_args__ = (UniqueConstraint("cluster_id", "engine"),)

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(foreign_key="clusters.id", index=True, ondelete="CASCADE")
    engine: str = Field(max_length=100)
    enabled: bool = True
    updated_by: str = Field(default="", max_length=100)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class AppSetting(SQLModel, table=True):
    """One admin-edited settings document (e.g. "guardrails", "schedules"), versioned so two admins
    editing at once get a conflict, never a silent overwrite."""

    __tablename__ = "app_settings"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=100)
    value: dict[str, Any] = Field(default_factory=dict, sa_type=JsonDoc)
    version: int = 1
    updated_by: str = Field(default="", max_length=100)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Plan(SQLModel, table=True):
    """A what-if plan for one cluster: the chosen recommendations in apply order and the projected
    monthly delta from re-running the engines on the snapshot with them applied."""

    __tablename__ = "plans"
    __table_args__ = (check_in("state", PlanState, "ck_plans_state"),)

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int | None = Field(default=None, foreign_key="clusters.id", index=True, ondelete="SET NULL")
    cluster_name: str = Field(default="", max_length=200)
    fingerprints: list[str] = Field(default_factory=list, sa_type=JsonDoc)
    projection: dict[str, Any] = Field(default_factory=dict, sa_type=JsonDoc)
    projected_monthly_delta: Decimal | None = Field(default=None, max_digits=14, decimal_places=2)
    state: str = Field(default=PlanState.DRAFT, max_length=20, description="a PlanState")
    created_by: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
    applied_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
