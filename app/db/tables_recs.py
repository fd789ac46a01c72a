"""SQLModel tables for decisions and their outcome: recommendations, executions (with state machine
and pre-image), the audit trail, the realized-savings ledger, scan runs and per-cluster engine
settings. Written by app.services (scans, approvals) and the worker's executor.

Removing a cluster deletes what only describes it (its recommendations and scan history) and keeps
what records a decision or money (executions, audit events, the savings ledger): those rows lose
their cluster_id but keep `cluster_name`. Status columns hold the StrEnums of app.db.states and a
named CHECK constraint refuses any other value.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

import app.db.tables_app  # noqa: F401  (executions.plan_id refers to plans.id)
from app.db.states import ExecutionKind, ExecutionState, RecPurpose, RecStatus, ScanStatus, ScanTrigger, check_in
from app.db.types import JsonDoc, UtcDateTime, utcnow


class ScanRun(SQLModel, table=True):
    __tablename__ = "scan_runs"
    __table_args__ = (
        check_in("trigger", ScanTrigger, "ck_scan_runs_trigger"),
        check_in("status", ScanStatus, "ck_scan_runs_status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # NULL = a scan of every cluster; a cluster's own runs go with it.
    cluster_id: int | None = Field(default=None, foreign_key="clusters.id", index=True, ondelete="CASCADE")
    trigger: str = Field(default=ScanTrigger.CLI, max_length=20, description="a ScanTrigger")
    status: str = Field(default=ScanStatus.RUNNING, max_length=20, index=True, description="a ScanStatus")
    started_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
    finished_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    duration_s: float | None = Field(default=None, description="seconds, whole run")
    collect_s: float | None = Field(default=None, description="seconds spent collecting")
    engine_s: float | None = Field(default=None, description="seconds spent in engines")
    engines: list[str] = Field(default_factory=list, sa_type=JsonDoc)
    counts: dict[str, Any] = Field(default_factory=dict, sa_type=JsonDoc)
    skipped: list[dict[str, str]] = Field(default_factory=list, sa_type=JsonDoc)
    error: str | None = None


class Recommendation(SQLModel, table=True):
    __tablename__ = "recommendations"
    __table_args__ = (
        check_in("status", RecStatus, "ck_recommendations_status"),
        check_in("purpose", RecPurpose, "ck_recommendations_purpose"),
    )

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(unique=True, max_length=64)
    engine: str = Field(max_length=100, index=True)
    cluster_id: int | None = Field(default=None, foreign_key="clusters.id", index=True, ondelete="CASCADE")
    target: str = Field(max_length=500)
    action_kind: str = Field(max_length=60)
    action: dict[str, Any] = Field(default_factory=dict, sa_type=JsonDoc)
    current_monthly_cost: Decimal = Field(max_digits=14, decimal_places=2)
    projected_monthly_cost: Decimal = Field(max_digits=14, decimal_places=2)
    monthly_savings: Decimal = Field(max_digits=14, decimal_places=2, index=True)
    risk: str = Field(default="low", max_length=10)
    purpose: str = Field(default=RecPurpose.SAVING, max_length=20, sa_column_kwargs={"server_default": "saving"},
                         description="a RecPurpose: reliability rows are left out of savings totals")
    confidence: float = 1.0
    rationale: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=JsonDoc)
    status: str = Field(default=RecStatus.OPEN, max_length=20, index=True, description="a RecStatus")
    scan_run_id: int | None = Field(default=None, foreign_key="scan_runs.id", ondelete="SET NULL")
    # Fingerprints of other recommendations: to apply first, and touching the same target.
    depends_on: list[str] = Field(default_factory=list, sa_type=JsonDoc, sa_column_kwargs={"server_default": "[]"})
    related: list[str] = Field(default_factory=list, sa_type=JsonDoc, sa_column_kwargs={"server_default": "[]"})
    # Other engines' recommendations on the same target (the larger saving counts in totals).
    conflicts_with: list[str] = Field(
        default_factory=list, sa_type=JsonDoc, sa_column_kwargs={"server_default": "[]"}
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    # The target's namespace (None for nodes and account resources): a column so the
    # Recommendations page filters by it in SQL.
    namespace: str | None = Field(default=None, max_length=253, index=True)
    # Hidden from the open list until then (status stays open); set by Snooze.
    snoozed_until: datetime | None = Field(default=None, sa_type=UtcDateTime, index=True)


# At most one queued or running execution per fingerprint: a double click, or two analysts
# applying the same recommendation, meet this index and get the execution that won.
ACTIVE_EXECUTION = "state IN ('queued', 'running')"


class Execution(SQLModel, table=True):
    """One apply (or rollback) of a recommendation: its state machine, plan, pre-image and steps.

    `steps` lists {name, status, detail, at, response} as the worker recorded them (each also an
    audit event); `owner` is the worker ("host:pid") running it; `reason` says in words why it
    ended refused, failed or cancelled (`error` keeps the exception text).
    """

    __tablename__ = "executions"
    __table_args__ = (
        check_in("state", ExecutionState, "ck_executions_state"),
        check_in("kind", ExecutionKind, "ck_executions_kind"),
        Index("uq_executions_active_fingerprint", "fingerprint", unique=True,
              sqlite_where=text(ACTIVE_EXECUTION), postgresql_where=text(ACTIVE_EXECUTION)),
    )  # fmt: skip

    id: int | None = Field(default=None, primary_key=True)
    recommendation_id: int | None = Field(
        default=None, foreign_key="recommendations.id", index=True, ondelete="SET NULL"
    )
    cluster_id: int | None = Field(default=None, foreign_key="clusters.id", index=True, ondelete="SET NULL")
    cluster_name: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    # The recommendation's, kept when the recommendation row goes with its cluster.
    fingerprint: str | None = Field(default=None, max_length=64, index=True)
    target: str = Field(default="", max_length=500, sa_column_kwargs={"server_default": ""})
    kind: str = Field(default=ExecutionKind.APPLY, max_length=20, sa_column_kwargs={"server_default": "apply"},
                      description="an ExecutionKind")  # fmt: skip
    rollback_of: int | None = Field(default=None, foreign_key="executions.id", ondelete="SET NULL")
    action_kind: str = Field(max_length=60)
    action: dict[str, Any] = Field(default_factory=dict, sa_type=JsonDoc)
    state: str = Field(default=ExecutionState.QUEUED, max_length=20, index=True, description="an ExecutionState")
    requested_by: str = Field(default="", max_length=100)
    approved_by: str | None = Field(default=None, max_length=100)
    approved_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    owner: str | None = Field(default=None, max_length=100, description="worker host:pid running it")
    dry_run: bool = False
    pre_image: dict[str, Any] = Field(default_factory=dict, sa_type=JsonDoc)
    plan: dict[str, Any] = Field(default_factory=dict, sa_type=JsonDoc)
    result: dict[str, Any] = Field(default_factory=dict, sa_type=JsonDoc)
    steps: list[dict[str, Any]] = Field(default_factory=list, sa_type=JsonDoc, sa_column_kwargs={"server_default": "[]"})
    reason: str | None = Field(default=None, sa_type=Text)
    error: str | None = None
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
    started_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    heartbeat_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # A plan's executions run one at a time in `plan_step` order; a step waits for the earlier
    # ones to succeed, and is cancelled when one of them did not.
    plan_id: int | None = Field(default=None, foreign_key="plans.id", index=True, ondelete="SET NULL")
    plan_step: int | None = None


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    execution_id: int | None = Field(default=None, foreign_key="executions.id", index=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=100)
    target: str = Field(default="", max_length=500)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JsonDoc)
    at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)


class CostSaving(SQLModel, table=True):
    """Realized-savings ledger: what an applied change saved, measured after the fact."""

    __tablename__ = "cost_savings"

    id: int | None = Field(default=None, primary_key=True)
    execution_id: int | None = Field(default=None, foreign_key="executions.id", index=True)
    cluster_id: int | None = Field(default=None, foreign_key="clusters.id", index=True, ondelete="SET NULL")
    cluster_name: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    engine: str = Field(max_length=100, index=True)
    expected_monthly_savings: Decimal = Field(max_digits=14, decimal_places=2)
    realized_monthly_savings: Decimal | None = Field(default=None, max_digits=14, decimal_places=2)
    period_start: datetime = Field(sa_type=UtcDateTime)
    period_end: datetime | None = Field(default=None, sa_type=UtcDateTime)
    measured_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
    notes: str = ""


class EngineSetting(SQLModel, table=True):
    __tablename__ = "engine_settings"
    __table_args__ = (UniqueConstraint("cluster_id", "engine"),)

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(foreign_key="clusters.id", index=True, ondelete="CASCADE")
    engine: str = Field(max_length=100)
    values: dict[str, Any] = Field(default_factory=dict, sa_type=JsonDoc)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    # Optimistic concurrency: a save names the version it edited; a newer one means someone
    # else saved first, and the second admin sees a conflict instead of overwriting.
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    updated_by: str = Field(default="", max_length=100, sa_column_kwargs={"server_default": ""})
