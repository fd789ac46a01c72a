"""What-if plans across engines for one cluster: candidates, preview, save and apply.

Called by the Plan page (`pages/plan.py` through `app.ui.plan`). The analyst picks open
recommendations of one cluster (paged and filtered in SQL); `preview_plan` orders them
(`plan_order`), flags conflicts and projects one monthly delta by simulating the chosen changes on
the cluster's stored snapshot with the engines re-run (`plan_simulation`). `save_plan` keeps a
draft (Permission.PLAN); `apply_plan` (Permission.APPLY) stores the plan as applied and queues one
execution per step, which the worker runs strictly in step order
(`app.services.execution_worker.claim_next`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter, ValidationError, computed_field
from sqlalchemy import Engine, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.db import session_scope
from app.db.models import Cluster, StoredSnapshot
from app.db.states import PlanState, RecStatus
from app.db.tables_app import Plan
from app.db.tables_recs import AuditEvent
from app.db.tables_recs import Recommendation as RecRow
from app.db.types import utcnow
from app.services.access import Actor, Permission, require
from app.services.engine_settings import load_engine_settings
from app.services.plan_order import PlanConflict, PlanGroup, find_conflicts, group_of, order_steps
from app.services.plan_simulation import Rerun, Simulation, simulate
from app.services.plan_views import PlanSummary, StepView, plan_doc, summary
from engines.actions import ActionSpec
from engines.contract import PriceBook, Recommendation, ScanResult
from engines.registry import EngineRegistry
from engines.snapshot_aws import Snapshot

MAX_STEPS = 50
PAGE_SIZE = 25
_ACTION: TypeAdapter[Any] = TypeAdapter(ActionSpec)


class PlanError(ValueError):
    """The plan cannot be built or applied as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Candidate:
    """One open recommendation the analyst may add to a plan (a row of the picking list)."""

    fingerprint: str
    engine: str
    target: str
    action_kind: str
    monthly_savings: Decimal
    risk: str
    group: PlanGroup


@dataclass(frozen=True)
class CandidatePage:
    rows: list[Candidate]
    total: int


@dataclass(frozen=True)
class ClusterChoice:
    id: int
    name: str
    open_recommendations: int


@dataclass(frozen=True)
class PlanPreview:
    cluster_id: int
    cluster_name: str
    steps: list[StepView]
    conflicts: list[PlanConflict]
    simulation: Simulation | None
    problem: str | None = None
    """Why there is no simulation (no stored snapshot), when there is none."""

    @property
    def fingerprints(self) -> list[str]:
        return [s.fingerprint for s in self.steps]


def plan_clusters(db: Engine) -> list[ClusterChoice]:
    """Clusters with their count of open recommendations (one grouped query)."""
    stmt = (select(Cluster.id, Cluster.name, func.count(col(RecRow.id)))
            .outerjoin(RecRow, (col(RecRow.cluster_id) == col(Cluster.id)) & (col(RecRow.status) == RecStatus.OPEN))
            .group_by(col(Cluster.id), col(Cluster.name)).order_by(col(Cluster.name)))  # fmt: skip
    with Session(db) as session:
        return [ClusterChoice(cid, name, n) for cid, name, n in session.exec(stmt) if cid is not None]


def _open(cluster_id: int, now: datetime) -> list[Any]:
    return [col(RecRow.cluster_id) == cluster_id, col(RecRow.status) == RecStatus.OPEN,
            or_(col(RecRow.snoozed_until).is_(None), col(RecRow.snoozed_until) <= now)]  # fmt: skip


def list_candidates(db: Engine, cluster_id: int, *, engine: str | None = None, search: str = "", page: int = 0,
                    page_size: int = PAGE_SIZE) -> CandidatePage:  # fmt: skip
    """One page of the cluster's open, unsnoozed recommendations, largest saving first (in SQL)."""
    where = _open(cluster_id, utcnow())
    if engine:
        where.append(col(RecRow.engine) == engine)
    if search.strip():
        where.append(col(RecRow.target).contains(search.strip()))
    cols = [col(c) for c in (RecRow.fingerprint, RecRow.engine, RecRow.target, RecRow.action_kind,
                             RecRow.monthly_savings, RecRow.risk, RecRow.action)]  # fmt: skip
    stmt = (sa_select(*cols).where(*where).order_by(col(RecRow.monthly_savings).desc(), col(RecRow.id))
            .offset(max(page, 0) * page_size).limit(page_size))  # fmt: skip
    with Session(db) as session:
        total = session.exec(select(func.count(col(RecRow.id))).where(*where)).one()
        rows = session.execute(stmt).all()
    out = []
    for fp, eng, target, kind, saving, risk, action in rows:
        try:
            group = group_of(_stub(eng, target, action))
        except ValidationError:
            group = PlanGroup.ACCOUNT
        out.append(Candidate(fp, eng, target, kind, saving, risk, group))
    return CandidatePage(out, int(total))


def candidate_engines(db: Engine, cluster_id: int) -> list[str]:
    """The engines with open recommendations on the cluster (the Engine filter's choices)."""
    with Session(db) as session:
        return list(session.exec(select(RecRow.engine).where(*_open(cluster_id, utcnow())).distinct()
                                 .order_by(col(RecRow.engine))))  # fmt: skip


def _stub(engine: str, target: str, action: dict[str, Any]) -> Recommendation:
    return Recommendation(engine=engine, cluster=None, target=target, action=_ACTION.validate_python(action),
                          current_monthly_cost=Decimal(0), projected_monthly_cost=Decimal(0), rationale="")  # fmt: skip


class StoredRecommendation(Recommendation):
    """A stored row as an engine recommendation that keeps the fingerprint it was stored under
    (every link, conflict and execution names that one), whatever version computed it."""

    stored_fingerprint: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fingerprint(self) -> str:
        return self.stored_fingerprint


def _as_rec(row: RecRow, cluster: str) -> Recommendation:
    # Account-level engines store cluster None; the cluster field only matters for fingerprints.
    return StoredRecommendation(
        engine=row.engine, cluster=cluster, target=row.target, action=_ACTION.validate_python(row.action),
        current_monthly_cost=row.current_monthly_cost, projected_monthly_cost=row.projected_monthly_cost,
        risk=row.risk, confidence=row.confidence, rationale=row.rationale, purpose=row.purpose,
        evidence=row.evidence or {}, depends_on=row.depends_on or [], related=row.related or [],
        conflicts_with=row.conflicts_with or [], stored_fingerprint=row.fingerprint,
    )  # fmt: skip


def _chosen(db: Engine, cluster_id: int, fingerprints: Sequence[str]) -> tuple[str, list[Recommendation]]:
    wanted = list(dict.fromkeys(fingerprints))
    if not wanted:
        raise PlanError("the plan is empty: tick at least one recommendation")
    if len(wanted) > MAX_STEPS:
        raise PlanError(f"a plan holds at most {MAX_STEPS} steps; {len(wanted)} were chosen")
    with Session(db) as session:
        cluster = session.get(Cluster, cluster_id)
        if cluster is None:
            raise PlanError(f"cluster #{cluster_id} is not registered (any more)")
        rows = session.exec(select(RecRow).where(col(RecRow.fingerprint).in_(wanted))).all()
    found = {r.fingerprint: r for r in rows}
    missing = [fp for fp in wanted if fp not in found]
    if missing:
        raise PlanError(f"{len(missing)} chosen recommendation(s) no longer exist ({', '.join(missing[:3])}); "
                        "reload the page")  # fmt: skip
    wrong = [r for r in rows if r.cluster_id != cluster_id]
    if wrong:
        raise PlanError(f"{wrong[0].target} belongs to another cluster: a plan covers one cluster")
    closed = [r for r in rows if r.status != RecStatus.OPEN]
    if closed:
        raise PlanError(f"{closed[0].target} is {closed[0].status}, not open: untick it (only open "
                        "recommendations can be planned)")  # fmt: skip
    return cluster.name, [_as_rec(found[fp], cluster.name) for fp in wanted]


def load_snapshot(db: Engine, cluster_id: int) -> Snapshot | None:
    """The cluster's stored snapshot (usage history is never stored), or None."""
    with Session(db) as session:
        stored = session.exec(select(StoredSnapshot).where(col(StoredSnapshot.cluster_id) == cluster_id)
                              .order_by(col(StoredSnapshot.collected_at).desc())).first()  # fmt: skip
    if stored is None or not stored.data:
        return None
    return Snapshot.model_validate({**stored.data, "collected_at": stored.collected_at})


def preview_plan(db: Engine, cluster_id: int, fingerprints: Sequence[str], *, actor: Actor, prices: PriceBook,
                 rerun: Rerun) -> PlanPreview:  # fmt: skip
    """Order, conflicts and the simulated projection of the chosen recommendations (writes nothing)."""
    require(actor, Permission.PLAN)
    name, recs = _chosen(db, cluster_id, fingerprints)
    steps = order_steps(recs)
    conflicts = find_conflicts(steps)
    snapshot = load_snapshot(db, cluster_id)
    if snapshot is None or snapshot.cluster is None:
        return PlanPreview(cluster_id, name, [StepView.of(i, r, None) for i, r in enumerate(steps)], conflicts, None,
                           "the cluster has no stored snapshot yet (run a scan): the plan cannot be simulated")  # fmt: skip
    sim = simulate(snapshot, steps, prices, rerun)
    views = [StepView.of(i, r, sim.steps[i]) for i, r in enumerate(steps)]
    return PlanPreview(cluster_id, name, views, conflicts, sim)


def _audit(session: Session, actor: str, action: str, plan: Plan, **details: Any) -> None:
    session.add(AuditEvent(actor=actor, action=action, target=f"plan/{plan.id}",
                           details={"cluster": plan.cluster_name, "steps": list(plan.fingerprints), **details}))  # fmt: skip


def save_plan(db: Engine, preview: PlanPreview, *, actor: Actor) -> PlanSummary:
    """Keep the previewed plan as a draft (Permission.PLAN), audited."""
    who = require(actor, Permission.PLAN)
    with session_scope(db) as session:
        row = Plan(cluster_id=preview.cluster_id, cluster_name=preview.cluster_name, fingerprints=preview.fingerprints,
                   projection=plan_doc(preview.steps, preview.conflicts, preview.simulation, preview.problem),
                   projected_monthly_delta=preview.simulation.delta if preview.simulation else None,
                   state=PlanState.DRAFT, created_by=who)  # fmt: skip
        session.add(row)
        session.flush()
        _audit(session, who, "plan saved", row)
        return summary(row)


def apply_plan(db: Engine, cluster_id: int, fingerprints: Sequence[str], *, actor: Actor, prices: PriceBook,
               rerun: Rerun) -> tuple[PlanSummary, list[int]]:  # fmt: skip
    """Re-check the plan, store it applied and queue its steps in order; returns it and the execution ids.

    Refused (PlanError) while any conflict stands. The steps are queued while the plan is still a
    draft, so the worker cannot start step 1 before the last step is queued; should queueing fail
    half-way, the queued steps are cancelled and nothing runs.
    """
    who = require(actor, Permission.APPLY)
    from app.services.executions import ExecutionError, cancel_execution, queue_execution

    preview = preview_plan(db, cluster_id, fingerprints, actor=actor, prices=prices, rerun=rerun)
    if preview.conflicts:
        raise PlanError(f"{len(preview.conflicts)} conflict(s) in the plan: untick one step of each pair first")
    saved = save_plan(db, preview, actor=actor)
    queued: list[int] = []
    try:
        for step in preview.steps:
            got = queue_execution(db, step.fingerprint, requested_by=actor, plan_id=saved.id, plan_step=step.step)
            if not got.created:
                raise PlanError(f"{step.target} is already being applied (execution {got.execution.id})")
            queued.append(got.execution.id)
    except (ExecutionError, PlanError) as exc:
        for execution_id in queued:
            with contextlib.suppress(ExecutionError):  # already gone; the worker never ran it (a draft plan)
                cancel_execution(db, execution_id, requested_by=who)
        raise PlanError(f"the plan was not applied: {exc}") from exc
    with session_scope(db) as session:
        row = session.get_one(Plan, saved.id)
        row.state, row.applied_at = PlanState.APPLIED, utcnow()
        session.add(row)
        _audit(session, who, "plan applied", row, executions=queued)
        session.flush()
        return summary(row), queued


def engine_rerun(db: Engine, cluster_id: int, registry: EngineRegistry, prices: PriceBook) -> Rerun:
    """Run one engine on a snapshot as a scan would for this cluster (its stored settings and the
    active Spot risk model), storing nothing; a missing engine or a failure is a reason, not an error."""

    def rerun(name: str, snapshot: Snapshot) -> ScanResult | str:
        from app.services.scans import run_engines
        from app.services.spot_predictions import scorer_for_scan
        from engines.spot.scorer import SPOT_RISK_MODEL

        if name not in registry.names():
            return f"engine {name} is not installed here"
        models = {SPOT_RISK_MODEL: scorer_for_scan(db)[0]} if name == "spot-optimizer" else {}
        outcome = run_engines(snapshot, registry, prices, now=snapshot.collected_at, engine_names=[name],
                              settings_for=lambda eng: load_engine_settings(db, cluster_id, eng), models=models)[0]  # fmt: skip
        return outcome.error or outcome.result

    return rerun


def recent_plans(db: Engine, cluster_id: int, limit: int = 10) -> list[PlanSummary]:
    with Session(db) as session:
        rows = session.exec(select(Plan).where(col(Plan.cluster_id) == cluster_id)
                            .order_by(col(Plan.id).desc()).limit(limit)).all()  # fmt: skip
        return [summary(r) for r in rows]
