"""Draining a node against the local Kubernetes API: cordon, evictions that respect PDBs (429 retried
until the deadline), DaemonSet/mirror/finished pods left alone, 404 as done, uncordon on failure."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from executor.base import PermanentError, StepStatus, TemporaryError
from executor.drain import DrainTimeout, EvictionOutcome, drain_node
from sandbox.k8s_emulator import LocalKubernetes
from tests.executor.conftest import FakeClock
from tests.executor.k8s_objects import Kube, node, pdb, pod, workload
from tests.waiting import wait_until


@pytest.fixture
def kube(local_k8s: LocalKubernetes) -> Kube:
    return Kube(local_k8s)


def test_a_drain_with_pdb_slack_evicts_the_node_s_pods_and_leaves_it_cordoned(kube: Kube) -> None:
    web = {"app": "web"}
    kube.cluster.put_many([node("node-a"), node("node-b"), pdb("web", minAvailable=1),
                           pod("web-1", "node-a", labels=web), pod("web-2", "node-a", labels=web),
                           pod("web-3", "node-b", labels=web)])
    result = drain_node(kube.ctx(), "node-a")
    assert sorted(p.name for p in result.evicted) == ["web-1", "web-2"]
    assert {p.outcome for p in result.evicted} == {EvictionOutcome.EVICTED}
    assert result.was_cordoned is False and result.skipped == ()
    assert kube.pods_on("node-a") == [] and kube.pods_on("node-b") == ["default/web-3"]
    assert kube.node("node-a")["spec"]["unschedulable"] is True
    assert kube.step_lines() == ["cordon: succeeded", "evict default/web-1: succeeded", "evict default/web-2: succeeded",
                                 "wait default/web-1: succeeded", "wait default/web-2: succeeded"]
    assert kube.steps[1].response["code"] == 201 and kube.steps[1].response["api_status"] == "Success"


def test_a_pdb_that_allows_nothing_until_a_second_replica_is_ready_is_retried_until_the_eviction_passes(
        kube: Kube) -> None:
    kube.cluster.put_many([node("node-a"), workload("Deployment", "db", 1), pdb("db", minAvailable=1)])
    first = wait_until(lambda: kube.pods_on("node-a"))
    wait_until(lambda: kube.raw(kube.policy.read_namespaced_pod_disruption_budget, "db", "default")
               .get("status", {}).get("currentHealthy") == 1)
    kube.cluster.put(node("node-b"))

    def add_a_replica_once_refused() -> None:
        wait_until(lambda: any(s.status == StepStatus.RETRYING for s in kube.steps))
        kube.apps.patch_namespaced_deployment_scale("db", "default", {"spec": {"replicas": 2}})

    helper = threading.Thread(target=add_a_replica_once_refused)
    helper.start()
    result = drain_node(kube.ctx(), "node-a", deadline=None)
    helper.join(5)
    (evicted,) = result.evicted
    assert f"default/{evicted.name}" == first[0] and evicted.attempts >= 2
    refused = next(s for s in kube.steps if s.status == StepStatus.RETRYING)
    assert refused.name == f"evict {first[0]}"
    assert refused.detail == "PodDisruptionBudget default/db allows 0 disruptions (429)"
    assert kube.pods_on("node-a") == []
    assert wait_until(lambda: len(kube.pods_on("node-b")) == 2)  # the ReplicaSet replaced the evicted pod


def test_a_pdb_that_never_allows_eviction_expires_the_deadline_uncordons_and_names_pod_and_budget(
        kube: Kube, clock: FakeClock) -> None:
    kube.cluster.put_many([node("node-a"), pdb("db", namespace="shop", minAvailable=1),
                           pod("db-0", "node-a", namespace="shop", labels={"app": "db"})])
    wait_until(lambda: kube.raw(kube.policy.read_namespaced_pod_disruption_budget, "db", "shop").get("status"))
    ctx = kube.ctx(clock=clock, poll_interval_s=1.0)
    with pytest.raises(DrainTimeout) as failed:
        drain_node(ctx, "node-a", deadline=clock.now + 110)
    assert str(failed.value) == ("pod shop/db-0: PodDisruptionBudget shop/db allows 0 disruptions (429) "
                                 "until the deadline of 110 s; node node-a uncordoned")
    assert failed.value.pod == "shop/db-0" and failed.value.reason.startswith("PodDisruptionBudget shop/db")
    assert not kube.node("node-a")["spec"].get("unschedulable")
    assert kube.pods_on("node-a") == ["shop/db-0"]
    assert kube.step_lines() == ["cordon: succeeded", "evict shop/db-0: retrying", "evict shop/db-0: failed",
                                 "uncordon: succeeded"]
    assert max(clock.slept) <= 8.0  # backoff is capped: a freed budget is noticed within seconds


def test_a_node_that_was_cordoned_before_the_drain_stays_cordoned_when_the_drain_fails(
        kube: Kube, clock: FakeClock) -> None:
    kube.cluster.put_many([node("node-a", unschedulable=True), pdb("db", minAvailable=1),
                           pod("db-0", "node-a", labels={"app": "db"})])
    wait_until(lambda: kube.raw(kube.policy.read_namespaced_pod_disruption_budget, "db", "default").get("status"))
    with pytest.raises(DrainTimeout) as failed:
        drain_node(kube.ctx(clock=clock, drain_timeout_s=20.0), "node-a")
    assert "uncordoned" not in str(failed.value) and "the deadline of 20 s" in str(failed.value)
    assert kube.node("node-a")["spec"]["unschedulable"] is True
    assert kube.step_lines()[0] == "cordon: skipped" and "uncordon: succeeded" not in kube.step_lines()


def test_daemonset_mirror_and_finished_pods_stay_on_the_node(kube: Kube) -> None:
    kube.cluster.put_many([
        node("node-a"),
        pod("agent-x", "node-a", namespace="kube-system", owner_kind="DaemonSet"),
        pod("etcd-node-a", "node-a", namespace="kube-system", annotations={"kubernetes.io/config.mirror": "abc"}),
        pod("report-1", "node-a", phase="Succeeded", owner_kind="Job"),
        pod("web-1", "node-a", owner_kind="ReplicaSet"),
    ])
    result = drain_node(kube.ctx(), "node-a")
    assert [(p.name, p.controller) for p in result.evicted] == [
        ("web-1", {"kind": "ReplicaSet", "name": "web-1-owner", "uid": "uid-web-1-owner"})]
    assert sorted((p.name, p.reason) for p in result.skipped) == [
        ("agent-x", "DaemonSet pod"), ("etcd-node-a", "mirror pod"), ("report-1", "finished")]
    assert kube.pods_on("node-a") == ["default/report-1", "kube-system/agent-x", "kube-system/etcd-node-a"]
    assert [s.name for s in kube.steps if s.name.startswith("evict")] == ["evict default/web-1"]


class _DeletedMeanwhile:
    """The core client, except that someone else deletes each pod just before we evict it."""

    def __init__(self, core: Any) -> None:
        self._core = core

    def __getattr__(self, name: str) -> Any:
        return getattr(self._core, name)

    def create_namespaced_pod_eviction(self, name: str, namespace: str, body: Any, **kwargs: Any) -> Any:
        self._core.delete_namespaced_pod(name, namespace)
        return self._core.create_namespaced_pod_eviction(name, namespace, body, **kwargs)


def test_an_eviction_answered_404_counts_as_done(kube: Kube) -> None:
    kube.cluster.put_many([node("node-a"), pod("web-1", "node-a")])
    ctx = kube.ctx()
    ctx.core = _DeletedMeanwhile(kube.core)
    result = drain_node(ctx, "node-a")
    assert [(p.name, p.outcome) for p in result.evicted] == [("web-1", EvictionOutcome.ALREADY_GONE)]
    evict = next(s for s in kube.steps if s.name == "evict default/web-1")
    assert (evict.status, evict.detail, evict.response["code"]) == (StepStatus.SUCCEEDED, "404: already gone", 404)


def test_system_critical_pods_leave_only_after_the_ordinary_ones(kube: Kube) -> None:
    kube.cluster.put_many([node("node-a"), pod("coredns-1", "node-a", namespace="kube-system",
                                                priority_class="system-cluster-critical"),
                           pod("web-1", "node-a"), pod("web-2", "node-a")])
    drain_node(kube.ctx(), "node-a")
    evictions = [s.name for s in kube.steps if s.name.startswith("evict")]
    assert evictions == ["evict default/web-1", "evict default/web-2", "evict kube-system/coredns-1"]


def test_a_stopping_worker_ends_the_drain_and_uncordons_the_node(kube: Kube) -> None:
    kube.cluster.put_many([node("node-a"), pod("web-1", "node-a")])
    ctx = kube.ctx()
    ctx.should_stop = lambda: True
    with pytest.raises(TemporaryError, match="stopped: the worker is shutting down; node node-a uncordoned"):
        drain_node(ctx, "node-a")
    assert kube.pods_on("node-a") == ["default/web-1"]
    assert not kube.node("node-a")["spec"].get("unschedulable")


def test_draining_a_missing_node_is_a_permanent_error(kube: Kube) -> None:
    with pytest.raises(PermanentError, match="node ghost not found"):
        drain_node(kube.ctx(), "ghost")
    assert kube.steps == []


def test_a_pod_that_stays_terminating_after_its_eviction_is_named_with_its_grace_period_at_the_deadline(
        kube: Kube, clock: FakeClock) -> None:
    stuck = pod("stuck", "node-a", grace=45)
    stuck["metadata"]["finalizers"] = ["example.com/hold"]  # the API server keeps it, marked for deletion
    kube.cluster.put_many([node("node-a"), stuck])
    with pytest.raises(DrainTimeout) as failed:
        drain_node(kube.ctx(clock=clock), "node-a", deadline=clock.now + 60)
    assert str(failed.value) == ("pod default/stuck: still terminating 60 s after its eviction "
                                 "(terminationGracePeriodSeconds 45) at the deadline of 60 s; node node-a uncordoned")
    assert kube.step_lines() == ["cordon: succeeded", "evict default/stuck: succeeded", "wait default/stuck: failed",
                                 "uncordon: succeeded"]
