"""The execution service on SQLite and PostgreSQL: queue, claim, steps, finish, cancel, rollback,
the one-active-execution-per-fingerprint rule (also under a race), listing and recovery."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.db.states import ExecutionKind, ExecutionState, RecStatus
from app.db.tables_recs import AuditEvent, CostSaving, Execution
from app.db.types import utcnow
from app.services import executions as svc
from executor.base import StepRecord, StepStatus
from tests.test_executions_seed import add_cluster, add_rec, rec_status

FP = "a1b2c3d4e5f6a7b8c9d0e1f2"


@pytest.fixture
def fp(engine: Engine) -> str:
    return add_rec(engine, FP, cluster_id=add_cluster(engine))


def audit_actions(engine: Engine, execution_id: int) -> list[str]:
    with Session(engine) as s:
        stmt = select(AuditEvent.action).where(AuditEvent.execution_id == execution_id).order_by(col(AuditEvent.id))
        return list(s.exec(stmt))


def count_executions(engine: Engine) -> int:
    with Session(engine) as s:
        return len(list(s.exec(select(Execution.id))))


def test_queueing_an_open_recommendation_creates_a_queued_execution_and_approves_it(engine: Engine, fp: str) -> None:
    queued = svc.queue_execution(engine, fp, requested_by="ana")

    ex = queued.execution
    assert queued.created
    assert (ex.state, ex.kind, ex.fingerprint, ex.cluster, ex.target) == (
        ExecutionState.QUEUED, ExecutionKind.APPLY, fp, "prod", "deployment shop/web")
    assert (ex.requested_by, ex.approved_by, ex.dry_run) == ("ana", "ana", False)
    assert ex.approved_at is not None and ex.action["kind"] == "scale-replicas"
    assert rec_status(engine, fp) == RecStatus.APPROVED
    assert audit_actions(engine, ex.id) == ["execution queued"]


def test_applying_twice_returns_the_execution_already_queued(engine: Engine, fp: str) -> None:
    first = svc.queue_execution(engine, fp, requested_by="ana")
    second = svc.queue_execution(engine, fp, requested_by="bob")

    assert (second.created, second.execution.id, second.execution.requested_by) == (False, first.execution.id, "ana")
    assert count_executions(engine) == 1


def test_a_dry_run_leaves_the_recommendation_open(engine: Engine, fp: str) -> None:
    queued = svc.queue_execution(engine, fp, requested_by="ana", dry_run=True)
    assert queued.execution.dry_run and rec_status(engine, fp) == RecStatus.OPEN


def test_an_unknown_fingerprint_is_refused(engine: Engine) -> None:
    with pytest.raises(svc.ExecutionError, match="no recommendation has fingerprint"):
        svc.queue_execution(engine, "nope", requested_by="ana")


@pytest.mark.parametrize("status", [RecStatus.APPLIED, RecStatus.DISMISSED, RecStatus.OBSOLETE])
def test_a_recommendation_that_is_not_open_is_refused(engine: Engine, status: RecStatus) -> None:
    fp = add_rec(engine, "f" * 24, status=status)
    with pytest.raises(svc.ExecutionError, match=f"is {status}, not open"):
        svc.queue_execution(engine, fp, requested_by="ana")
    assert count_executions(engine) == 0


def test_eight_analysts_applying_at_the_same_instant_get_one_execution(engine: Engine, fp: str) -> None:
    barrier = threading.Barrier(8)
    results: list[svc.QueueResult] = []
    errors: list[BaseException] = []

    def click() -> None:
        barrier.wait()
        try:
            results.append(svc.queue_execution(engine, fp, requested_by=threading.current_thread().name))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=click, name=f"analyst-{i}") for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == []
    assert len({r.execution.id for r in results}) == 1 and sum(r.created for r in results) == 1
    assert count_executions(engine) == 1


def test_an_apply_racing_an_uncommitted_one_waits_for_it_and_returns_the_winner(engine: Engine, fp: str) -> None:
    # The other apply has inserted its execution but not committed: this one cannot see it, reads
    # the recommendation as open, and meets the unique index when it inserts its own.
    other = Session(engine)
    winner = Execution(fingerprint=fp, action_kind="scale-replicas", requested_by="bob")
    other.add(winner)
    other.flush()
    winner_id = winner.id
    results: list[svc.QueueResult] = []
    racer = threading.Thread(target=lambda: results.append(svc.queue_execution(engine, fp, requested_by="ana")))
    racer.start()
    time.sleep(0.3)  # only makes the racer likelier to be inside its insert; either path must agree
    other.commit()
    racer.join(60)
    other.close()

    assert [(r.created, r.execution.id, r.execution.requested_by) for r in results] == [(False, winner_id, "bob")]


def test_the_database_itself_allows_one_active_execution_per_fingerprint(engine: Engine) -> None:
    with Session(engine) as s:
        s.add(Execution(fingerprint="x", action_kind="k", state=ExecutionState.SUCCEEDED))
        s.add(Execution(fingerprint="x", action_kind="k", state=ExecutionState.FAILED))
        s.add(Execution(fingerprint="x", action_kind="k", state=ExecutionState.QUEUED))
        s.commit()
        s.add(Execution(fingerprint="x", action_kind="k", state=ExecutionState.RUNNING))
        with pytest.raises(IntegrityError):
            s.commit()


def test_claiming_takes_the_oldest_queued_execution_and_marks_who_holds_it(engine: Engine) -> None:
    cid = add_cluster(engine)
    first = svc.queue_execution(engine, add_rec(engine, "1" * 24, cluster_id=cid), requested_by="ana").execution
    second = svc.queue_execution(engine, add_rec(engine, "2" * 24, cluster_id=cid), requested_by="ana").execution

    claimed = svc.claim_next(engine, "host:1")
    assert claimed is not None
    assert (claimed.id, claimed.state, claimed.owner, claimed.attempts) == (first.id, ExecutionState.RUNNING, "host:1", 1)
    assert claimed.started_at is not None and claimed.heartbeat_at is not None
    assert getattr(svc.claim_next(engine, "host:1"), "id", None) == second.id
    assert svc.claim_next(engine, "host:1") is None
    assert audit_actions(engine, first.id) == ["execution queued", "execution started"]


def test_each_step_is_appended_in_order_and_audited_once(engine: Engine, fp: str) -> None:
    ex = svc.queue_execution(engine, fp, requested_by="ana").execution
    svc.claim_next(engine, "host:1")
    svc.record_step(engine, ex.id, StepRecord("cordon", StepStatus.SUCCEEDED, "node a marked unschedulable"))
    svc.record_step(engine, ex.id, StepRecord("evict shop/web-1", StepStatus.RETRYING, "PDB", response={"code": 429}))

    shown = svc.get_execution(engine, ex.id)
    assert shown is not None
    assert [(s.name, s.status, s.response) for s in shown.steps] == [
        ("cordon", "succeeded", {}), ("evict shop/web-1", "retrying", {"code": 429})]
    assert all(s.at is not None and s.at.tzinfo is not None for s in shown.steps)
    assert audit_actions(engine, ex.id)[-2:] == ["step cordon succeeded", "step evict shop/web-1 retrying"]
    with Session(engine) as s:
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "step cordon succeeded")).one()
    assert (event.actor, event.target, event.details["worker"]) == ("ana", "deployment shop/web", "host:1")


def test_a_succeeded_apply_marks_the_recommendation_applied_and_opens_a_ledger_row(engine: Engine, fp: str) -> None:
    ex = svc.queue_execution(engine, fp, requested_by="ana").execution
    svc.claim_next(engine, "host:1")
    done = svc.finish(engine, ex.id, ExecutionState.SUCCEEDED, result={"replicas": 1})

    assert (done.state, done.result, done.finished_at is not None) == (ExecutionState.SUCCEEDED, {"replicas": 1}, True)
    assert rec_status(engine, fp) == RecStatus.APPLIED
    with Session(engine) as s:
        saving = s.exec(select(CostSaving)).one()
    assert (saving.execution_id, saving.cluster_name, str(saving.expected_monthly_savings)) == (ex.id, "prod", "70.08")
    assert audit_actions(engine, ex.id)[-1] == "execution succeeded"


@pytest.mark.parametrize("state", [ExecutionState.FAILED, ExecutionState.REFUSED])
def test_an_apply_that_changed_nothing_opens_the_recommendation_again(
    engine: Engine, fp: str, state: ExecutionState
) -> None:
    ex = svc.queue_execution(engine, fp, requested_by="ana").execution
    svc.claim_next(engine, "host:1")
    done = svc.finish(engine, ex.id, state, reason="stale: deployment shop/web runs 5 replicas")
    assert (done.state, done.reason) == (state, "stale: deployment shop/web runs 5 replicas")
    assert rec_status(engine, fp) == RecStatus.OPEN


def test_a_dry_run_forced_by_the_settings_is_recorded_and_applies_nothing(engine: Engine, fp: str) -> None:
    ex = svc.queue_execution(engine, fp, requested_by="ana").execution
    svc.claim_next(engine, "host:1")
    done = svc.finish(engine, ex.id, ExecutionState.SUCCEEDED, dry_run=True, result={"dry_run": True})
    assert done.dry_run and rec_status(engine, fp) == RecStatus.OPEN
    with Session(engine) as s:
        assert list(s.exec(select(CostSaving))) == []


def test_the_first_ending_of_an_execution_stands(engine: Engine, fp: str) -> None:
    ex = svc.queue_execution(engine, fp, requested_by="ana").execution
    svc.claim_next(engine, "host:1")
    svc.finish(engine, ex.id, ExecutionState.FAILED, reason="first")
    again = svc.finish(engine, ex.id, ExecutionState.SUCCEEDED)
    assert (again.state, again.reason) == (ExecutionState.FAILED, "first")


def test_only_a_queued_execution_can_be_cancelled_and_that_reopens_the_recommendation(engine: Engine, fp: str) -> None:
    ex = svc.queue_execution(engine, fp, requested_by="ana").execution
    cancelled = svc.cancel_execution(engine, ex.id, requested_by="bob")
    assert (cancelled.state, cancelled.reason) == (ExecutionState.CANCELLED, "cancelled by bob")
    assert rec_status(engine, fp) == RecStatus.OPEN

    again = svc.queue_execution(engine, fp, requested_by="ana").execution
    svc.claim_next(engine, "host:1")
    with pytest.raises(svc.ExecutionError, match="is running: only a queued execution"):
        svc.cancel_execution(engine, again.id, requested_by="bob")


def _succeeded(engine: Engine, fp: str, plan: dict[str, object]) -> int:
    ex = svc.queue_execution(engine, fp, requested_by="ana").execution
    svc.claim_next(engine, "host:1")
    svc.save_plan(engine, ex.id, plan, {"replicas": 3})
    svc.finish(engine, ex.id, ExecutionState.SUCCEEDED)
    return ex.id


def test_a_succeeded_reversible_apply_can_be_rolled_back_once_at_a_time(engine: Engine, fp: str) -> None:
    applied = _succeeded(engine, fp, {"summary": "scale", "reversible": True})

    queued = svc.queue_rollback(engine, applied, requested_by="bob")
    again = svc.queue_rollback(engine, applied, requested_by="carol")

    rb = queued.execution
    assert queued.created and (again.created, again.execution.id) == (False, rb.id)
    assert (rb.kind, rb.rollback_of, rb.fingerprint, rb.requested_by, rb.cluster) == (
        ExecutionKind.ROLLBACK, applied, fp, "bob", "prod")
    with pytest.raises(svc.ExecutionError, match=f"rollback execution {rb.id} of this recommendation is queued"):
        svc.queue_execution(engine, fp, requested_by="ana")


def test_a_succeeded_rollback_marks_the_original_rolled_back_and_reopens_the_recommendation(
    engine: Engine, fp: str
) -> None:
    applied = _succeeded(engine, fp, {"summary": "scale", "reversible": True})
    rb = svc.queue_rollback(engine, applied, requested_by="bob").execution
    svc.claim_next(engine, "host:1")
    svc.finish(engine, rb.id, ExecutionState.SUCCEEDED)

    original = svc.get_execution(engine, applied)
    assert original is not None and original.state is ExecutionState.ROLLED_BACK
    assert rec_status(engine, fp) == RecStatus.OPEN
    with Session(engine) as s:
        saving = s.exec(select(CostSaving)).one()
    assert saving.period_end is not None and f"rolled back by execution {rb.id}" in saving.notes
    with pytest.raises(svc.ExecutionError, match="cannot be rolled back: it is rolled_back"):
        svc.queue_rollback(engine, applied, requested_by="bob")


@pytest.mark.parametrize(("plan", "why"), [({"reversible": False}, "its plan is not reversible"), ({}, "not reversible")])
def test_an_irreversible_apply_cannot_be_rolled_back(engine: Engine, fp: str, plan: dict[str, object], why: str) -> None:
    applied = _succeeded(engine, fp, plan)
    with pytest.raises(svc.ExecutionError, match=why):
        svc.queue_rollback(engine, applied, requested_by="bob")


def test_executions_list_newest_first_and_filter_by_state_and_cluster(engine: Engine) -> None:
    prod, dev = add_cluster(engine, "prod"), add_cluster(engine, "dev")
    a = svc.queue_execution(engine, add_rec(engine, "1" * 24, cluster_id=prod), requested_by="ana").execution
    b = svc.queue_execution(engine, add_rec(engine, "2" * 24, cluster_id=dev), requested_by="ana").execution
    svc.claim_next(engine, "host:1")
    svc.finish(engine, a.id, ExecutionState.FAILED, reason="x")

    assert [v.id for v in svc.list_executions(engine)] == [b.id, a.id]
    assert [v.id for v in svc.list_executions(engine, state=ExecutionState.FAILED)] == [a.id]
    assert [v.id for v in svc.list_executions(engine, cluster="dev")] == [b.id]
    assert svc.list_executions(engine, limit=1)[0].id == b.id


def test_interrupted_lists_running_executions_held_by_any_other_worker(engine: Engine) -> None:
    cid = add_cluster(engine)
    ids = [svc.queue_execution(engine, add_rec(engine, f"{i}" * 24, cluster_id=cid), requested_by="ana").execution.id
           for i in range(3)]  # fmt: skip
    svc.claim_next(engine, "old-host:7")
    svc.claim_next(engine, "new-host:7")
    assert [v.id for v in svc.interrupted(engine, "new-host:7")] == [ids[0]]


def test_node_disruptions_count_real_node_executions_of_the_cluster_in_the_window(engine: Engine) -> None:
    cid = add_cluster(engine)
    now = utcnow()
    with Session(engine) as s:
        for state, dry, started, kind in [
            (ExecutionState.SUCCEEDED, False, now - timedelta(minutes=10), "drain-and-remove-node"),
            (ExecutionState.RUNNING, False, now - timedelta(minutes=1), "move-to-spot"),
            (ExecutionState.SUCCEEDED, True, now, "drain-and-remove-node"),  # dry run
            (ExecutionState.REFUSED, False, now, "drain-and-remove-node"),  # never touched the node
            (ExecutionState.SUCCEEDED, False, now - timedelta(hours=2), "drain-and-remove-node"),  # too old
            (ExecutionState.SUCCEEDED, False, now, "scale-replicas"),  # no node
        ]:
            s.add(Execution(cluster_id=cid, cluster_name="prod", action_kind=kind, state=state, dry_run=dry,
                            started_at=started))  # fmt: skip
        s.commit()
    kinds = {"drain-and-remove-node", "move-to-spot", "replace-node-type"}
    used = svc.node_disruptions_since(engine, cid, "prod", kinds, now - timedelta(hours=1))
    assert (used.nodes, used.executions) == (2, 2)


def test_node_disruptions_count_every_node_a_stored_plan_disrupts_not_one_per_execution(engine: Engine) -> None:
    cid = add_cluster(engine)
    now = utcnow()
    with Session(engine) as s:
        for kind, plan in [("drain-and-remove-node", {"disrupts_nodes": 3}),  # one plan, three nodes
                           ("drain-and-remove-node", {}),  # just started, plan not stored yet: one
                           ("scale-replicas", {"disrupts_nodes": 0})]:
            s.add(Execution(cluster_id=cid, cluster_name="prod", action_kind=kind, plan=plan,
                            state=ExecutionState.SUCCEEDED, started_at=now - timedelta(minutes=5)))  # fmt: skip
        s.commit()
    used = svc.node_disruptions_since(engine, cid, "prod", {"drain-and-remove-node"}, now - timedelta(hours=1))
    assert (used.nodes, used.executions) == (4, 2)


def test_a_fingerprint_prefix_of_six_characters_or_more_finds_the_recommendation(engine: Engine, fp: str) -> None:
    add_rec(engine, "a1b2c3ffffffffffffffffff")
    assert svc.resolve_fingerprint(engine, FP[:8].upper()) == FP
    with pytest.raises(svc.ExecutionError, match="several fingerprints"):
        svc.resolve_fingerprint(engine, "a1b2c3")
    with pytest.raises(svc.ExecutionError, match="at least 6"):
        svc.resolve_fingerprint(engine, "a1b")
