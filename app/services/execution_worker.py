"""Executions, the worker's side: claim, record steps, store the plan, heartbeat, finish, recover.

Called by `background.execution_runner` only (the single worker per database); re-exported by
`app.services.executions`. Every transition is one short transaction on one execution row (plus
its recommendation, audit event and ledger row), never a loop over rows. What finishing does to
the recommendation:

- an apply that succeeded (not a dry run): recommendation `applied`, a savings-ledger row opens;
- an apply that ended any other way (failed, refused, dry run): an `approved` recommendation is
  `open` again, nothing was applied;
- a rollback that succeeded: the original execution becomes `rolled_back`, the recommendation is
  `open` again (it still stands; the analyst may apply or dismiss it) and its ledger row closes.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, exists, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from app.db import session_scope
from app.db.states import ExecutionKind, ExecutionState, PlanState, RecStatus
from app.db.tables_app import Plan
from app.db.tables_recs import AuditEvent, CostSaving, Execution, Recommendation
from app.db.types import utcnow
from app.services.execution_views import ExecutionView, jsonable, view
from executor.base import StepRecord

log = logging.getLogger(__name__)
# States in which an execution has (or may have) touched the cluster, for the disruption budget.
_DISRUPTED = (ExecutionState.RUNNING, ExecutionState.SUCCEEDED, ExecutionState.FAILED, ExecutionState.ROLLED_BACK)


def _audit(session: Session, row: Execution, action: str, **details: Any) -> None:
    # The actor is the analyst who approved it; the worker that acted on their behalf is a detail.
    session.add(AuditEvent(execution_id=row.id, actor=row.requested_by[:100], action=action[:100],
                           target=row.target[:500], details=jsonable({"worker": row.owner, **details})))  # fmt: skip


def claim_next(db: Engine, owner: str) -> ExecutionView | None:
    """The oldest claimable queued execution, moved to running and held by `owner` ("host:pid").

    A plan's step is claimable once its plan is applied (all steps queued) and every lower step of
    that plan succeeded; while one is still queued or running, later steps wait (other executions
    go first). When a lower step ended any other way, the later queued steps are cancelled first,
    naming the step. The claim stays one conditional UPDATE that re-checks all of this, so a
    cancel racing with it on SQLite or PostgreSQL wins cleanly.
    """
    _cancel_after_broken_steps(db)
    while True:
        with session_scope(db) as session:
            first = session.exec(
                select(Execution.id).where(Execution.state == ExecutionState.QUEUED, _claimable())
                .order_by(col(Execution.id)).limit(1)
            ).first()  # fmt: skip
            if first is None:
                return None
            now = utcnow()
            # Conditional, so an analyst cancelling it (or an earlier step) at this instant wins cleanly.
            moved = session.exec(
                update(Execution).where(col(Execution.id) == first, col(Execution.state) == ExecutionState.QUEUED,
                                        _claimable())
                .values(state=ExecutionState.RUNNING, owner=owner, started_at=now, heartbeat_at=now,
                        attempts=col(Execution.attempts) + 1)
            ).rowcount  # fmt: skip
            if not moved:
                continue
            row = session.get(Execution, first, populate_existing=True)
            assert row is not None
            _audit(session, row, "execution started")
            return view(row)


# Plan steps that ended without succeeding: the steps after them must not run.
_BROKEN = (ExecutionState.FAILED, ExecutionState.REFUSED, ExecutionState.CANCELLED, ExecutionState.ROLLED_BACK)


def _claimable() -> ColumnElement[bool]:
    """No plan, or an applied plan whose lower steps all succeeded (correlated to the outer row)."""
    earlier = aliased(Execution)
    waiting = exists().where(col(earlier.plan_id) == col(Execution.plan_id),
                             col(earlier.plan_step) < col(Execution.plan_step),
                             col(earlier.state) != ExecutionState.SUCCEEDED)  # fmt: skip
    applied = exists().where(col(Plan.id) == col(Execution.plan_id), col(Plan.state) == PlanState.APPLIED)
    return or_(col(Execution.plan_id).is_(None), and_(applied, ~waiting))


def _cancel_after_broken_steps(db: Engine) -> None:
    """Cancel queued plan steps behind a step that failed, was refused, cancelled or rolled back.

    One query finds them (none in the usual case); each is cancelled by a conditional UPDATE, so
    one an analyst cancelled meanwhile is left alone. A plan has a handful of steps.
    """
    later, broken = aliased(Execution), aliased(Execution)
    stmt = (
        select(later.id, broken.id, broken.plan_step, broken.state)
        .join(broken, col(broken.plan_id) == col(later.plan_id))
        .where(col(later.state) == ExecutionState.QUEUED, col(later.plan_id).is_not(None),
               col(broken.plan_step) < col(later.plan_step), col(broken.state).in_(_BROKEN))
        .order_by(col(later.id), col(broken.plan_step))
    )  # fmt: skip
    with Session(db) as session:
        found = session.exec(stmt).all()
    first: dict[int, tuple[int | None, int | None, str]] = {}
    for later_id, broken_id, step, state in found:
        assert later_id is not None
        first.setdefault(later_id, (broken_id, step, state))  # the lowest broken step is the reason
    for later_id, (broken_id, step, state) in first.items():
        with session_scope(db) as session:
            reason = (f"cancelled: plan step {step} (execution {broken_id}) ended {state}, so the later steps of "
                      "the plan do not run")  # fmt: skip
            moved = session.exec(
                update(Execution).where(col(Execution.id) == later_id, col(Execution.state) == ExecutionState.QUEUED)
                .values(state=ExecutionState.CANCELLED, finished_at=utcnow(), reason=reason)
            ).rowcount  # fmt: skip
            if not moved:
                continue
            row = session.get(Execution, later_id, populate_existing=True)
            assert row is not None
            rec = session.get(Recommendation, row.recommendation_id) if row.recommendation_id is not None else None
            if rec is not None and rec.status == RecStatus.APPROVED:
                rec.status, rec.updated_at = RecStatus.OPEN, utcnow()
                session.add(rec)
            _audit(session, row, "execution cancelled", reason=reason)


def record_step(db: Engine, execution_id: int, step: StepRecord) -> None:
    """Append one step to the execution (and the audit trail); also proves the worker alive."""
    doc = jsonable({"name": step.name, "status": str(step.status), "detail": step.detail,
                    "at": step.at.isoformat(), "response": step.response})  # fmt: skip
    with session_scope(db) as session:
        row = session.get(Execution, execution_id)
        if row is None:
            raise LookupError(f"no execution {execution_id}")
        row.steps = [*(row.steps or []), doc]
        row.heartbeat_at = utcnow()
        session.add(row)
        _audit(session, row, f"step {step.name} {step.status}", step=doc)


def save_plan(db: Engine, execution_id: int, plan: dict[str, Any], pre_image: dict[str, Any]) -> None:
    with session_scope(db) as session:
        row = session.get(Execution, execution_id)
        if row is None:
            raise LookupError(f"no execution {execution_id}")
        row.plan, row.pre_image, row.heartbeat_at = jsonable(plan), jsonable(pre_image), utcnow()
        session.add(row)


def heartbeat(db: Engine, execution_id: int) -> None:
    with session_scope(db) as session:
        session.exec(update(Execution).where(col(Execution.id) == execution_id).values(heartbeat_at=utcnow()))


def finish(
    db: Engine, execution_id: int, state: ExecutionState, *, result: dict[str, Any] | None = None,
    reason: str | None = None, error: str | None = None, dry_run: bool | None = None,
) -> ExecutionView:
    """End an active execution in `state` (see the module docstring for the recommendation).

    `dry_run` records that the worker only planned it (CLOUDOPTIM_EXECUTOR__DRY_RUN). An execution
    that is already finished is returned unchanged: the first ending wins.
    """
    with session_scope(db) as session:
        row = session.get(Execution, execution_id)
        if row is None:
            raise LookupError(f"no execution {execution_id}")
        if not ExecutionState(row.state).active:
            log.warning("execution %s is already %s; not marking it %s", execution_id, row.state, state)
            return view(row)
        now = utcnow()
        row.state, row.finished_at, row.heartbeat_at = state, now, now
        if result is not None:
            row.result = jsonable(result)
        row.reason, row.error = reason, error
        if dry_run is not None:
            row.dry_run = dry_run
        session.add(row)
        rec = session.get(Recommendation, row.recommendation_id) if row.recommendation_id is not None else None
        if row.kind == ExecutionKind.APPLY:
            _after_apply(session, row, rec, now)
        elif state is ExecutionState.SUCCEEDED and not row.dry_run:
            _after_rollback(session, row, rec, now)
        _audit(session, row, f"execution {state}", reason=reason, error=error, result=row.result)
        session.flush()
        return view(row)


def _after_apply(session: Session, row: Execution, rec: Recommendation | None, now: datetime) -> None:
    if rec is None:
        return
    if row.state == ExecutionState.SUCCEEDED and not row.dry_run:
        rec.status, rec.updated_at = RecStatus.APPLIED, now
        session.add(CostSaving(execution_id=row.id, cluster_id=row.cluster_id, cluster_name=row.cluster_name,
                               engine=rec.engine, expected_monthly_savings=rec.monthly_savings, period_start=now,
                               notes=f"applied by execution {row.id}"))  # fmt: skip
    elif rec.status == RecStatus.APPROVED:
        rec.status, rec.updated_at = RecStatus.OPEN, now
    session.add(rec)


def _after_rollback(session: Session, row: Execution, rec: Recommendation | None, now: datetime) -> None:
    original = session.get(Execution, row.rollback_of) if row.rollback_of is not None else None
    if original is not None:
        original.state = ExecutionState.ROLLED_BACK
        session.add(original)
        session.exec(
            update(CostSaving).where(col(CostSaving.execution_id) == original.id, col(CostSaving.period_end).is_(None))
            .values(period_end=now, notes=f"applied by execution {original.id}, rolled back by execution {row.id}")
        )  # fmt: skip
    if rec is not None and rec.status == RecStatus.APPLIED:
        rec.status, rec.updated_at = RecStatus.OPEN, now
        session.add(rec)


def interrupted(db: Engine, current_owner: str) -> list[ExecutionView]:
    """Executions left running by another worker, oldest first.

    Only the worker calls this, after taking the single-worker lock: no other worker can be alive,
    so every running execution it does not hold itself was left by one that stopped. (A `host:pid`
    check would be wrong in containers, where a restarted worker often gets the same pid.)
    """
    with Session(db) as session:
        stmt = select(Execution).where(
            Execution.state == ExecutionState.RUNNING,
            or_(col(Execution.owner).is_(None), col(Execution.owner) != current_owner),
        ).order_by(col(Execution.id))  # fmt: skip
        return [view(r) for r in session.exec(stmt)]


def node_disruptions_since(db: Engine, cluster_id: int | None, cluster_name: str, kinds: Collection[str],
                           since: datetime, *, exclude_id: int | None = None) -> NodeDisruptions:
    """Nodes disrupted on the cluster since `since` by real (not dry-run) applies.

    An apply counts the nodes its stored plan disrupts (`disrupts_nodes`; a plan may drain several);
    one of a node-disrupting kind whose plan is not stored yet (it just started) counts one.
    One query over the window's rows: an hour of executions on one cluster is a handful.
    """
    scope = Execution.cluster_id == cluster_id if cluster_id is not None else Execution.cluster_name == cluster_name
    stmt = select(Execution.id, Execution.action_kind, Execution.plan).where(
        scope, col(Execution.state).in_(_DISRUPTED), col(Execution.started_at) >= since,
        col(Execution.dry_run).is_(False), col(Execution.kind) == ExecutionKind.APPLY,
    )  # fmt: skip
    if exclude_id is not None:
        stmt = stmt.where(col(Execution.id) != exclude_id)
    with Session(db) as session:
        rows = session.exec(stmt).all()
    counted = [n for _id, kind, plan in rows if (n := nodes_of(kind, plan, kinds))]
    return NodeDisruptions(nodes=sum(counted), executions=len(counted))


def nodes_of(action_kind: str, plan: Mapping[str, Any] | None, kinds: Collection[str]) -> int:
    """Nodes one execution disrupts: its plan's count, at least one for a node-disrupting kind."""
    planned = (plan or {}).get("disrupts_nodes")
    nodes = planned if isinstance(planned, int) and not isinstance(planned, bool) else 0
    return max(nodes, 1) if action_kind in kinds else max(nodes, 0)


@dataclass(frozen=True)
class NodeDisruptions:
    nodes: int
    executions: int
