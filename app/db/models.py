"""SQLModel tables for the estate and people: clusters, nodes, pod events, Spot warnings (and the
queue messages that could not be read as one), users, uploaded engine modules and models, and
stored snapshots.

Tables are created only by Alembic migrations (app/migrations); `tables_recs.py` holds the
recommendation/execution/savings side. Money is Decimal (NUMERIC), times are aware UTC.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db.states import Role, SpotWarningStatus, UploadState, check_in
from app.db.types import JsonDoc, UtcDateTime, utcnow


class Cluster(SQLModel, table=True):
    __tablename__ = "clusters"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    region: str = Field(max_length=40)
    context: str = Field(default="", max_length=200, description="kubeconfig context")
    kubeconfig_path: str = Field(default="", max_length=1000)
    account_id: str = Field(default="", max_length=20)
    usage_source: str = Field(
        default="", max_length=1000, sa_column_kwargs={"server_default": ""}, description="prometheus URL (http...) or usage CSV file/dir; empty = none"
    )
    traffic_source: str = Field(
        default="", max_length=1000, sa_column_kwargs={"server_default": ""}, description="traffic CSV file; empty = none")
    is_sandbox: bool = False
    monthly_cost: Decimal | None = Field(default=None, max_digits=14, decimal_places=2)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    last_scan_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_error: str | None = None


class Node(SQLModel, table=True):
    __tablename__ = "nodes"
    __table_args__ = (UniqueConstraint("cluster_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(foreign_key="clusters.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=253)
    instance_id: str | None = Field(default=None, max_length=40)
    instance_type: str | None = Field(default=None, max_length=40)
    zone: str | None = Field(default=None, max_length=40)
    capacity_type: str = Field(default="on-demand", max_length=20)
    cpu_cores: float = 0.0
    memory_bytes: int = Field(default=0, sa_type=BigInteger)  # node memory overflows INTEGER
    pods: int = 0
    hourly_cost: Decimal | None = Field(default=None, max_digits=12, decimal_places=6)
    monthly_cost: Decimal | None = Field(default=None, max_digits=14, decimal_places=2)
    seen_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class PodEvent(SQLModel, table=True):
    __tablename__ = "pod_events"

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(foreign_key="clusters.id", index=True, ondelete="CASCADE")
    namespace: str = Field(max_length=253)
    pod: str = Field(max_length=253)
    container: str | None = Field(default=None, max_length=253)
    reason: str = Field(max_length=100, index=True)
    message: str = ""
    restart_count: int = 0
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)


class SpotWarning(SQLModel, table=True):
    """One EventBridge Spot warning (interruption notice or rebalance recommendation) and what the
    worker did about it: cordon, launch a replacement, drain, each with its time, within the notice.

    `handled_in_notice` is None until the handling ends; `feasibility` says in words whether the
    replacement could be ready before `deadline_at`, `detail` keeps the step responses.
    """

    __tablename__ = "spot_warnings"
    __table_args__ = (check_in("status", SpotWarningStatus, "ck_spot_warnings_status"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True, max_length=100, description="EventBridge event id")
    detail_type: str = Field(max_length=100)
    instance_id: str = Field(max_length=40, index=True)
    region: str = Field(max_length=40)
    # A warning is history of an instance: it outlives the cluster's registration.
    cluster_id: int | None = Field(default=None, foreign_key="clusters.id", index=True, ondelete="SET NULL")
    instance_action: str | None = Field(default=None, max_length=40)
    event_time: datetime | None = Field(default=None, sa_type=UtcDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
    status: str = Field(default=SpotWarningStatus.RECEIVED, max_length=20, index=True, description="a SpotWarningStatus")
    message: str = ""
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JsonDoc)
    node_name: str | None = Field(default=None, max_length=253)
    deadline_at: datetime | None = Field(default=None, sa_type=UtcDateTime, description="when AWS takes the instance")
    cordoned_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    replacement_launched_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    replacement_instance_id: str | None = Field(default=None, max_length=40)
    drained_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    handled_in_notice: bool | None = None
    feasibility: str | None = Field(default=None, sa_type=Text)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JsonDoc, sa_column_kwargs={"server_default": "{}"})


class QuarantinedMessage(SQLModel, table=True):
    """A queue message that is no Spot warning CloudOptim can read (bad JSON, unknown shape): kept
    with the reason and deleted from the queue, so it is neither lost nor received forever."""

    __tablename__ = "quarantined_messages"

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
    queue_url: str = Field(default="", max_length=1000)
    message_id: str = Field(default="", max_length=200)
    reason: str = Field(default="", sa_type=Text)
    body: str = Field(default="", sa_type=Text)


class User(SQLModel, table=True):
    """A local account (argon2 hash) or an OIDC identity (no hash). `failed_logins` counts the
    sign-in failures since the last success; past the limit the account is locked until
    `locked_until`, so guessing a password costs time per account, not per browser."""

    __tablename__ = "users"
    __table_args__ = (check_in("role", Role, "ck_users_role"),)

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, max_length=100)
    display_name: str = Field(default="", max_length=200)
    role: str = Field(default=Role.VIEWER, max_length=20, description="a Role")
    password_hash: str = Field(default="", max_length=300)
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    failed_logins: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    locked_until: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class UserSession(SQLModel, table=True):
    """A signed-in browser session: only the SHA-256 of its token is stored. A session ends at
    `expires_at` (absolute) or after the idle timeout since `last_seen_at`, whichever is first."""

    __tablename__ = "user_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(unique=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    expires_at: datetime = Field(sa_type=UtcDateTime, index=True)
    ended_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class EngineModule(SQLModel, table=True):
    """An uploaded engine module (.py): stored with its SHA-256, validated by the worker in a
    sandboxed subprocess (`state`, `report`), and enabled only once it passed."""

    __tablename__ = "engine_modules"
    __table_args__ = (check_in("state", UploadState, "ck_engine_modules_state"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=100)
    version: str = Field(default="", max_length=40)
    sha256: str = Field(max_length=64)
    source: str
    enabled: bool = False
    validation_error: str | None = None
    uploaded_by: str = Field(default="", max_length=100)
    uploaded_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    filename: str = Field(default="", max_length=255, sa_column_kwargs={"server_default": ""})
    size_bytes: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    state: str = Field(default=UploadState.PENDING, max_length=20, index=True,
                       sa_column_kwargs={"server_default": "pending"}, description="an UploadState")  # fmt: skip
    report: dict[str, Any] = Field(default_factory=dict, sa_type=JsonDoc, sa_column_kwargs={"server_default": "{}"})
    validated_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class StoredModel(SQLModel, table=True):
    """An analyst-uploaded model file (e.g. a forecasting model used by a custom engine)."""

    __tablename__ = "models"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=100)
    kind: str = Field(default="", max_length=40)
    sha256: str = Field(max_length=64)
    content: bytes
    meta: dict[str, Any] = Field(default_factory=dict, sa_type=JsonDoc)
    # At most one active model per kind is used (the service layer enforces it on activation).
    active: bool = Field(default=False, sa_column_kwargs={"server_default": "false"})
    validation_error: str | None = Field(default=None, sa_type=Text)
    uploaded_by: str = Field(default="", max_length=100)
    uploaded_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class StoredSnapshot(SQLModel, table=True):
    """The last good collected Snapshot per cluster, so a failing source never empties the UI."""

    __tablename__ = "snapshots"

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(foreign_key="clusters.id", index=True, ondelete="CASCADE")
    collected_at: datetime = Field(sa_type=UtcDateTime, index=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JsonDoc)
    errors: list[dict[str, str]] = Field(default_factory=list, sa_type=JsonDoc)
