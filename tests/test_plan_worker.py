"""The worker honours a plan's order, on SQLite and PostgreSQL: a step is claimed only after every
earlier step of its plan succeeded, a draft plan's steps wait, and when a step fails (or is
refused or cancelled) the later steps are cancelled naming it. The last tests run the real
execution runner against the local Kubernetes API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kubernetes.client
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from app.db.states import ExecutionState, PlanState, RecStatus
from app.db.tables_app import Plan
from app.services import executions as svc
from app.settings import Settings
from background.execution_runner import ExecutionRunner
from sandbox.k8s_emulator import LocalKubernetes
from tests.executor.k8s_objects import workload
from tests.test_executions_seed import add_cluster, add_rec, rec_status, scale_spec

APPS = ("web", "api", "cart")


def _plan(db: Engine, cluster_id: int | None, state: PlanState = PlanState.APPLIED) -> int:
    with Session(db) as s:
        row = Plan(cluster_id=cluster_id, cluster_name="prod", state=state, created_by="ana")
        s.add(row)
        s.commit()
        assert row.id is not None
        return row.id


def _queue_plan(db: Engine, cluster_id: int | None, apps: tuple[str, ...] = APPS,
                state: PlanState = PlanState.APPLIED) -> tuple[int, list[int]]:  # fmt: skip
    plan_id = _plan(db, cluster_id, state)
    ids = []
    for step, app in enumerate(apps):
        fp = add_rec(db, f"{plan_id:04d}{app:0>20}"[:24], scale_spec(app), cluster_id=cluster_id)
        ids.append(svc.queue_execution(db, fp, requested_by="ana", plan_id=plan_id, plan_step=step).execution.id)
    return plan_id, ids


def _claim(db: Engine) -> int | None:
    got = svc.claim_next(db, "host:1")
    return None if got is None else got.id


def test_a_later_step_waits_while_an_earlier_one_runs_and_other_work_goes_first(engine: Engine) -> None:
    _plan_id, (first, second, third) = _queue_plan(engine, add_cluster(engine))
    loose = svc.queue_execution(engine, add_rec(engine, "f" * 24, scale_spec("solo")), requested_by="ana").execution.id

    assert _claim(engine) == first
    assert _claim(engine) == loose  # step 2 waits for step 1; the execution outside the plan does not
    assert _claim(engine) is None
    svc.finish(engine, first, ExecutionState.SUCCEEDED)
    assert _claim(engine) == second
    svc.finish(engine, second, ExecutionState.SUCCEEDED)
    assert _claim(engine) == third


def test_the_steps_of_a_draft_plan_are_not_claimed(engine: Engine) -> None:
    plan_id, (first, _second, _third) = _queue_plan(engine, add_cluster(engine), state=PlanState.DRAFT)
    assert _claim(engine) is None
    with Session(engine) as s:
        row = s.get_one(Plan, plan_id)
        row.state = PlanState.APPLIED
        s.add(row)
        s.commit()
    assert _claim(engine) == first


@pytest.mark.parametrize("ending", [ExecutionState.FAILED, ExecutionState.REFUSED])
def test_when_a_step_does_not_succeed_the_later_steps_are_cancelled_naming_it(
    engine: Engine, ending: ExecutionState
) -> None:
    _plan_id, (first, second, third) = _queue_plan(engine, add_cluster(engine))
    assert _claim(engine) == first
    svc.finish(engine, first, ending, reason="the workload changed")

    assert _claim(engine) is None
    for later in (second, third):
        shown = svc.get_execution(engine, later)
        assert shown is not None and shown.state is ExecutionState.CANCELLED
        assert shown.reason is not None and f"plan step 0 (execution {first}) ended {ending}" in shown.reason
        assert rec_status(engine, str(shown.fingerprint)) == RecStatus.OPEN


def test_an_analyst_cancelling_a_queued_step_cancels_the_steps_after_it(engine: Engine) -> None:
    _plan_id, (first, second, third) = _queue_plan(engine, add_cluster(engine))
    svc.cancel_execution(engine, second, requested_by="ana")
    assert _claim(engine) == first
    svc.finish(engine, first, ExecutionState.SUCCEEDED)
    assert _claim(engine) is None
    shown = svc.get_execution(engine, third)
    assert shown is not None and shown.state is ExecutionState.CANCELLED and "plan step 1" in str(shown.reason)


@pytest.fixture
def k8s() -> Iterator[LocalKubernetes]:
    with LocalKubernetes(reconcile_interval=0.1, node_join_delay=0.3) as cluster:
        cluster.put_many([workload("Deployment", app, 3, namespace="shop") for app in ("web", "cart")])
        yield cluster


def _replicas(k8s: LocalKubernetes, name: str) -> int:
    spec = kubernetes.client.AppsV1Api(k8s.api_client()).read_namespaced_deployment(name, "shop").spec
    return int(spec.replicas or 0)


def test_the_real_runner_applies_a_plan_in_order_and_stops_at_the_first_failed_step(
    engine: Engine, settings: Settings, k8s: LocalKubernetes, tmp_path: Path
) -> None:
    cluster_id = add_cluster(engine, "prod", kubeconfig=str(k8s.write_kubeconfig(tmp_path / "kubeconfig", "prod")))
    _plan_id, (first, missing, third) = _queue_plan(engine, cluster_id, ("web", "api", "cart"))  # no Deployment api
    runner = ExecutionRunner(settings, engine, owner="test-host:1", poll_interval_s=0.2)

    done = runner.run_pending()

    assert [d.id for d in done] == [first, missing]
    assert done[0].state is ExecutionState.SUCCEEDED and done[1].state is not ExecutionState.SUCCEEDED
    assert _replicas(k8s, "web") == 1 and _replicas(k8s, "cart") == 3  # step 3 never ran
    shown = svc.get_execution(engine, third)
    assert shown is not None and shown.state is ExecutionState.CANCELLED and f"execution {missing}" in str(shown.reason)
