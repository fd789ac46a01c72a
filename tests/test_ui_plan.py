"""The Plan page in AppTest on a scanned estate: an analyst ticks a rightsizing and a consolidation,
sees them ordered with one projected delta, and applies them as ordered executions; a conflict is
flagged and blocks Apply; a viewer gets a read-only page."""

from __future__ import annotations

from importlib import resources

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from streamlit.testing.v1 import AppTest

from app.db.states import ExecutionState, PlanState
from app.db.tables_app import Plan
from app.db.tables_recs import Execution, Recommendation
from tests.test_plan_helpers import seed_estate
from tests.ui_session import sign_in_as

ENTRY = str(resources.files("app") / "streamlit_app.py")
PAGE = "../pages/plan.py"


def _open(role: str) -> AppTest:
    at = sign_in_as(AppTest.from_file(ENTRY, default_timeout=60), role)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def _engine_of(db: Engine, fingerprint: str) -> str:
    with Session(db) as s:
        return s.exec(select(Recommendation.engine).where(Recommendation.fingerprint == fingerprint)).one()


def _tick(at: AppTest, db: Engine, fingerprint: str) -> None:
    at.checkbox(key=f"plan_pick_{_engine_of(db, fingerprint)}_{fingerprint}").check().run()
    assert not at.exception


def test_an_analyst_applies_a_rightsizing_and_a_consolidation_as_ordered_executions(engine: Engine) -> None:
    seeded = seed_estate(engine)
    removal, rightsizing = seeded.removals[0], seeded.rightsizing[0]
    at = _open("analyst")
    _tick(at, engine, removal)  # ticked first, still ordered after the rightsizing
    _tick(at, engine, rightsizing)
    steps = next(d.value for d in at.dataframe if "outcome" in d.value.columns)
    assert list(steps["engine"]) == ["rightsizing", "binpack"]
    assert list(steps["outcome"]) == ["simulated", "simulated"]
    delta = next(m for m in at.metric if m.label == "Projected monthly delta")
    assert delta.value.startswith("$") and delta.value != "$0.00"
    assert not at.error

    at.button(key="plan_apply").click().run()
    assert not at.exception
    assert any("applied" in s.value for s in at.success), [e.value for e in at.error]
    with Session(engine) as s:
        plan = s.exec(select(Plan)).one()
        rows = s.exec(select(Execution).order_by(col(Execution.plan_step))).all()
    assert plan.state == PlanState.APPLIED and plan.created_by == "analyst"
    assert plan.projected_monthly_delta is not None and plan.projected_monthly_delta > 0
    assert [r.fingerprint for r in rows] == [rightsizing, removal]
    assert [r.plan_step for r in rows] == [0, 1] and {r.plan_id for r in rows} == {plan.id}
    assert {r.requested_by for r in rows} == {"analyst"}
    assert {r.state for r in rows} == {ExecutionState.QUEUED}


def test_two_changes_to_one_node_are_flagged_and_apply_is_disabled(engine: Engine) -> None:
    seeded = seed_estate(engine)
    with Session(engine) as s:
        drain = s.exec(select(Recommendation).where(Recommendation.action_kind == "drain-and-remove-node")).first()
        assert drain is not None
        spot = s.exec(select(Recommendation).where(Recommendation.action_kind == "move-to-spot",
                                                   Recommendation.target == drain.target)).one()  # fmt: skip
    at = _open("analyst")
    _tick(at, engine, drain.fingerprint)
    _tick(at, engine, spot.fingerprint)
    conflicts = [e.value.replace("\\", "") for e in at.error if "Conflict" in e.value]
    assert len(conflicts) == 1 and f"both change {drain.target.replace('/', ' ')}" in conflicts[0]
    assert at.button(key="plan_apply").disabled
    with Session(engine) as s:
        assert s.exec(select(Execution)).all() == []
    assert seeded.removals  # the service refuses a conflicting plan too: tests/test_plan.py


def test_a_viewer_sees_the_open_recommendations_without_tick_boxes_or_apply(engine: Engine) -> None:
    seed_estate(engine)
    at = _open("viewer")
    assert [c for c in at.checkbox if str(c.key).startswith("plan_pick_")] == []
    assert not [b for b in at.button if b.key in ("plan_apply", "plan_save")]
    assert len(at.dataframe) >= 1
    assert any("read-only" in i.value for i in at.info)


def test_saving_a_plan_keeps_a_draft_listed_under_recent_plans(engine: Engine) -> None:
    seeded = seed_estate(engine)
    at = _open("analyst")
    _tick(at, engine, seeded.removals[0])
    at.button(key="plan_save").click().run()
    assert not at.exception and any("saved as a draft" in s.value for s in at.success)
    plans = next(d.value for d in at.dataframe if "plan" in d.value.columns)
    assert list(plans["state"]) == ["draft"] and list(plans["by"]) == ["analyst"]
    with Session(engine) as s:
        assert s.exec(select(Execution)).all() == []
