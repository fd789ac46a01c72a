"""Plans across engines as a service: order, conflicts, the simulated delta (not the sum), roles,
bad input and paging in SQL, on a scanned estate (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db.states import ExecutionState, PlanState, Role
from app.db.tables_app import Plan
from app.db.tables_recs import AuditEvent, Execution, Recommendation
from app.pricing import load_price_book
from app.services import plan as svc
from app.services.access import AccessDenied, Principal
from app.services.plan_simulation import Rerun, StepOutcome
from engines.actions import SnapshotAndDeleteVolume
from engines.contract import Recommendation as Recommendation_
from engines.registry import default_registry
from tests.test_executions_seed import add_cluster, add_rec
from tests.test_plan_helpers import Seeded, seed_estate

ANALYST = Principal("ana", Role.ANALYST)
VIEWER = Principal("vic", Role.VIEWER)
PRICES = load_price_book()


def _rerun(db: Engine, seeded: Seeded) -> Rerun:
    return svc.engine_rerun(db, seeded.cluster_id, default_registry(), PRICES)


def _preview(db: Engine, seeded: Seeded, fps: list[str], actor: Principal = ANALYST) -> svc.PlanPreview:
    return svc.preview_plan(db, seeded.cluster_id, fps, actor=actor, prices=PRICES, rerun=_rerun(db, seeded))


def _rec(db: Engine, **where: str) -> Recommendation:
    with Session(db) as s:
        stmt = select(Recommendation)
        for key, value in where.items():
            stmt = stmt.where(col(getattr(Recommendation, key)) == value)
        return s.exec(stmt.order_by(col(Recommendation.id))).first()  # type: ignore[return-value]


def test_the_delta_comes_from_re_running_the_engines_not_from_summing_the_rows(engine: Engine) -> None:
    seeded = seed_estate(engine)
    preview = _preview(engine, seeded, [*seeded.removals, *seeded.rightsizing])
    sim = preview.simulation
    assert sim is not None and preview.conflicts == []
    assert [s.engine for s in preview.steps] == ["rightsizing", "binpack", "binpack", "binpack"]
    # New requests alone remove no node: on the snapshot they save nothing until a node goes.
    assert preview.steps[0].outcome is StepOutcome.SIMULATED and preview.steps[0].effect == Decimal("0.00")
    node_price = Decimal("140.16")  # m5.xlarge on-demand in us-east-1, from the real price book
    assert [s.effect for s in preview.steps[1:]] == [node_price] * 3
    assert sim.before.nodes == 4 * node_price and sim.after.nodes == node_price
    assert sim.delta == 3 * node_price
    assert sim.naive_sum == sum((s.row_saving for s in preview.steps), Decimal(0)) != sim.delta
    assert any("pod requests change by" in n for n in sim.notes)


def test_a_spot_move_of_a_node_the_plan_removes_is_a_conflict_and_is_not_simulated(engine: Engine) -> None:
    seeded = seed_estate(engine)
    drain = _rec(engine, action_kind="drain-and-remove-node")
    spot = _rec(engine, action_kind="move-to-spot", target=drain.target)
    preview = _preview(engine, seeded, [spot.fingerprint, drain.fingerprint])

    assert [s.fingerprint for s in preview.steps] == [drain.fingerprint, spot.fingerprint]
    (conflict,) = preview.conflicts
    assert {conflict.first, conflict.second} == {drain.fingerprint, spot.fingerprint}
    assert f"both change {drain.target.replace('/', ' ')}" in conflict.reason
    assert preview.steps[1].outcome is not StepOutcome.SIMULATED
    assert preview.simulation is not None and preview.simulation.delta == Decimal("140.16")

    with pytest.raises(svc.PlanError, match="conflict"):
        svc.apply_plan(engine, seeded.cluster_id, preview.fingerprints, actor=ANALYST, prices=PRICES,
                       rerun=_rerun(engine, seeded))  # fmt: skip
    with Session(engine) as s:
        assert s.exec(select(Execution)).all() == [] and s.exec(select(Plan)).all() == []


def test_applying_stores_the_plan_queues_the_steps_in_order_and_audits_the_user(engine: Engine) -> None:
    seeded = seed_estate(engine)
    chosen = [seeded.removals[0], seeded.rightsizing[0]]
    saved, executions = svc.apply_plan(engine, seeded.cluster_id, chosen, actor=ANALYST, prices=PRICES,
                                       rerun=_rerun(engine, seeded))  # fmt: skip
    assert saved.state is PlanState.APPLIED and saved.fingerprints == (seeded.rightsizing[0], seeded.removals[0])
    assert saved.projected_monthly_delta == Decimal("140.16") and saved.naive_sum is not None
    with Session(engine) as s:
        rows = s.exec(select(Execution).order_by(col(Execution.id))).all()
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "plan applied")).one()
    assert [r.id for r in rows] == executions and [r.plan_step for r in rows] == [0, 1]
    assert {(r.requested_by, r.plan_id, r.state) for r in rows} == {("ana", saved.id, ExecutionState.QUEUED)}
    assert audit.actor == "ana" and audit.details["executions"] == executions


def test_a_viewer_can_neither_preview_nor_save_nor_apply_a_plan(engine: Engine) -> None:
    seeded = seed_estate(engine)
    with pytest.raises(AccessDenied):
        _preview(engine, seeded, seeded.removals[:1], actor=VIEWER)
    preview = _preview(engine, seeded, seeded.removals[:1])
    with pytest.raises(AccessDenied):
        svc.save_plan(engine, preview, actor=VIEWER)
    with pytest.raises(AccessDenied):
        svc.apply_plan(engine, seeded.cluster_id, seeded.removals[:1], actor=VIEWER, prices=PRICES,
                       rerun=_rerun(engine, seeded))  # fmt: skip
    with Session(engine) as s:
        assert s.exec(select(Execution)).all() == [] and s.exec(select(Plan)).all() == []


def test_a_saved_draft_keeps_the_projection_and_its_author(engine: Engine) -> None:
    seeded = seed_estate(engine)
    saved = svc.save_plan(engine, _preview(engine, seeded, seeded.removals[:2]), actor=ANALYST)
    assert saved.state is PlanState.DRAFT and saved.created_by == "ana"
    assert saved.projected_monthly_delta == Decimal("280.32")
    assert [p.id for p in svc.recent_plans(engine, seeded.cluster_id)] == [saved.id]


@pytest.mark.parametrize(("fps", "message"), [
    ([], "the plan is empty"),
    (["0" * 24], "no longer exist"),
])  # fmt: skip
def test_a_bad_plan_gets_a_clear_message_and_nothing_is_written(engine: Engine, fps: list[str], message: str) -> None:
    seeded = seed_estate(engine)
    with pytest.raises(svc.PlanError, match=message):
        svc.apply_plan(engine, seeded.cluster_id, fps, actor=ANALYST, prices=PRICES, rerun=_rerun(engine, seeded))
    with Session(engine) as s:
        assert s.exec(select(Execution)).all() == [] and s.exec(select(Plan)).all() == []


def test_a_recommendation_of_another_cluster_or_no_longer_open_is_refused(engine: Engine) -> None:
    seeded = seed_estate(engine)
    elsewhere = add_rec(engine, "e" * 24, cluster_id=add_cluster(engine, "staging"))
    with pytest.raises(svc.PlanError, match="another cluster"):
        _preview(engine, seeded, [seeded.removals[0], elsewhere])
    svc.apply_plan(engine, seeded.cluster_id, seeded.removals[:1], actor=ANALYST, prices=PRICES,
                   rerun=_rerun(engine, seeded))  # fmt: skip
    with pytest.raises(svc.PlanError, match="not open"):
        _preview(engine, seeded, seeded.removals[:1])


def test_candidates_are_paged_and_filtered_in_the_database(engine: Engine) -> None:
    seeded = seed_estate(engine)
    first = svc.list_candidates(engine, seeded.cluster_id, page_size=2)
    second = svc.list_candidates(engine, seeded.cluster_id, page=1, page_size=2)
    assert first.total == len(seeded.rightsizing) + len(seeded.removals) + len(seeded.others)
    assert len(first.rows) == 2 and not {r.fingerprint for r in first.rows} & {r.fingerprint for r in second.rows}
    assert first.rows[0].monthly_savings >= first.rows[1].monthly_savings >= second.rows[0].monthly_savings
    only = svc.list_candidates(engine, seeded.cluster_id, engine="rightsizing")
    assert [r.fingerprint for r in only.rows] == seeded.rightsizing and only.total == len(seeded.rightsizing)
    assert {"binpack", "rightsizing"} <= set(svc.candidate_engines(engine, seeded.cluster_id))


def test_a_recommendation_is_planned_under_the_fingerprint_it_was_stored_with(
    engine: Engine,
) -> None:
    seeded = seed_estate(engine)
    spec = SnapshotAndDeleteVolume(volume_id="vol-gone")
    made = Recommendation_(engine="rightsizing", cluster=None, target="volume/vol-gone", action=spec,
                           current_monthly_cost=Decimal("8"), projected_monthly_cost=Decimal(0), rationale="x")  # fmt: skip
    fp = add_rec(engine, made.fingerprint, spec, cluster_id=seeded.cluster_id, target=made.target)
    preview = _preview(engine, seeded, [fp])
    assert preview.fingerprints == [fp]
    assert preview.steps[0].outcome is StepOutcome.NOT_SIMULATED  # not in the snapshot's account: said so
    assert "not in the snapshot" in preview.steps[0].note
    older = add_rec(engine, "d" * 24, spec, cluster_id=seeded.cluster_id, target="volume/vol-older")
    assert _preview(engine, seeded, [older]).fingerprints == [older]  # stored by another version: still its own


def test_without_a_stored_snapshot_the_plan_says_it_cannot_be_simulated_and_still_applies_in_order(
    engine: Engine,
) -> None:
    cluster_id = add_cluster(engine, "bare")
    first = add_rec(engine, "a" * 24, cluster_id=cluster_id, target="t1")
    seeded = Seeded(cluster_id, [], [], [])
    preview = _preview(engine, seeded, [first])
    assert preview.simulation is None and preview.problem is not None and "no stored snapshot" in preview.problem
    saved, executions = svc.apply_plan(engine, cluster_id, [first], actor=ANALYST, prices=PRICES,
                                       rerun=_rerun(engine, seeded))  # fmt: skip
    assert saved.projected_monthly_delta is None and len(executions) == 1
