"""Typed views of plans for the Plan page, and the JSON a Plan row keeps of its projection.

Built by `app.services.plan`; read by `app.ui.plan`. Money stays Decimal in the views and is
written as strings in the stored projection (never floats).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.db.states import PlanState
from app.db.tables_app import Plan
from app.services.plan_order import PlanConflict, PlanGroup, group_of
from app.services.plan_simulation import Simulation, StepEffect, StepOutcome
from engines.contract import Recommendation


@dataclass(frozen=True)
class StepView:
    """One step of a plan: the recommendation, its place, and what the simulation made of it."""

    step: int
    fingerprint: str
    engine: str
    target: str
    action_kind: str
    group: PlanGroup
    row_saving: Decimal
    """The recommendation's own monthly saving, as stored (what a naive sum adds up)."""
    outcome: StepOutcome | None
    effect: Decimal | None
    """Simulated monthly saving of this step on the snapshot as the earlier steps left it."""
    estimate: Decimal | None
    note: str

    @classmethod
    def of(cls, step: int, rec: Recommendation, effect: StepEffect | None) -> StepView:
        return cls(step, rec.fingerprint, rec.engine, rec.target, rec.action.kind, group_of(rec), rec.monthly_savings,
                   effect.outcome if effect else None,
                   effect.delta if effect and effect.outcome is StepOutcome.SIMULATED else None,
                   effect.estimate if effect else None, effect.note if effect else "")  # fmt: skip


@dataclass(frozen=True)
class PlanSummary:
    id: int
    cluster_name: str
    state: PlanState
    projected_monthly_delta: Decimal | None
    created_by: str
    created_at: datetime
    applied_at: datetime | None
    fingerprints: tuple[str, ...]
    naive_sum: Decimal | None
    conflicts: int
    unsimulated: int


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def plan_doc(steps: list[StepView], conflicts: list[PlanConflict], sim: Simulation | None,
             problem: str | None) -> dict[str, Any]:  # fmt: skip
    """The projection as stored in `plans.projection` (what the analyst saw when saving/applying)."""
    doc: dict[str, Any] = {
        "steps": [{"step": s.step, "fingerprint": s.fingerprint, "engine": s.engine, "target": s.target,
                   "action": s.action_kind, "group": s.group.title, "row_saving": _money(s.row_saving),
                   "outcome": s.outcome.value if s.outcome else None, "effect": _money(s.effect),
                   "estimate": _money(s.estimate), "note": s.note} for s in steps],
        "conflicts": [{"first": c.first, "second": c.second, "reason": c.reason} for c in conflicts],
        "problem": problem,
    }  # fmt: skip
    if sim is not None:
        doc.update(before=str(sim.before.total), after=str(sim.after.total), delta=str(sim.delta),
                   naive_sum=str(sim.naive_sum), unsimulated_estimate=str(sim.unsimulated_estimate),
                   unpriced=list(sim.after.unpriced), notes=list(sim.notes))  # fmt: skip
    return doc


def summary(row: Plan) -> PlanSummary:
    doc = row.projection or {}
    naive = doc.get("naive_sum")
    steps = doc.get("steps") or []
    assert row.id is not None
    return PlanSummary(
        id=row.id, cluster_name=row.cluster_name, state=PlanState(row.state),
        projected_monthly_delta=row.projected_monthly_delta, created_by=row.created_by, created_at=row.created_at,
        applied_at=row.applied_at, fingerprints=tuple(row.fingerprints or ()),
        naive_sum=Decimal(naive) if naive is not None else None, conflicts=len(doc.get("conflicts") or []),
        unsimulated=sum(1 for s in steps if s.get("outcome") not in (None, StepOutcome.SIMULATED.value)),
    )  # fmt: skip
