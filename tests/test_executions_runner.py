"""The worker's execution runner with the real registered actions against the local Kubernetes API,
on SQLite and PostgreSQL: dry runs change nothing, applies and rollbacks change exactly the target,
refusals (stale, protected namespace, disruption budget), crash recovery and a SIGTERM mid-drain."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from app.db.states import ExecutionState, RecStatus
from app.db.tables_recs import Execution
from app.db.types import utcnow
from app.services import executions as svc
from app.settings import Settings
from background.execution_runner import ExecutionRunner
from engines.actions import DrainAndRemoveNode, PodMove, ScheduleScale
from sandbox.k8s_emulator import LocalKubernetes
from tests.executor.k8s_objects import node, pdb, pod, workload
from tests.test_executions_seed import add_cluster, add_rec, rec_status, scale_spec
from tests.waiting import wait_until

FP = "0123456789abcdef01234567"


@pytest.fixture
def k8s() -> Iterator[LocalKubernetes]:
    with LocalKubernetes(reconcile_interval=0.1, node_join_delay=0.3) as cluster:
        cluster.put(workload("Deployment", "web", 3, namespace="shop"))
        yield cluster


@pytest.fixture
def cluster_id(engine: Engine, k8s: LocalKubernetes, tmp_path: Path) -> int:
    kubeconfig = k8s.write_kubeconfig(tmp_path / "kubeconfig", context="prod")
    return add_cluster(engine, "prod", kubeconfig=str(kubeconfig))


@pytest.fixture
def runner(engine: Engine, settings: Settings) -> Iterator[ExecutionRunner]:
    r = ExecutionRunner(settings, engine, owner="test-host:1", poll_interval_s=0.2)
    yield r
    assert r.stop(10)


def with_executor(settings: Settings, **values: Any) -> Settings:
    return settings.model_copy(update={"executor": settings.executor.model_copy(update=values)})


def replicas(k8s: LocalKubernetes, name: str = "web", namespace: str = "shop") -> int:
    apps = kubernetes.client.AppsV1Api(k8s.api_client())
    return int(apps.read_namespaced_deployment(name, namespace).spec.replicas)


def unschedulable(k8s: LocalKubernetes, name: str) -> bool:
    core = kubernetes.client.CoreV1Api(k8s.api_client())
    return bool(core.read_node(name).spec.unschedulable)


def with_nodes(k8s: LocalKubernetes, *objs: dict[str, Any]) -> None:
    """Nodes (and pods) for a drain test; shop/web scaled to zero first so none of its pods land there."""
    k8s.put(workload("Deployment", "web", 0, namespace="shop"))
    k8s.put_many(objs)


def run_one(engine: Engine, runner: ExecutionRunner, fp: str, **queue: Any) -> svc.ExecutionView:
    queued = svc.queue_execution(engine, fp, requested_by="ana", **queue).execution
    (done,) = runner.run_pending()
    assert done.id == queued.id
    shown = svc.get_execution(engine, done.id)
    assert shown is not None
    return shown


def phases(view: svc.ExecutionView) -> list[str]:
    return [f"{s.name} {s.status}" for s in view.steps]


def test_a_dry_run_validates_and_plans_and_changes_nothing(
    engine: Engine, runner: ExecutionRunner, k8s: LocalKubernetes, cluster_id: int
) -> None:
    done = run_one(engine, runner, add_rec(engine, FP, scale_spec(), cluster_id=cluster_id), dry_run=True)

    assert (done.state, done.dry_run, done.result["message"]) == (ExecutionState.SUCCEEDED, True, "dry run: nothing applied")
    assert done.plan["summary"] == "scale Deployment shop/web from 3 to 1 replicas" and done.plan["reversible"] is True
    assert done.pre_image["replicas"] == 3
    assert phases(done) == ["validate started", "validate succeeded", "plan started", "plan succeeded"]
    assert replicas(k8s) == 3 and rec_status(engine, FP) == RecStatus.OPEN


def test_the_executor_dry_run_setting_turns_a_real_apply_into_a_plan(
    engine: Engine, settings: Settings, k8s: LocalKubernetes, cluster_id: int
) -> None:
    runner = ExecutionRunner(with_executor(settings, dry_run=True), engine, owner="test-host:1")
    done = run_one(engine, runner, add_rec(engine, FP, scale_spec(), cluster_id=cluster_id))
    assert done.dry_run and "CLOUDOPTIM_EXECUTOR__DRY_RUN" in done.result["message"]
    assert replicas(k8s) == 3 and rec_status(engine, FP) == RecStatus.OPEN


def test_an_apply_scales_the_deployment_records_every_step_and_marks_the_recommendation_applied(
    engine: Engine, runner: ExecutionRunner, k8s: LocalKubernetes, cluster_id: int
) -> None:
    done = run_one(engine, runner, add_rec(engine, FP, scale_spec(), cluster_id=cluster_id))

    assert (done.state, done.reason, done.result) == (ExecutionState.SUCCEEDED, None, {"replicas": 1, "from": 3})
    assert phases(done) == ["validate started", "validate succeeded", "plan started", "plan succeeded",
                            "apply started", "scale Deployment shop/web succeeded", "apply succeeded",
                            "verify started", "verify succeeded"]  # fmt: skip
    assert replicas(k8s) == 1 and rec_status(engine, FP) == RecStatus.APPLIED
    assert done.reversible


def test_a_rollback_restores_the_replicas_and_reopens_the_recommendation(
    engine: Engine, runner: ExecutionRunner, k8s: LocalKubernetes, cluster_id: int
) -> None:
    applied = run_one(engine, runner, add_rec(engine, FP, scale_spec(), cluster_id=cluster_id))
    svc.queue_rollback(engine, applied.id, requested_by="bob")
    (rolled,) = runner.run_pending()

    assert rolled.state is ExecutionState.SUCCEEDED and rolled.rollback_of == applied.id
    assert replicas(k8s) == 3 and rec_status(engine, FP) == RecStatus.OPEN
    original = svc.get_execution(engine, applied.id)
    assert original is not None and original.state is ExecutionState.ROLLED_BACK


def test_an_undo_no_spec_can_say_uses_the_actions_direct_rollback(
    engine: Engine, runner: ExecutionRunner, k8s: LocalKubernetes, cluster_id: int
) -> None:
    spec = ScheduleScale(namespace="shop", workload_kind="Deployment", workload_name="web",
                         scale_down_cron="0 20 * * 1-5", scale_up_cron="0 7 * * 1-5")  # fmt: skip
    applied = run_one(engine, runner, add_rec(engine, FP, spec, cluster_id=cluster_id))
    assert applied.state is ExecutionState.SUCCEEDED
    apps = kubernetes.client.AppsV1Api(k8s.api_client())
    assert "cloudoptim.io/schedule-scale-down" in apps.read_namespaced_deployment("web", "shop").metadata.annotations

    svc.queue_rollback(engine, applied.id, requested_by="bob")
    (rolled,) = runner.run_pending()

    assert rolled.state is ExecutionState.SUCCEEDED, rolled.reason
    assert "rollback succeeded" in phases(rolled)
    annotations = apps.read_namespaced_deployment("web", "shop").metadata.annotations or {}
    assert not any(key.startswith("cloudoptim.io/schedule-") for key in annotations)


def test_a_stale_recommendation_is_refused_with_the_live_value_and_nothing_changes(
    engine: Engine, runner: ExecutionRunner, k8s: LocalKubernetes, cluster_id: int
) -> None:
    k8s.put(workload("Deployment", "web", 5, namespace="shop"))
    done = run_one(engine, runner, add_rec(engine, FP, scale_spec(), cluster_id=cluster_id))

    assert done.state is ExecutionState.REFUSED
    assert done.reason == "stale: Deployment shop/web runs 5 replicas, the plan expected 3"
    assert done.result["refusals"][0]["code"] == "stale"
    assert replicas(k8s) == 5 and rec_status(engine, FP) == RecStatus.OPEN


def test_a_protected_namespace_is_refused_before_the_workload_is_read(
    engine: Engine, settings: Settings, cluster_id: int
) -> None:
    runner = ExecutionRunner(with_executor(settings, protected_namespaces=["shop"]), engine, owner="test-host:1")
    done = run_one(engine, runner, add_rec(engine, FP, scale_spec(), cluster_id=cluster_id))
    assert done.state is ExecutionState.REFUSED and done.reason is not None
    assert done.reason.startswith("namespace shop is protected (CLOUDOPTIM_EXECUTOR__PROTECTED_NAMESPACES or Settings")


def closed_window_now() -> str:
    """A one-hour window that opened yesterday at this hour: closed now, whatever the clock says."""
    start = (utcnow() - timedelta(hours=23)).replace(minute=0)
    end = start + timedelta(hours=1)
    return f"{start:%a} {start:%H:%M}-{end:%H:%M}".lower()


def test_a_drain_outside_the_disruption_window_is_refused_before_anything_changes_and_a_dry_run_still_plans(
    engine: Engine, settings: Settings, k8s: LocalKubernetes, cluster_id: int
) -> None:
    with_nodes(k8s, node("node-a"))
    closed = with_executor(settings, disruption_window=closed_window_now())
    runner = ExecutionRunner(closed, engine, owner="test-host:1")
    done = run_one(engine, runner, add_rec(engine, FP, DrainAndRemoveNode(node="node-a"), cluster_id=cluster_id))

    assert done.state is ExecutionState.REFUSED and done.reason is not None
    assert done.reason.startswith(f"drain-and-remove-node runs only inside the disruption window {closed_window_now()} (UTC)")
    assert "it next opens" in done.reason and not unschedulable(k8s, "node-a")
    assert done.steps == [] or all(s.name != "cordon" for s in done.steps)
    planned = run_one(engine, runner, FP, dry_run=True)
    assert planned.state is ExecutionState.SUCCEEDED and planned.plan["disrupts_nodes"] == 1
    assert not unschedulable(k8s, "node-a")


def test_a_scale_is_not_disruptive_and_runs_outside_the_window(
    engine: Engine, settings: Settings, k8s: LocalKubernetes, cluster_id: int
) -> None:
    runner = ExecutionRunner(with_executor(settings, disruption_window=closed_window_now()), engine, owner="test-host:1")
    done = run_one(engine, runner, add_rec(engine, FP, scale_spec(), cluster_id=cluster_id))
    assert done.state is ExecutionState.SUCCEEDED and replicas(k8s) == 1


def test_a_cluster_listed_for_dry_runs_only_gets_plans_and_keeps_its_workloads(
    engine: Engine, settings: Settings, k8s: LocalKubernetes, cluster_id: int
) -> None:
    runner = ExecutionRunner(with_executor(settings, dry_run_clusters=["prod"]), engine, owner="test-host:1")
    done = run_one(engine, runner, add_rec(engine, FP, scale_spec(), cluster_id=cluster_id))
    assert done.dry_run and "cluster prod is in CLOUDOPTIM_EXECUTOR__DRY_RUN_CLUSTERS" in done.result["message"]
    assert replicas(k8s) == 3 and rec_status(engine, FP) == RecStatus.OPEN


def test_a_drain_beyond_the_hourly_node_budget_is_refused_after_its_plan(
    engine: Engine, settings: Settings, k8s: LocalKubernetes, cluster_id: int
) -> None:
    with_nodes(k8s, node("node-a"))
    with Session(engine) as s:  # a drain of another node ten minutes ago
        s.add(Execution(cluster_id=cluster_id, cluster_name="prod", action_kind="drain-and-remove-node",
                        state=ExecutionState.SUCCEEDED, started_at=utcnow() - timedelta(minutes=10)))  # fmt: skip
        s.commit()
    runner = ExecutionRunner(with_executor(settings, max_nodes_drained_per_hour=1), engine, owner="test-host:1")
    done = run_one(engine, runner, add_rec(engine, FP, DrainAndRemoveNode(node="node-a"), cluster_id=cluster_id))

    assert done.state is ExecutionState.REFUSED and done.reason is not None
    assert done.reason == ("cluster prod had 1 node disrupted in the last hour by 1 execution and this plan would "
                           "disrupt 1 more (2 in all); the budget is 1 node per hour "
                           "(CLOUDOPTIM_EXECUTOR__MAX_NODES_DRAINED_PER_HOUR or Settings and users → Guardrails): "
                           "try again later")
    assert done.plan["disrupts_nodes"] == 1 and not unschedulable(k8s, "node-a")


def test_the_hourly_budget_counts_the_nodes_an_earlier_plan_drained_not_its_executions(
    engine: Engine, settings: Settings, k8s: LocalKubernetes, cluster_id: int
) -> None:
    with_nodes(k8s, node("node-a"))
    with Session(engine) as s:  # one execution twenty minutes ago that drained two nodes
        s.add(Execution(cluster_id=cluster_id, cluster_name="prod", action_kind="drain-and-remove-node",
                        plan={"disrupts_nodes": 2}, state=ExecutionState.SUCCEEDED,
                        started_at=utcnow() - timedelta(minutes=20)))  # fmt: skip
        s.commit()
    runner = ExecutionRunner(with_executor(settings, max_nodes_drained_per_hour=2), engine, owner="test-host:1")
    done = run_one(engine, runner, add_rec(engine, FP, DrainAndRemoveNode(node="node-a"), cluster_id=cluster_id))

    assert done.state is ExecutionState.REFUSED and done.reason is not None
    assert done.reason.startswith("cluster prod had 2 nodes disrupted in the last hour by 1 execution and this plan "
                                  "would disrupt 1 more (3 in all); the budget is 2 nodes per hour")
    assert not unschedulable(k8s, "node-a")


def test_a_drain_that_fits_the_remaining_node_budget_runs(
    engine: Engine, settings: Settings, k8s: LocalKubernetes, cluster_id: int
) -> None:
    with_nodes(k8s, node("node-a"), node("node-b"))
    with Session(engine) as s:
        s.add(Execution(cluster_id=cluster_id, cluster_name="prod", action_kind="drain-and-remove-node",
                        plan={"disrupts_nodes": 2}, state=ExecutionState.SUCCEEDED,
                        started_at=utcnow() - timedelta(minutes=20)))  # fmt: skip
        s.commit()
    runner = ExecutionRunner(with_executor(settings, max_nodes_drained_per_hour=3), engine, owner="test-host:1")
    done = run_one(engine, runner, add_rec(engine, FP, DrainAndRemoveNode(node="node-a"), cluster_id=cluster_id))
    assert done.state is ExecutionState.SUCCEEDED, done.reason


def test_an_execution_whose_cluster_was_removed_fails_with_the_reason(engine: Engine, runner: ExecutionRunner) -> None:
    done = run_one(engine, runner, add_rec(engine, FP, scale_spec(), cluster_id=None))
    assert done.state is ExecutionState.FAILED
    assert done.reason == "connect failed: cluster (unknown) is no longer registered"


def test_the_runner_thread_starts_a_queued_execution_within_two_seconds(
    engine: Engine, settings: Settings, k8s: LocalKubernetes, cluster_id: int
) -> None:
    runner = ExecutionRunner(settings, engine, owner="test-host:1")  # the worker's one-second poll
    runner.start()
    try:
        queued = svc.queue_execution(engine, add_rec(engine, FP, scale_spec(), cluster_id=cluster_id),
                                     requested_by="ana").execution  # fmt: skip
        done = wait_until(lambda: (v := svc.get_execution(engine, queued.id)) and v.finished and v, timeout=30)
    finally:
        assert runner.stop(10)
    assert done.state is ExecutionState.SUCCEEDED and done.started_at is not None
    assert done.started_at - queued.created_at < timedelta(seconds=2)


def running_drain(engine: Engine, cluster_id: int, steps: list[dict[str, Any]], **pre_image: Any) -> int:
    """A drain a worker that died was running (as its row looks after the crash)."""
    with Session(engine) as s:
        row = Execution(cluster_id=cluster_id, cluster_name="prod", fingerprint=FP, action_kind="drain-and-remove-node",
                        action=DrainAndRemoveNode(node="node-a").model_dump(mode="json"), state=ExecutionState.RUNNING,
                        owner="dead-host:7", started_at=utcnow(), steps=steps,
                        pre_image={"unschedulable": False, **pre_image})  # fmt: skip
        s.add(row)
        s.commit()
        assert row.id is not None
        return row.id


def step(name: str, status: str) -> dict[str, Any]:
    return {"name": name, "status": status, "detail": "", "at": utcnow().isoformat(), "response": {}}


def test_at_start_up_a_dead_workers_drain_fails_and_the_node_it_cordoned_is_uncordoned(
    engine: Engine, runner: ExecutionRunner, k8s: LocalKubernetes, cluster_id: int
) -> None:
    with_nodes(k8s, node("node-a", unschedulable=True))
    eid = running_drain(engine, cluster_id, [step("apply", "started"), step("cordon", "succeeded"),
                                             step("evict default/web-1", "retrying")])  # fmt: skip

    (recovered,) = runner.recover()

    assert recovered.id == eid and recovered.state is ExecutionState.FAILED
    assert recovered.reason == ("the worker stopped during step evict default/web-1; "
                                "node node-a was left cordoned and is uncordoned")  # fmt: skip
    assert not unschedulable(k8s, "node-a")
    assert phases(recovered)[-1] == "uncordon succeeded"
    assert runner.recover() == []


@pytest.mark.parametrize(("steps", "pre_image"), [
    ([step("cordon", "succeeded"), step("delete node", "succeeded")], {}),  # removed: nothing to undo
    ([step("cordon", "skipped")], {"unschedulable": True}),  # someone else's cordon stays
])  # fmt: skip
def test_recovery_leaves_a_removed_node_or_someone_elses_cordon_alone(
    engine: Engine, runner: ExecutionRunner, k8s: LocalKubernetes, cluster_id: int,
    steps: list[dict[str, Any]], pre_image: dict[str, Any],
) -> None:
    with_nodes(k8s, node("node-a", unschedulable=True))
    running_drain(engine, cluster_id, steps, **pre_image)
    (recovered,) = runner.recover()
    assert recovered.state is ExecutionState.FAILED and recovered.reason is not None
    assert recovered.reason.endswith("check the target's current state before applying again")
    assert unschedulable(k8s, "node-a")


def test_a_sigterm_during_a_drain_parks_it_failed_safe_to_retry_with_the_node_uncordoned(
    engine: Engine, settings: Settings, k8s: LocalKubernetes, cluster_id: int
) -> None:
    # A PDB that allows no disruption keeps the eviction refused (429) for the whole deadline.
    with_nodes(k8s, node("node-a"), node("node-b"), pdb("web", minAvailable=1), pod("web-1", "node-a", labels={"app": "web"}))
    policy = kubernetes.client.PolicyV1Api(k8s.api_client())
    wait_until(lambda: getattr(policy.read_namespaced_pod_disruption_budget("web", "default").status,
                               "current_healthy", None) == 1)  # fmt: skip
    spec = DrainAndRemoveNode(node="node-a", moves=(PodMove(namespace="default", pod="web-1"),))
    queued = svc.queue_execution(engine, add_rec(engine, FP, spec, cluster_id=cluster_id), requested_by="ana").execution
    runner = ExecutionRunner(settings, engine, owner="test-host:1", poll_interval_s=0.2)
    thread = threading.Thread(target=runner.run_pending)
    thread.start()
    wait_until(lambda: any(s.status == "retrying" for s in getattr(svc.get_execution(engine, queued.id), "steps", ())))

    runner.request_stop()
    thread.join(30)

    done = svc.get_execution(engine, queued.id)
    assert done is not None and done.state is ExecutionState.FAILED and done.reason is not None
    assert done.reason.startswith("the worker stopped during step evict default/web-1; safe to retry")
    assert not unschedulable(k8s, "node-a") and rec_status(engine, FP) == RecStatus.OPEN


def test_a_drain_that_outlasts_its_deadline_fails_naming_pod_and_budget_and_reopens_the_recommendation(
    engine: Engine, settings: Settings, k8s: LocalKubernetes, cluster_id: int
) -> None:
    with_nodes(k8s, node("node-a"), node("node-b"), pdb("web", minAvailable=1), pod("web-1", "node-a", labels={"app": "web"}))
    policy = kubernetes.client.PolicyV1Api(k8s.api_client())
    wait_until(lambda: getattr(policy.read_namespaced_pod_disruption_budget("web", "default").status,
                               "current_healthy", None) == 1)  # fmt: skip
    spec = DrainAndRemoveNode(node="node-a", moves=(PodMove(namespace="default", pod="web-1"),))
    runner = ExecutionRunner(with_executor(settings, drain_timeout_s=10), engine, owner="test-host:1")

    done = run_one(engine, runner, add_rec(engine, FP, spec, cluster_id=cluster_id))

    assert done.state is ExecutionState.FAILED and done.reason is not None and done.error is not None
    assert done.reason.startswith("apply failed: ") and "default/web-1" in done.reason
    assert "PodDisruptionBudget default/web" in done.reason and done.reason.endswith("node node-a uncordoned")
    assert done.error.startswith("DrainTimeout: ")
    assert "apply failed" in phases(done) and not unschedulable(k8s, "node-a")
    assert rec_status(engine, FP) == RecStatus.OPEN


def test_recovery_names_a_replacement_a_dead_move_to_spot_launched_so_a_retry_adopts_it(
    engine: Engine, runner: ExecutionRunner, cluster_id: int
) -> None:
    launched = {**step("RunInstances m5.large", "succeeded"), "detail": "i-0abc (m5.large, Spot) in subnet-1"}
    with Session(engine) as s:
        s.add(Execution(cluster_id=cluster_id, cluster_name="prod", action_kind="move-to-spot", owner="dead-host:7",
                        action={"kind": "move-to-spot", "node": "node-a", "from_type": "m5.large", "to_types": ["m5.large"]},
                        state=ExecutionState.RUNNING, steps=[step("apply", "started"), launched]))  # fmt: skip
        s.commit()
    (recovered,) = runner.recover()
    assert recovered.reason == ("the worker stopped during step RunInstances m5.large; check the target's current state "
                                "before applying again; a replacement was launched (i-0abc (m5.large, Spot) in "
                                "subnet-1): applying again adopts it")  # fmt: skip


def _annotated(obj: dict[str, Any], **annotations: str) -> dict[str, Any]:
    obj["metadata"].setdefault("annotations", {}).update(annotations)
    return obj


MOVE = DrainAndRemoveNode(node="node-a", moves=(PodMove(namespace="default", pod="web-1", to_node="node-b"),))


@pytest.mark.parametrize(("marks", "reason"), [
    ({"node": {"cloudoptim.io/opt-out": "true"}}, "node node-a has cloudoptim.io/opt-out=true"),
    ({"pod": {"karpenter.sh/do-not-disrupt": "true"}}, "pod default/web-1 has karpenter.sh/do-not-disrupt=true"),
    ({"pod": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}},
     "pod default/web-1 has cluster-autoscaler.kubernetes.io/safe-to-evict=false"),
    ({"namespace": {"cloudoptim.io/opt-out": "true"}},
     "pod default/web-1 is in namespace default, which has cloudoptim.io/opt-out=true"),
])  # fmt: skip
def test_an_opt_out_set_after_the_scan_refuses_the_drain_and_nothing_is_cordoned(
    engine: Engine, runner: ExecutionRunner, k8s: LocalKubernetes, cluster_id: int,
    marks: dict[str, dict[str, str]], reason: str,
) -> None:  # fmt: skip
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
    with_nodes(k8s, _annotated(node("node-a"), **marks.get("node", {})), node("node-b"),
               _annotated(pod("web-1", "node-a", owner_kind="ReplicaSet"), **marks.get("pod", {})),
               _annotated(namespace, **marks.get("namespace", {})))  # fmt: skip
    done = run_one(engine, runner, add_rec(engine, FP, MOVE, cluster_id=cluster_id))
    assert done.state is ExecutionState.REFUSED and done.reason is not None
    assert reason in done.reason and done.result["refusals"][-1]["code"] == "opt-out"
    assert not unschedulable(k8s, "node-a") and rec_status(engine, FP) == RecStatus.OPEN


def test_a_workload_that_opted_out_after_the_scan_is_not_scaled(
    engine: Engine, runner: ExecutionRunner, k8s: LocalKubernetes, cluster_id: int
) -> None:
    k8s.put(workload("Deployment", "web", 3, namespace="shop", annotations={"cloudoptim.io/opt-out": "true"}))
    done = run_one(engine, runner, add_rec(engine, FP, scale_spec(), cluster_id=cluster_id))
    assert done.state is ExecutionState.REFUSED and done.reason is not None
    assert "Deployment shop/web has cloudoptim.io/opt-out=true: it opted out after the scan" in done.reason
    assert replicas(k8s) == 3
