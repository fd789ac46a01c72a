"""Executions, the analyst's side: approve a recommendation (queue it), roll back, cancel, list.

Called by `cloudoptim apply` / `cloudoptim executions` and the pages; the worker's side (claim,
steps, finish, recovery) is `app.services.execution_worker`, re-exported here. Applying is
idempotent per fingerprint: a partial unique index allows one queued or running execution per
recommendation, so a double click or two analysts racing get the one execution that won.
A real apply marks the recommendation `approved` (a dry run leaves it open); the worker then
moves it to `applied`, or back to `open` when nothing was applied.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.db import session_scope
from app.db.models import Cluster
from app.db.states import ExecutionKind, ExecutionState, RecStatus
from app.db.tables_recs import AuditEvent, Execution, Recommendation
from app.db.types import utcnow
from app.services.access import Actor, Permission, require
from app.services.execution_views import ExecutionView, StepView, view
from app.services.execution_worker import (
    claim_next,
    finish,
    heartbeat,
    interrupted,
    node_disruptions_since,
    record_step,
    save_plan,
)

__all__ = [
    "ExecutionError", "ExecutionView", "QueueResult", "StepView", "cancel_execution", "claim_next", "finish",
    "get_execution", "heartbeat", "interrupted", "list_executions", "node_disruptions_since", "queue_execution",
    "queue_rollback", "record_step", "resolve_fingerprint", "save_plan",
]  # fmt: skip

log = logging.getLogger(__name__)
MIN_PREFIX = 6
ACTIVE = (ExecutionState.QUEUED, ExecutionState.RUNNING)


class ExecutionError(ValueError):
    """The request cannot be queued as asked (unknown fingerprint or id, not open, not reversible)."""


@dataclass(frozen=True)
class QueueResult:
    """The execution for the request; `created` is False when an active one already existed."""

    execution: ExecutionView
    created: bool


def resolve_fingerprint(db: Engine, text: str) -> str:
    """The stored fingerprint `text` is, or is the unique prefix of (at least 6 characters)."""
    text = text.strip().lower()
    with Session(db) as session:
        if session.exec(select(Recommendation.id).where(Recommendation.fingerprint == text)).first() is not None:
            return text
        if len(text) < MIN_PREFIX:
            raise ExecutionError(f"no recommendation has fingerprint {text!r} (give at least {MIN_PREFIX} characters)")
        found = list(session.exec(
            select(Recommendation.fingerprint).where(col(Recommendation.fingerprint).startswith(text)).limit(3)
        ))  # fmt: skip
    if not found:
        raise ExecutionError(f"no recommendation has fingerprint {text!r} (see `cloudoptim scan --format json`)")
    if len(found) > 1:
        raise ExecutionError(f"{text!r} is the start of several fingerprints ({', '.join(found)}, ...): give more")
    return found[0]


def _active(session: Session, fingerprint: str) -> Execution | None:
    stmt = select(Execution).where(Execution.fingerprint == fingerprint, col(Execution.state).in_(ACTIVE))
    return session.exec(stmt).first()


def _already(active: Execution) -> QueueResult:
    """The active apply of a fingerprint, asked for again; an active rollback is no apply."""
    if active.kind == ExecutionKind.ROLLBACK:
        raise ExecutionError(f"rollback execution {active.id} of this recommendation is {active.state}; "
                             "apply it again once that has finished")  # fmt: skip
    return QueueResult(view(active), created=False)


def _audit(session: Session, row: Execution, actor: str, action: str, **details: object) -> None:
    session.add(AuditEvent(execution_id=row.id, actor=actor[:100], action=action[:100], target=row.target[:500],
                           details={"fingerprint": row.fingerprint, "kind": row.kind, **details}))  # fmt: skip


def queue_execution(db: Engine, fingerprint: str, *, requested_by: Actor, dry_run: bool = False,
                    plan_id: int | None = None, plan_step: int | None = None) -> QueueResult:
    """Queue an apply of the open recommendation `fingerprint`, or return its active execution.

    Raises ExecutionError for an unknown fingerprint, or a recommendation that is not open (and
    has no active execution): applied, dismissed, obsolete; AccessDenied for a role that may not
    apply. A plan's steps carry `plan_id`/`plan_step` and run in that order.
    """
    requested_by = require(requested_by, Permission.APPLY)
    try:
        with session_scope(db) as session:
            rec = session.exec(select(Recommendation).where(Recommendation.fingerprint == fingerprint)).first()
            if rec is None:
                raise ExecutionError(f"no recommendation has fingerprint {fingerprint!r}")
            existing = _active(session, fingerprint)
            if existing is not None:
                return _already(existing)
            if rec.status != RecStatus.OPEN:
                raise ExecutionError(f"recommendation {fingerprint} is {rec.status}, not open: only open "
                                     "recommendations can be applied")  # fmt: skip
            cluster = session.get(Cluster, rec.cluster_id) if rec.cluster_id is not None else None
            now = utcnow()
            row = Execution(
                recommendation_id=rec.id, cluster_id=rec.cluster_id, cluster_name=cluster.name if cluster else "",
                fingerprint=fingerprint, target=rec.target, kind=ExecutionKind.APPLY, action_kind=rec.action_kind,
                action=dict(rec.action or {}), requested_by=requested_by, approved_by=requested_by, approved_at=now,
                dry_run=dry_run, created_at=now, plan_id=plan_id, plan_step=plan_step,
            )  # fmt: skip
            session.add(row)
            session.flush()  # the unique index speaks here when another apply won the race
            if not dry_run:
                rec.status, rec.updated_at = RecStatus.APPROVED, now
                session.add(rec)
            _audit(session, row, requested_by, "execution queued", dry_run=dry_run)
            return QueueResult(view(row), created=True)
    except IntegrityError:
        with Session(db) as session:
            winner = _active(session, fingerprint)
        if winner is None:
            raise
        log.info("apply of %s met execution %s queued at the same moment; returning it", fingerprint, winner.id)
        return _already(winner)


def _irreversible(shown: ExecutionView) -> str:
    if shown.kind is ExecutionKind.ROLLBACK:
        return "it is a rollback (apply the recommendation again instead)"
    if shown.state is not ExecutionState.SUCCEEDED:
        return f"it is {shown.state}"
    if shown.dry_run:
        return "it was a dry run"
    return "its plan is not reversible"


def queue_rollback(db: Engine, execution_id: int, *, requested_by: Actor) -> QueueResult:
    """Queue a rollback of a succeeded, reversible apply: its own audited execution, with
    `rollback_of` set. Returns the active rollback when one is already queued or running."""
    requested_by = require(requested_by, Permission.APPLY)
    try:
        with session_scope(db) as session:
            original = session.get(Execution, execution_id)
            if original is None:
                raise ExecutionError(f"no execution {execution_id}")
            shown = view(original)
            if not shown.reversible:
                raise ExecutionError(f"execution {execution_id} cannot be rolled back: {_irreversible(shown)}")
            if original.fingerprint:
                existing = _active(session, original.fingerprint)
                if existing is not None and existing.rollback_of == execution_id:
                    return QueueResult(view(existing), created=False)
                if existing is not None:
                    raise ExecutionError(f"execution {existing.id} of the same recommendation is {existing.state}; "
                                         "wait for it to finish")  # fmt: skip
            now = utcnow()
            row = Execution(
                recommendation_id=original.recommendation_id, cluster_id=original.cluster_id,
                cluster_name=original.cluster_name, fingerprint=original.fingerprint, target=original.target,
                kind=ExecutionKind.ROLLBACK, rollback_of=execution_id, action_kind=original.action_kind,
                action=dict(original.action or {}), pre_image=dict(original.pre_image or {}),
                requested_by=requested_by, approved_by=requested_by, approved_at=now, created_at=now,
            )  # fmt: skip
            session.add(row)
            session.flush()
            _audit(session, row, requested_by, "rollback queued", rollback_of=execution_id)
            return QueueResult(view(row), created=True)
    except IntegrityError:
        with Session(db) as session:
            again = session.get(Execution, execution_id)
            winner = _active(session, again.fingerprint) if again is not None and again.fingerprint else None
        if winner is None or winner.rollback_of != execution_id:
            raise
        return QueueResult(view(winner), created=False)


def cancel_execution(db: Engine, execution_id: int, *, requested_by: Actor) -> ExecutionView:
    """Withdraw a queued execution (a running one finishes or fails on its own)."""
    requested_by = require(requested_by, Permission.APPLY)
    with session_scope(db) as session:
        # Conditional: the worker may claim it at this very moment, and then it is no longer ours.
        moved = session.exec(
            update(Execution).where(col(Execution.id) == execution_id, col(Execution.state) == ExecutionState.QUEUED)
            .values(state=ExecutionState.CANCELLED, finished_at=utcnow(), reason=f"cancelled by {requested_by}")
        ).rowcount  # fmt: skip
        row = session.get(Execution, execution_id, populate_existing=True)
        if row is None:
            raise ExecutionError(f"no execution {execution_id}")
        if not moved:
            raise ExecutionError(f"execution {execution_id} is {row.state}: only a queued execution can be cancelled")
        rec = session.get(Recommendation, row.recommendation_id) if row.recommendation_id is not None else None
        if rec is not None and row.kind == ExecutionKind.APPLY and rec.status == RecStatus.APPROVED:
            rec.status, rec.updated_at = RecStatus.OPEN, utcnow()
            session.add(rec)
        _audit(session, row, requested_by, "execution cancelled")
        session.flush()
        return view(row)


def get_execution(db: Engine, execution_id: int) -> ExecutionView | None:
    with Session(db) as session:
        row = session.get(Execution, execution_id)
        return view(row) if row is not None else None


def list_executions(db: Engine, *, state: ExecutionState | None = None, cluster: str | None = None,
                    fingerprint: str | None = None, action_kind: str | None = None,
                    kind: ExecutionKind | None = None, limit: int = 100) -> list[ExecutionView]:
    """Executions matching the filters, newest first (`cluster` is the name it was run on)."""
    stmt = select(Execution)
    if action_kind:
        stmt = stmt.where(Execution.action_kind == action_kind)
    if kind is not None:
        stmt = stmt.where(Execution.kind == kind)
    if state is not None:
        stmt = stmt.where(Execution.state == state)
    if cluster:
        stmt = stmt.where(Execution.cluster_name == cluster)
    if fingerprint:
        stmt = stmt.where(Execution.fingerprint == fingerprint)
    with Session(db) as session:
        return [view(r) for r in session.exec(stmt.order_by(col(Execution.id).desc()).limit(limit))]
