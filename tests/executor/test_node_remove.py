"""Drain-and-remove-node against the local Kubernetes API and local AWS (moto): the drain, the Node's
deletion and the instance's termination, stale recommendations refused, the plan an analyst reads."""

from __future__ import annotations

from typing import Any

import pytest

from engines.actions import DrainAndRemoveNode, PodMove
from executor.base import K8sRule, StepStatus
from executor.registry import action_for
from sandbox.k8s_emulator import LocalKubernetes
from tests.executor.conftest import FakeClock
from tests.executor.k8s_objects import Kube, node, pdb, pod, workload
from tests.waiting import wait_until

AMI = "ami-12345678"
ACTION = action_for("drain-and-remove-node")


@pytest.fixture
def kube(local_k8s: LocalKubernetes) -> Kube:
    return Kube(local_k8s)


def launch(ec2: Any) -> str:
    resp = ec2.run_instances(ImageId=AMI, InstanceType="m5.large", MinCount=1, MaxCount=1)
    return str(resp["Instances"][0]["InstanceId"])


def state(ec2: Any, instance_id: str) -> str:
    return str(ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"])


def moves(keys: list[str], to_node: str | None = "node-b") -> tuple[PodMove, ...]:
    return tuple(PodMove(namespace=k.split("/")[0], pod=k.split("/")[1], to_node=to_node) for k in keys)


def test_drain_and_remove_deletes_the_node_terminates_its_instance_and_the_pods_run_elsewhere(
        kube: Kube, ec2: Any) -> None:
    instance_id = launch(ec2)
    kube.cluster.put_many([node("node-a", instance_id=instance_id), workload("Deployment", "web", 2),
                           pdb("web", maxUnavailable=1),
                           pod("agent-a", "node-a", namespace="kube-system", owner_kind="DaemonSet")])
    on_a = wait_until(lambda: (p := kube.pods_on("node-a")) and len(p) == 3 and p)
    web = [p for p in on_a if p.startswith("default/")]
    kube.cluster.put(node("node-b"))
    spec = DrainAndRemoveNode(node="node-a", instance_id=instance_id, moves=moves(web))
    ctx = kube.ctx(ec2=ec2)

    assert ACTION.validate(ctx, spec) == []
    plan = ACTION.plan(ctx, spec)
    assert plan.summary == (f"cordon node node-a; evict 2 pods ({', '.join(web)}) respecting PDBs default/web; "
                            f"terminate {instance_id}; delete Node node-a")
    assert plan.steps[2] == "leave 1 pod (kube-system/agent-a): DaemonSet, mirror or finished pods"
    assert plan.reversible is False and plan.disrupts_nodes == 1
    assert plan.pre_image["labels"]["kubernetes.io/hostname"] == "node-a" and plan.pre_image["unschedulable"] is False

    result = ACTION.apply(ctx, spec, plan)
    assert sorted(result["evicted"]) == web and result["skipped"] == ["kube-system/agent-a"]
    assert result["instance_state"] in ("shutting-down", "terminated")
    assert ACTION.verify(ctx, spec, plan) == []
    assert [n["metadata"]["name"] for n in kube.raw(kube.core.list_node)["items"]] == ["node-b"]
    assert state(ec2, instance_id) in ("shutting-down", "terminated")
    assert len([p for p in kube.pods_on("node-b") if p.startswith("default/web-")]) == 2
    names = [s.name for s in kube.steps]
    assert names.index("cordon") < names.index(f"terminate {instance_id}") < names.index("delete node")


def test_a_recommendation_is_refused_as_stale_when_new_workload_pods_landed_on_the_node(kube: Kube) -> None:
    kube.cluster.put_many([node("node-a"), pod("web-1", "node-a"), pod("intruder", "node-a"), pod("late", "node-a"),
                           pod("agent", "node-a", owner_kind="DaemonSet")])
    spec = DrainAndRemoveNode(node="node-a", moves=moves(["default/web-1", "default/gone-meanwhile"]))
    (refusal,) = ACTION.validate(kube.ctx(), spec)
    assert (refusal.code, refusal.message) == (
        "stale", "stale: node node-a now runs pods not in the plan: default/intruder, default/late")


def test_a_recommendation_for_a_node_that_is_gone_or_now_another_instance_is_refused(kube: Kube, ec2: Any) -> None:
    kube.cluster.put(node("node-a", instance_id="i-0000000000000new1"))
    gone = ACTION.validate(kube.ctx(ec2=ec2), DrainAndRemoveNode(node="node-z"))
    assert [r.message for r in gone] == ["stale: node node-z is gone"]
    other = ACTION.validate(kube.ctx(ec2=ec2), DrainAndRemoveNode(node="node-a", instance_id="i-0000000000000old1"))
    assert [r.message for r in other] == [
        "stale: node node-a is now instance i-0000000000000new1, the plan names i-0000000000000old1"]
    unreachable = ACTION.validate(kube.ctx(), DrainAndRemoveNode(node="node-a"))
    assert [(r.code, r.message) for r in unreachable] == [
        ("config", "no AWS client for us-east-1: cannot terminate i-0000000000000new1")]


def test_an_instance_aws_no_longer_knows_and_a_node_already_deleted_count_as_done(kube: Kube, ec2: Any) -> None:
    kube.cluster.put(node("node-a"))
    spec = DrainAndRemoveNode(node="node-a", instance_id="i-0123456789abcdef0")
    ctx = kube.ctx(ec2=ec2)
    plan = ACTION.plan(ctx, spec)
    assert plan.summary == "cordon node node-a; evict 0 pods (none); terminate i-0123456789abcdef0; delete Node node-a"

    class NodeDeletedMeanwhile:
        def __getattr__(self, name: str) -> Any:
            return getattr(kube.core, name)

        def delete_node(self, name: str, **kwargs: Any) -> Any:
            kube.core.delete_node(name)
            return kube.core.delete_node(name, **kwargs)  # the real 404

    ctx.core = NodeDeletedMeanwhile()
    result = ACTION.apply(ctx, spec, plan)
    assert result["instance_state"] == "gone"
    done = {s.name: (s.status, s.detail) for s in kube.steps}
    assert done["delete node"] == (StepStatus.SUCCEEDED, "Node node-a was already gone (404)")
    assert done["terminate i-0123456789abcdef0"] == (StepStatus.SUCCEEDED, "instance already gone (NotFound)")
    assert ACTION.verify(kube.ctx(ec2=ec2), spec, plan) == []


def test_a_node_without_a_known_instance_is_drained_and_deleted_and_nothing_is_terminated(kube: Kube) -> None:
    kube.cluster.put_many([node("node-a"), pod("web-1", "node-a")])
    spec = DrainAndRemoveNode(node="node-a", moves=moves(["default/web-1"]))
    ctx = kube.ctx()
    plan = ACTION.plan(ctx, spec)
    assert plan.steps[-2:] == ["no EC2 instance known: nothing to terminate", "delete Node node-a"]
    assert ACTION.apply(ctx, spec, plan)["instance_state"] == "unknown"
    assert ACTION.verify(ctx, spec, plan) == []


def test_the_action_declares_what_it_calls_for_least_privilege_policies() -> None:
    perms = ACTION.permissions
    assert perms.iam == ("ec2:TerminateInstances", "ec2:DescribeInstances")
    assert K8sRule("", ("pods/eviction",), ("create",)) in perms.k8s
    assert K8sRule("", ("nodes",), ("delete",)) in perms.k8s
    assert K8sRule("policy", ("poddisruptionbudgets",), ("list",)) in perms.k8s


def test_verify_names_a_controller_whose_evicted_pod_has_nowhere_else_to_run(kube: Kube, clock: FakeClock) -> None:
    kube.cluster.put_many([node("node-a"), workload("StatefulSet", "db", 1)])
    wait_until(lambda: kube.pods_on("node-a") == ["default/db-0"])
    spec = DrainAndRemoveNode(node="node-a", moves=moves(["default/db-0"], to_node=None))
    ctx = kube.ctx(clock=clock, verify_wait_s=5.0)
    plan = ACTION.plan(ctx, spec)
    ACTION.apply(ctx, spec, plan)
    assert ACTION.verify(ctx, spec, plan) == ["StatefulSet default/db runs 0 of 1 replicas off node node-a"]
    assert 5.0 <= sum(clock.slept) < 6.0
