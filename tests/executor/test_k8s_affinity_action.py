"""The set-preferred-affinity action against the local Kubernetes API: it appends the term, verifies it,
refuses gone workloads and duplicate terms, and its rollback restores the old affinity exactly."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from engines.actions import SetPreferredAffinity
from executor.base import Action, ExecContext, K8sRule, PermanentError, Plan
from executor.permissions import k8s_grants
from executor.registry import action_for
from sandbox.k8s_emulator import LocalKubernetes
from tests.executor.k8s_objects import Kube, Obj, node, workload

ANTI = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
    {"weight": 10, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "api"}},
                                       "topologyKey": "kubernetes.io/hostname"}}]}}
EXISTING = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
    {"weight": 5, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "cache"}},
                                      "topologyKey": "topology.kubernetes.io/zone"}}]}, **ANTI}


@pytest.fixture
def kube(local_k8s: LocalKubernetes) -> Kube:
    local_k8s.put(node("node-a"))
    return Kube(local_k8s)


def put_api(kube: Kube, kind: str = "Deployment", affinity: Obj | None = None) -> None:
    obj = workload(kind, "api", 2)
    if affinity is not None:
        obj["spec"]["template"]["spec"]["affinity"] = copy.deepcopy(affinity)
    kube.cluster.put(obj)


def live_affinity(kube: Kube, kind: str = "Deployment") -> Any:
    fn = kube.apps.read_namespaced_deployment if kind == "Deployment" else kube.apps.read_namespaced_stateful_set
    return kube.raw(fn, "api", "default")["spec"]["template"]["spec"].get("affinity")


def spec(kind: str = "Deployment", **extra: Any) -> SetPreferredAffinity:
    return SetPreferredAffinity(namespace="default", workload_kind=kind, workload_name="api", peer_namespace="default",
                                peer_labels={"app": "db"}, **extra)


def run(action: Action[Any], ctx: ExecContext, the_spec: SetPreferredAffinity) -> Plan:
    assert action.validate(ctx, the_spec) == []
    plan = action.plan(ctx, the_spec)
    action.apply(ctx, the_spec, plan)
    assert action.verify(ctx, the_spec, plan) == []
    return plan


DB_TERM = {"weight": 50, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "db"}},
                                            "topologyKey": "topology.kubernetes.io/zone"}}


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet"])
def test_the_term_is_added_to_a_workload_without_affinity_and_the_rollback_removes_the_field(
        kube: Kube, kind: str) -> None:
    put_api(kube, kind)
    action, ctx = action_for("set-preferred-affinity"), kube.ctx()
    plan = run(action, ctx, spec(kind))
    assert plan.summary.startswith(f"add to {kind} default/api spec.template.spec.affinity.podAffinity.")
    assert "(0 -> 1 preferred terms)" in plan.summary and plan.reversible
    assert live_affinity(kube, kind) == {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [DB_TERM]}}
    assert action.rollback_spec(plan) is None
    action.rollback(ctx, plan)
    assert live_affinity(kube, kind) is None


def test_the_term_is_appended_after_existing_terms_and_the_rollback_restores_them_exactly(kube: Kube) -> None:
    put_api(kube, affinity=EXISTING)
    action, ctx = action_for("set-preferred-affinity"), kube.ctx()
    plan = run(action, ctx, spec())
    terms = live_affinity(kube)["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert terms == [*EXISTING["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"], DB_TERM]
    assert live_affinity(kube)["podAntiAffinity"] == ANTI["podAntiAffinity"]
    assert "(1 -> 2 preferred terms)" in plan.summary
    action.rollback(ctx, plan)
    assert live_affinity(kube) == EXISTING


def test_a_peer_in_another_namespace_is_named_in_the_term(kube: Kube) -> None:
    put_api(kube)
    cross = SetPreferredAffinity(namespace="default", workload_kind="Deployment", workload_name="api",
                                 peer_namespace="data", peer_labels={"app": "db"}, weight=80)
    run(action_for(cross.kind), kube.ctx(), cross)
    term = live_affinity(kube)["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["weight"] == 80 and term["podAffinityTerm"]["namespaces"] == ["data"]


def test_a_gone_workload_and_one_that_already_has_the_term_are_refused(kube: Kube) -> None:
    action, ctx = action_for("set-preferred-affinity"), kube.ctx()
    assert [r.message for r in action.validate(ctx, spec())] == ["stale: Deployment default/api is gone"]
    put_api(kube, affinity={"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {**DB_TERM, "weight": 7}]}})
    refusals = action.validate(ctx, spec())
    assert [r.code for r in refusals] == ["stale"] and "already has a preferred pod-affinity term" in refusals[0].message
    assert [r.code for r in action.validate(ctx, spec("DaemonSet"))] == ["unsupported"]


def test_an_affinity_changed_between_plan_and_apply_is_refused_as_stale_and_left_alone(kube: Kube) -> None:
    put_api(kube)
    action, ctx = action_for("set-preferred-affinity"), kube.ctx()
    plan = action.plan(ctx, spec())
    put_api(kube, affinity=ANTI)  # someone else edits the template meanwhile
    with pytest.raises(PermanentError, match="stale: the affinity of Deployment default/api changed"):
        action.apply(ctx, spec(), plan)
    assert live_affinity(kube) == ANTI


def test_the_action_declares_the_workload_verbs_it_uses() -> None:
    grants = k8s_grants(action_for("set-preferred-affinity").permissions.k8s)
    assert grants == k8s_grants([K8sRule("apps", ("deployments", "statefulsets"), ("get", "patch"))])
