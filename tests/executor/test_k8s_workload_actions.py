"""Workload actions against the local Kubernetes API: each applies, verifies, refuses stale input, and
its rollback (the reverse spec, or the pre-image written back) restores replicas, resources,
annotations and fields exactly."""

from __future__ import annotations

from typing import Any

import pytest

from engines import schedules
from engines.actions import ScaleReplicas, ScheduleScale, SetRequestsLimits, SetTrafficDistribution
from executor.base import Action, ExecContext, K8sRule, PermanentError, Plan
from executor.registry import action_for, all_actions
from sandbox.k8s_emulator import LocalKubernetes
from tests.executor.k8s_objects import Kube, Obj, node, service, workload
from tests.waiting import wait_until

MI = 2**20
ORIGINAL = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}}
SIDECAR = {"name": "proxy", "image": "envoy", "resources": {"requests": {"cpu": "50m", "ephemeral-storage": "1Gi"}}}


@pytest.fixture
def kube(local_k8s: LocalKubernetes) -> Kube:
    local_k8s.put(node("node-a"))
    return Kube(local_k8s)


def run(action: Action[Any], ctx: ExecContext, spec: Any) -> Plan:
    """What the executor does with an approved spec: validate, plan, apply, verify."""
    assert action.validate(ctx, spec) == []
    plan = action.plan(ctx, spec)
    action.apply(ctx, spec, plan)
    assert action.verify(ctx, spec, plan) == []
    return plan


def read(kube: Kube, kind: str, name: str = "web") -> Obj:
    fn = {"Deployment": kube.apps.read_namespaced_deployment, "StatefulSet": kube.apps.read_namespaced_stateful_set,
          "DaemonSet": kube.apps.read_namespaced_daemon_set}[kind]  # fmt: skip
    return kube.raw(fn, name, "default")


def containers(kube: Kube, kind: str) -> dict[str, Any]:
    return {c["name"]: c.get("resources") for c in read(kube, kind)["spec"]["template"]["spec"]["containers"]}


# --- requests and limits -----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet"])
def test_new_requests_and_limits_apply_to_one_container_and_the_reverse_spec_restores_them_exactly(
        kube: Kube, kind: str) -> None:
    app = {"name": "app", "image": "shop", "resources": ORIGINAL}
    kube.cluster.put(workload(kind, "web", 1, containers=[app, SIDECAR]))
    spec = SetRequestsLimits(namespace="default", workload_kind=kind.lower(), workload_name="web", container="app",
                             cpu_request=0.25, memory_request=256 * MI, cpu_limit=None, memory_limit=512 * MI)
    action, ctx = action_for(spec.kind), kube.ctx()
    plan = run(action, ctx, spec)
    assert plan.summary == (f"set resources of container app in {kind} default/web: requests.cpu: 100m -> 250m, "
                            f"requests.memory: 128Mi -> 256Mi, limits.cpu: 1 -> (none), limits.memory: 256Mi -> 512Mi; "
                            f"the {kind} replaces its pods one by one")
    assert containers(kube, kind) == {"app": {"requests": {"cpu": "250m", "memory": "256Mi"},
                                              "limits": {"memory": "512Mi"}},
                                      "proxy": SIDECAR["resources"]}
    assert plan.pre_image["resources"] == ORIGINAL and plan.reversible

    reverse = action.rollback_spec(plan)
    assert reverse == SetRequestsLimits(namespace="default", workload_kind=kind, workload_name="web", container="app",
                                        cpu_request=0.1, memory_request=128 * MI, cpu_limit=1.0, memory_limit=256 * MI)
    run(action, ctx, reverse)
    assert containers(kube, kind) == {"app": ORIGINAL, "proxy": SIDECAR["resources"]}


def test_a_daemonset_s_requests_are_set_and_restored_but_it_cannot_be_scaled(kube: Kube) -> None:
    app = {"name": "app", "image": "agent", "resources": ORIGINAL}
    obj = workload("DaemonSet", "web", 1, containers=[app])
    del obj["spec"]["replicas"]
    kube.cluster.put(obj)
    spec = SetRequestsLimits(namespace="default", workload_kind="DaemonSet", workload_name="web", container="app",
                             cpu_request=0.05, memory_request=64 * MI, cpu_limit=1.0, memory_limit=128 * MI)
    action, ctx = action_for(spec.kind), kube.ctx()
    plan = run(action, ctx, spec)
    assert containers(kube, "DaemonSet")["app"] == {"requests": {"cpu": "50m", "memory": "64Mi"},
                                                    "limits": {"cpu": "1", "memory": "128Mi"}}
    run(action, ctx, action.rollback_spec(plan))
    assert containers(kube, "DaemonSet")["app"] == ORIGINAL
    scale = ScaleReplicas(namespace="default", workload_kind="DaemonSet", workload_name="web", from_replicas=1,
                          to_replicas=0)
    (refusal,) = action_for(scale.kind).validate(ctx, scale)
    assert refusal.code == "unsupported" and "is not Deployment or StatefulSet" in refusal.message


def test_the_direct_rollback_writes_the_old_resources_back_byte_for_byte(kube: Kube) -> None:
    odd = {"requests": {"cpu": "0.1", "memory": "134217728"}}  # spellings the reverse spec would normalise
    kube.cluster.put(workload("Deployment", "web", 1, containers=[{"name": "app", "image": "x", "resources": odd}]))
    spec = SetRequestsLimits(namespace="default", workload_kind="Deployment", workload_name="web", container="app",
                             cpu_request=0.1, memory_request=64 * MI, memory_limit=128 * MI)
    action, ctx = action_for(spec.kind), kube.ctx()
    plan = run(action, ctx, spec)
    assert plan.steps == ["requests.memory: 134217728 -> 64Mi", "limits.memory: (none) -> 128Mi"]
    assert containers(kube, "Deployment")["app"] == {"requests": {"cpu": "0.1", "memory": "64Mi"},
                                                    "limits": {"memory": "128Mi"}}
    action.rollback(ctx, plan)
    assert containers(kube, "Deployment")["app"] == odd


def test_a_container_changed_after_the_plan_is_refused_instead_of_overwritten(kube: Kube) -> None:
    kube.cluster.put(workload("Deployment", "web", 1, containers=[{"name": "app", "image": "x", "resources": ORIGINAL}]))
    spec = SetRequestsLimits(namespace="default", workload_kind="Deployment", workload_name="web", container="app",
                             cpu_request=0.2, memory_request=128 * MI)
    action, ctx = action_for(spec.kind), kube.ctx()
    plan = action.plan(ctx, spec)
    someone_else = {"requests": {"cpu": "300m"}}
    kube.apps.patch_namespaced_deployment("web", "default", [
        {"op": "replace", "path": "/spec/template/spec/containers/0/resources", "value": someone_else}])
    with pytest.raises(PermanentError, match="stale: Deployment default/web container app changed since the plan"):
        action.apply(ctx, spec, plan)
    assert containers(kube, "Deployment")["app"] == someone_else


def test_requests_limits_refuse_a_missing_container_a_gone_workload_and_a_request_above_its_limit(kube: Kube) -> None:
    kube.cluster.put(workload("Deployment", "web", 1))
    action, ctx = action_for("set-requests-limits"), kube.ctx()

    def refusals(**changes: Any) -> list[str]:
        base: dict[str, Any] = {"namespace": "default", "workload_kind": "Deployment", "workload_name": "web",
                                "container": "app", "cpu_request": 0.5, **changes}
        return [r.message for r in action.validate(ctx, SetRequestsLimits(**base))]

    assert refusals(container="db") == ["stale: Deployment default/web has no container db (containers: app)"]
    assert refusals(workload_name="gone") == ["stale: Deployment default/gone is gone"]
    assert refusals(cpu_limit=0.25) == ["cpu request 0.5 exceeds its limit 0.25 (the API server rejects it)"]
    assert refusals(workload_kind="CronJob") == ["workload kind 'CronJob' is not Deployment, StatefulSet or DaemonSet"]


# --- replicas ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet"])
def test_scaling_through_the_scale_subresource_and_rolling_back_restores_the_replica_count(
        kube: Kube, kind: str) -> None:
    kube.cluster.put(workload(kind, "web", 3))
    spec = ScaleReplicas(namespace="default", workload_kind=kind, workload_name="web", from_replicas=3, to_replicas=1)
    action, ctx = action_for(spec.kind), kube.ctx()
    plan = run(action, ctx, spec)
    assert plan.summary == f"scale {kind} default/web from 3 to 1 replicas"
    assert wait_until(lambda: len(kube.pods_on("node-a")) == 1)
    reverse = action.rollback_spec(plan)
    assert (reverse.from_replicas, reverse.to_replicas) == (1, 3)
    run(action, ctx, reverse)
    assert read(kube, kind)["spec"]["replicas"] == 3
    assert wait_until(lambda: len(kube.pods_on("node-a")) == 3)


def test_scaling_is_refused_as_stale_when_the_live_count_is_not_the_planned_one(kube: Kube) -> None:
    kube.cluster.put(workload("Deployment", "web", 3))
    spec = ScaleReplicas(namespace="default", workload_kind="Deployment", workload_name="web",
                         from_replicas=5, to_replicas=2)
    assert [r.message for r in action_for(spec.kind).validate(kube.ctx(), spec)] == [
        "stale: Deployment default/web runs 3 replicas, the plan expected 5"]


# --- scheduled scaling ---------------------------------------------------------------------------
def test_a_schedule_is_stored_as_annotations_and_its_rollback_removes_them_and_restores_replicas(kube: Kube) -> None:
    kube.cluster.put(workload("Deployment", "web", 4, annotations={"team": "shop"}))
    spec = ScheduleScale(namespace="default", workload_kind="Deployment", workload_name="web",
                         timezone="Europe/Paris", scale_down_cron="0 20 * * 1-5", scale_up_cron="0 7 * * 1-5")
    action, ctx = action_for(spec.kind), kube.ctx()
    plan = run(action, ctx, spec)
    assert plan.summary == ("annotate Deployment default/web: scale to 0 at '0 20 * * 1-5' and back to 4 at "
                            "'0 7 * * 1-5' (Europe/Paris)")
    # Which transition comes next depends on the wall clock (Paris evenings are already off-hours).
    assert plan.steps[1].startswith(("next scale-down ", "next scale-up ")) and plan.steps[2].startswith(
        "nothing changes now")
    live = read(kube, "Deployment")
    assert live["spec"]["replicas"] == 4 and live["metadata"]["annotations"] == {
        "team": "shop", "cloudoptim.io/schedule-scale-down": "0 20 * * 1-5",
        "cloudoptim.io/schedule-scale-up": "0 7 * * 1-5", "cloudoptim.io/schedule-timezone": "Europe/Paris",
        "cloudoptim.io/schedule-replicas-off": "0", "cloudoptim.io/schedule-original-replicas": "4"}
    assert action.rollback_spec(plan) is None  # no spec says "unschedule": the direct rollback does
    kube.apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 0}})  # the night shift ran
    action.rollback(ctx, plan)
    live = read(kube, "Deployment")
    assert live["metadata"]["annotations"] == {"team": "shop"} and live["spec"]["replicas"] == 4


def test_planning_a_schedule_again_after_a_crash_keeps_the_original_replicas_and_a_clean_rollback(
        kube: Kube) -> None:
    kube.cluster.put(workload("Deployment", "web", 3))
    spec = ScheduleScale(namespace="default", workload_kind="Deployment", workload_name="web",
                         scale_down_cron="0 20 * * *", scale_up_cron="0 7 * * *")
    action, ctx = action_for(spec.kind), kube.ctx()
    run(action, ctx, spec)
    kube.apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 0}})  # the night shift ran
    assert action.validate(ctx, spec) == []
    again = action.plan(ctx, spec)
    assert again.pre_image["replicas"] == 3 and set(again.pre_image["annotations"].values()) == {None}
    action.rollback(ctx, again)
    live = read(kube, "Deployment")
    assert live["spec"]["replicas"] == 3 and not live["metadata"].get("annotations")


def test_a_rollback_also_removes_the_enforcers_annotations_and_restores_what_it_scaled_down_from(
        kube: Kube) -> None:
    kube.cluster.put(workload("Deployment", "web", 3))
    spec = ScheduleScale(namespace="default", workload_kind="Deployment", workload_name="web",
                         scale_down_cron="0 20 * * *", scale_up_cron="0 7 * * *")
    action, ctx = action_for(spec.kind), kube.ctx()
    plan = run(action, ctx, spec)
    assert set(plan.pre_image["annotations"]) >= {schedules.RESTORE_REPLICAS, schedules.LAST_TRANSITION}
    # A pre-image planned before the enforcer existed; someone grew the workload to 5 in office
    # hours, then the enforcer scaled it down from 5 tonight.
    for key in schedules.ENFORCER_KEYS:
        del plan.pre_image["annotations"][key]
    kube.apps.patch_namespaced_deployment("web", "default", {"metadata": {"annotations": {
        schedules.RESTORE_REPLICAS: "5", schedules.LAST_TRANSITION: "down 2026-06-08T20:00:00+00:00"}}})
    kube.apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 0}})
    action.rollback(ctx, plan)
    live = read(kube, "Deployment")
    assert live["spec"]["replicas"] == 5 and not live["metadata"].get("annotations")


def test_a_schedule_with_a_bad_cron_or_timezone_or_nothing_to_save_is_refused(kube: Kube) -> None:
    kube.cluster.put(workload("Deployment", "web", 1))
    action, ctx = action_for("schedule-scale"), kube.ctx()

    def refusals(**changes: Any) -> list[str]:
        base: dict[str, Any] = {"namespace": "default", "workload_kind": "Deployment", "workload_name": "web",
                                "scale_down_cron": "0 20 * * *", "scale_up_cron": "0 7 * * *", **changes}
        return [r.message for r in action.validate(ctx, ScheduleScale(**base))]

    assert refusals() == []
    (bad,) = refusals(scale_up_cron="at seven")
    assert bad.startswith("scale-up cron 'at seven' is not a crontab expression")
    assert refusals(timezone="Mars/Olympus") == ["unknown timezone 'Mars/Olympus'"]
    assert refusals(replicas_off=1) == ["stale: Deployment default/web runs 1 replicas; scaling to 1 saves nothing"]


# --- Service traffic distribution ----------------------------------------------------------------
def test_traffic_distribution_is_set_and_its_rollback_removes_a_field_that_was_absent(kube: Kube) -> None:
    kube.cluster.put(service("web"))
    spec = SetTrafficDistribution(namespace="default", service="web")
    action, ctx = action_for(spec.kind), kube.ctx()
    plan = run(action, ctx, spec)
    assert plan.summary.startswith("set Service default/web spec.trafficDistribution: (none) -> PreferClose")
    assert kube.raw(kube.core.read_namespaced_service, "web", "default")["spec"]["trafficDistribution"] == "PreferClose"
    assert action.rollback_spec(plan) is None
    action.rollback(ctx, plan)
    assert "trafficDistribution" not in kube.raw(kube.core.read_namespaced_service, "web", "default")["spec"]


def test_traffic_distribution_rolls_back_to_an_earlier_value_through_the_reverse_spec(kube: Kube) -> None:
    kube.cluster.put(service("web", trafficDistribution="PreferSameZone"))
    spec = SetTrafficDistribution(namespace="default", service="web", value="PreferClose")
    action, ctx = action_for(spec.kind), kube.ctx()
    plan = run(action, ctx, spec)
    reverse = action.rollback_spec(plan)
    assert reverse == SetTrafficDistribution(namespace="default", service="web", value="PreferSameZone")
    run(action, ctx, reverse)
    assert kube.raw(kube.core.read_namespaced_service, "web", "default")["spec"]["trafficDistribution"] == "PreferSameZone"
    assert [r.message for r in action.validate(ctx, SetTrafficDistribution(namespace="default", service="nope"))] == [
        "stale: Service default/nope is gone"]


def test_every_workload_action_is_registered_and_declares_its_kubernetes_rules() -> None:
    actions = all_actions()
    assert actions["scale-replicas"].permissions.k8s == (
        K8sRule("apps", ("deployments", "statefulsets"), ("get",)),
        K8sRule("apps", ("deployments/scale", "statefulsets/scale"), ("get", "patch")))
    assert actions["set-traffic-distribution"].permissions.k8s == (K8sRule("", ("services",), ("get", "patch")),)
    assert actions["set-requests-limits"].permissions.k8s == (
        K8sRule("apps", ("deployments", "statefulsets", "daemonsets"), ("get", "patch")),)
    for kind in ("set-requests-limits", "schedule-scale"):
        assert actions[kind].permissions.iam == ()
