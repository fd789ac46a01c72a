"""Typed, read-only views of executions and their steps, for the CLI, the pages and the worker.

Built from `executions` rows by `app.services.executions` and `app.services.execution_worker`;
`ExecutionView.record()` is the JSON-ready form `cloudoptim executions ... --format json` prints.
Views are frozen copies, safe to hand from the worker's thread or a session that has closed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.db.states import ExecutionKind, ExecutionState
from app.db.tables_recs import Execution


def jsonable(value: Any) -> Any:
    """`value` as plain JSON types (a Kubernetes model or a datetime in a response becomes text),
    so a step or a pre-image can always be stored in a JSON column."""
    return json.loads(json.dumps(value, default=str))


@dataclass(frozen=True)
class StepView:
    """One recorded step: `status` is a StepStatus value (started, succeeded, failed, ...)."""

    name: str
    status: str
    detail: str
    at: datetime | None
    response: dict[str, Any]

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> StepView:
        at = doc.get("at")
        return cls(
            name=str(doc.get("name", "")), status=str(doc.get("status", "")), detail=str(doc.get("detail", "")),
            at=datetime.fromisoformat(at) if isinstance(at, str) and at else None,
            response=dict(doc.get("response") or {}),
        )  # fmt: skip

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail,
                "at": self.at.isoformat() if self.at else None, "response": self.response}  # fmt: skip


@dataclass(frozen=True)
class ExecutionView:
    """One execution as the CLI and the pages show it; `cluster` is the name it had then."""

    id: int
    kind: ExecutionKind
    state: ExecutionState
    fingerprint: str | None
    recommendation_id: int | None
    cluster_id: int | None
    cluster: str
    target: str
    action_kind: str
    action: dict[str, Any]
    dry_run: bool
    requested_by: str
    approved_by: str | None
    approved_at: datetime | None
    owner: str | None
    rollback_of: int | None
    plan: dict[str, Any]
    pre_image: dict[str, Any]
    result: dict[str, Any]
    steps: tuple[StepView, ...]
    reason: str | None
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    plan_id: int | None = None  # a step of this plan (run in plan_step order)
    plan_step: int | None = None

    @property
    def finished(self) -> bool:
        return not self.state.active

    @property
    def reversible(self) -> bool:
        """A real apply that succeeded and whose plan says it can be undone."""
        return (self.kind is ExecutionKind.APPLY and self.state is ExecutionState.SUCCEEDED and not self.dry_run
                and bool(self.plan.get("reversible")))  # fmt: skip

    @property
    def last_step(self) -> StepView | None:
        return self.steps[-1] if self.steps else None

    def record(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 UTC, enums as their values."""

        def when(t: datetime | None) -> str | None:
            return t.isoformat() if t else None

        return {
            "id": self.id, "kind": self.kind.value, "state": self.state.value, "fingerprint": self.fingerprint,
            "recommendation_id": self.recommendation_id, "cluster": self.cluster, "target": self.target,
            "action": self.action_kind, "action_spec": self.action, "dry_run": self.dry_run,
            "requested_by": self.requested_by, "approved_by": self.approved_by, "approved_at": when(self.approved_at),
            "owner": self.owner, "rollback_of": self.rollback_of, "reversible": self.reversible,
            "plan": self.plan, "pre_image": self.pre_image, "result": self.result,
            "steps": [s.record() for s in self.steps], "reason": self.reason, "error": self.error,
            "attempts": self.attempts, "created_at": when(self.created_at), "started_at": when(self.started_at),
            "finished_at": when(self.finished_at), "heartbeat_at": when(self.heartbeat_at),
        }  # fmt: skip


def view(row: Execution) -> ExecutionView:
    assert row.id is not None, "a stored execution has an id"
    return ExecutionView(
        id=row.id, kind=ExecutionKind(row.kind), state=ExecutionState(row.state), fingerprint=row.fingerprint,
        recommendation_id=row.recommendation_id, cluster_id=row.cluster_id, cluster=row.cluster_name,
        target=row.target, action_kind=row.action_kind, action=dict(row.action or {}), dry_run=row.dry_run,
        requested_by=row.requested_by, approved_by=row.approved_by, approved_at=row.approved_at, owner=row.owner,
        rollback_of=row.rollback_of, plan=dict(row.plan or {}), pre_image=dict(row.pre_image or {}),
        result=dict(row.result or {}), steps=tuple(StepView.from_doc(s) for s in row.steps or []),
        reason=row.reason, error=row.error, attempts=row.attempts, created_at=row.created_at,
        started_at=row.started_at, finished_at=row.finished_at, heartbeat_at=row.heartbeat_at,
        plan_id=row.plan_id, plan_step=row.plan_step,
    )  # fmt: skip
