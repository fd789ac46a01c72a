"""Replacing a node end to end on the sandbox: the new instance copies the old one's launch
settings and joins as a Ready node, the old node is drained, terminated and deleted; Spot
candidates fall back on a capacity shortage; a failure after the launch is undone; stale
recommendations are refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from kubernetes import client

from engines.actions import MoveToSpot, ReplaceNodeType
from executor import k8s_util as k
from executor import node_launch, node_replace
from executor.base import ExecContext, StepRecord, TemporaryError
from sandbox.sandbox import Sandbox
from tests.executor.conftest import inject_error, make_ctx, rewrite_response
from tests.waiting import wait_until

CLUSTER = "staging-east"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("sb"), reconcile_interval=0.2) as sb:
        yield sb


def cluster_ctx(sb: Sandbox, steps: list[StepRecord], **knobs: Any) -> ExecContext:
    """Clients of one sandbox cluster; a fresh EC2 client so injected errors stay in this test."""
    api = sb.kube[CLUSTER].api_client()
    ec2 = sb.aws.boto3_session().client("ec2", endpoint_url=sb.aws.endpoint_url,
                                        config=Config(retries={"total_max_attempts": 1}))
    settings = {"poll_interval_s": 0.1, "drain_timeout_s": 30.0, "node_join_timeout_s": 30.0, **knobs}
    return make_ctx(steps, ec2=ec2, core=client.CoreV1Api(api), apps=client.AppsV1Api(api),
                    policy=client.PolicyV1Api(api), cluster=CLUSTER, **settings)


def instance(ctx: ExecContext, instance_id: str) -> dict[str, Any]:
    return dict(ctx.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0])


def pick_node(ctx: ExecContext, *, blocked: bool) -> dict[str, Any]:
    """An untainted node with workload pods that a drain can evict (on-demand) or, blocked, cannot
    (a PodDisruptionBudget allowing no disruption guards one of them: staging's teastore-db)."""
    nodes = k.call_json(ctx.core.list_node)["items"]
    pods = k.call_json(ctx.core.list_pod_for_all_namespaces)["items"]
    zero = [b for b in k.call_json(ctx.policy.list_pod_disruption_budget_for_all_namespaces)["items"]
            if (b.get("status") or {}).get("disruptionsAllowed") == 0]
    for node in sorted(nodes, key=lambda n: k.meta(n)["name"]):
        labels = k.meta(node).get("labels") or {}
        wrong_capacity = not blocked and labels.get("karpenter.sh/capacity-type") != "on-demand"
        if wrong_capacity or k.spec(node).get("taints"):
            continue
        here = [p for p in pods if k.spec(p).get("nodeName") == k.meta(node)["name"] and k.skip_reason(p) is None]
        stuck = any(k.meta(b)["namespace"] == k.meta(p)["namespace"]
                    and k.selector_matches(k.spec(b).get("selector"), k.pod_labels(p)) for b in zero for p in here)
        if here and stuck == blocked:
            return dict(node)
    raise AssertionError(f"no {'blocked' if blocked else 'drainable on-demand'} node in {CLUSTER}")


def step_names(steps: list[StepRecord]) -> list[str]:
    return [f"{s.name}:{s.status}" for s in steps]


def test_a_replaced_node_type_is_a_copy_that_joins_while_the_old_node_is_drained_terminated_and_deleted(
    sandbox: Sandbox,
) -> None:
    steps: list[StepRecord] = []
    ctx = cluster_ctx(sandbox, steps)
    node = pick_node(ctx, blocked=False)
    name, old_id = str(k.meta(node)["name"]), str(k.instance_id_of(node))
    old = instance(ctx, old_id)
    # Give the old node what a real EKS node has, so the copy can be checked.
    sg = ctx.ec2.create_security_group(GroupName="staging-nodes", Description="nodes", VpcId=old["VpcId"])["GroupId"]
    ctx.ec2.modify_instance_attribute(InstanceId=old_id, Groups=[sg])
    iam = sandbox.aws.client("iam")
    iam.create_role(RoleName="staging-node-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}))
    profile = iam.create_instance_profile(InstanceProfileName="staging-node")["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName="staging-node", RoleName="staging-node-role")
    ctx.ec2.associate_iam_instance_profile(IamInstanceProfile={"Arn": profile["Arn"]}, InstanceId=old_id)
    ctx.ec2.modify_instance_attribute(InstanceId=old_id, UserData={"Value": base64.b64encode(b"#!/bin/bash\nbootstrap.sh staging-east")})
    moved = node_launch.pods_to_move(ctx, name)
    action = node_replace.ReplaceNodeType()
    spec = ReplaceNodeType(node=name, instance_id=old_id, from_type=str(old["InstanceType"]), to_type="m5.large")

    assert action.validate(ctx, spec) == []
    plan = action.plan(ctx, spec)
    result = action.apply(ctx, spec, plan)

    assert plan.summary.startswith(f"replace node {name} ({old_id} (m5.xlarge, running, tags ")
    assert plan.summary.endswith("with an on-demand m5.large instance") and plan.disrupts_nodes == 1
    assert f"subnet {old['SubnetId']}" in plan.steps[0] and sg in plan.steps[0] and profile["Arn"] in plan.steps[0]
    new = instance(ctx, result["new_instance_id"])
    assert (new["InstanceType"], new["SubnetId"], new["ImageId"]) == ("m5.large", old["SubnetId"], old["ImageId"])
    assert [g["GroupId"] for g in new["SecurityGroups"]] == [sg]
    assert new["IamInstanceProfile"]["Arn"] == profile["Arn"]
    user_data = ctx.ec2.describe_instance_attribute(InstanceId=new["InstanceId"], Attribute="userData")
    assert base64.b64decode(user_data["UserData"]["Value"]) == b"#!/bin/bash\nbootstrap.sh staging-east"
    old_tags, new_tags = ({t["Key"]: t["Value"] for t in i["Tags"]} for i in (old, new))
    assert new_tags == {**old_tags, "cloudoptim.io/replaces": old_id, "cloudoptim.io/managed-by": "cloudoptim"}
    new_node = k.call_json(ctx.core.read_node, result["new_node"])
    assert k.instance_id_of(new_node) == new["InstanceId"]
    assert k.meta(new_node)["labels"]["node.kubernetes.io/instance-type"] == "m5.large"
    assert instance(ctx, old_id)["State"]["Name"] == "terminated"
    assert name not in {k.meta(n)["name"] for n in k.call_json(ctx.core.list_node)["items"]}
    assert result["evicted"] == len(moved) > 0
    names = step_names(steps)
    assert names[0] == "RunInstances m5.large:succeeded" and names[1] == "wait node Ready:succeeded"
    assert "cordon:succeeded" in names and f"terminate {old_id}:succeeded" in names
    assert names[-1] == "delete node:succeeded" or names[-1] == "delete node:skipped"
    assert action.verify(ctx, spec, plan) == []

    def moved_pods_run_elsewhere() -> bool:
        pods = k.call_json(ctx.core.list_pod_for_all_namespaces)["items"]
        return not any(k.spec(p).get("nodeName") == name for p in pods) and all(
            (p.get("status") or {}).get("phase") == "Running" for p in pods if k.meta(p)["namespace"] in
            {m.split("/")[0] for m in moved})

    wait_until(moved_pods_run_elsewhere, timeout=20)


def test_move_to_spot_falls_back_to_the_next_type_when_aws_has_no_capacity_for_the_first(sandbox: Sandbox) -> None:
    steps: list[StepRecord] = []
    ctx = cluster_ctx(sandbox, steps)
    node = pick_node(ctx, blocked=False)
    name, old_id = str(k.meta(node)["name"]), str(k.instance_id_of(node))
    # moto always has capacity: the shortage of the first candidate is AWS's part, injected.
    short = inject_error(ctx.ec2, "RunInstances", "InsufficientInstanceCapacity",
                         when=lambda params: params["InstanceType"] == "m5.xlarge")
    action = node_replace.MoveToSpot()
    spec = MoveToSpot(node=name, instance_id=old_id, from_type=str(instance(ctx, old_id)["InstanceType"]),
                      to_types=("m5.xlarge", "m5a.xlarge"))

    assert action.validate(ctx, spec) == []
    plan = action.plan(ctx, spec)
    result = action.apply(ctx, spec, plan)

    assert len(short) == 1 and result["new_instance_type"] == "m5a.xlarge"
    new = instance(ctx, result["new_instance_id"])
    assert new["InstanceLifecycle"] == "spot" and new["InstanceType"] == "m5a.xlarge"
    assert {t["Key"]: t["Value"] for t in new["Tags"]}["eks:nodegroup-capacity-type"] == "SPOT"
    new_node = k.call_json(ctx.core.read_node, result["new_node"])
    assert k.meta(new_node)["labels"]["karpenter.sh/capacity-type"] == "spot"
    assert step_names(steps)[:2] == ["RunInstances m5.xlarge:failed", "RunInstances m5a.xlarge:succeeded"]
    assert "InsufficientInstanceCapacity" in steps[0].detail
    assert plan.summary.endswith("with a Spot the first available of m5.xlarge, m5a.xlarge instance")
    assert action.verify(ctx, spec, plan) == []


def test_when_every_candidate_lacks_capacity_nothing_is_launched_and_it_is_retried_later(sandbox: Sandbox) -> None:
    ctx = cluster_ctx(sandbox, [])
    node = pick_node(ctx, blocked=True)
    name, old_id = str(k.meta(node)["name"]), str(k.instance_id_of(node))
    inject_error(ctx.ec2, "RunInstances", "InsufficientInstanceCapacity", times=2)
    spec = MoveToSpot(node=name, from_type=str(instance(ctx, old_id)["InstanceType"]), to_types=("c5.xlarge", "m5.xlarge"))
    action = node_replace.MoveToSpot()

    with pytest.raises(TemporaryError, match="no capacity for any candidate type .c5.xlarge: Insufficient"):
        action.apply(ctx, spec, action.plan(ctx, spec))
    assert node_launch.replacements_of(ctx, old_id) == []


def test_a_drain_that_fails_after_the_launch_terminates_the_new_instance_and_uncordons_the_old_node(
    sandbox: Sandbox,
) -> None:
    steps: list[StepRecord] = []
    ctx = cluster_ctx(sandbox, steps, drain_timeout_s=1.5)
    node = pick_node(ctx, blocked=True)
    name, old_id = str(k.meta(node)["name"]), str(k.instance_id_of(node))
    action = node_replace.ReplaceNodeType()
    spec = ReplaceNodeType(node=name, from_type=str(instance(ctx, old_id)["InstanceType"]), to_type="m5.large")
    plan = action.plan(ctx, spec)

    with pytest.raises(TemporaryError) as failed:
        action.apply(ctx, spec, plan)

    new_id = next(str(s.response["instance_id"]) for s in steps if s.name == "RunInstances m5.large")
    message = str(failed.value)
    assert "PodDisruptionBudget" in message
    assert f"undone: new instance {new_id} terminated, node {name} schedulable" in message
    assert instance(ctx, new_id)["State"]["Name"] == "terminated"
    assert instance(ctx, old_id)["State"]["Name"] == "running"
    assert not k.spec(k.call_json(ctx.core.read_node, name)).get("unschedulable")
    assert f"terminate {new_id}:succeeded" in step_names(steps)
    # The new node left with its instance; the old one stays a node of the cluster.
    wait_until(lambda: all(k.instance_id_of(n) != new_id for n in k.call_json(ctx.core.list_node)["items"]))


def test_stale_recommendations_are_refused_with_the_reason(sandbox: Sandbox) -> None:
    ctx = cluster_ctx(sandbox, [])
    node = pick_node(ctx, blocked=True)  # staging's Spot node
    name, old_id = str(k.meta(node)["name"]), str(k.instance_id_of(node))
    replace, spot = node_replace.ReplaceNodeType(), node_replace.MoveToSpot()

    (gone,) = replace.validate(ctx, ReplaceNodeType(node="ip-10-9-9-9.ec2.internal", from_type="m5.xlarge", to_type="m5.large"))
    (other,) = replace.validate(ctx, ReplaceNodeType(node=name, instance_id="i-0aaaaaaaaaaaaaaaa", from_type="m5.xlarge", to_type="m5.large"))
    live_type = str(instance(ctx, old_id)["InstanceType"])
    resized, already_spot = spot.validate(ctx, MoveToSpot(node=name, from_type="c5.large", to_types=("c5.large",)))

    assert (gone.code, gone.message) == ("stale", "node ip-10-9-9-9.ec2.internal no longer exists")
    assert other.code == "stale" and f"is instance {old_id} now" in other.message
    assert (resized.code, resized.message) == ("stale", f"{old_id} is {live_type} now; the recommendation saw c5.large")
    assert (already_spot.code, already_spot.message) == ("stale", f"{old_id} is already a Spot instance")


def test_a_node_of_an_auto_scaling_group_is_refused_because_the_group_would_relaunch_the_old_type(
    sandbox: Sandbox,
) -> None:
    ctx = cluster_ctx(sandbox, [])
    node = pick_node(ctx, blocked=True)
    name, old_id = str(k.meta(node)["name"]), str(k.instance_id_of(node))

    def in_group(parsed: dict[str, Any]) -> None:  # AWS writes aws:* tags itself; moto cannot be told to
        for res in parsed.get("Reservations", []):
            for inst in res["Instances"]:
                inst["Tags"] = [*inst.get("Tags", []), {"Key": "aws:autoscaling:groupName", "Value": "eks-ng-1"}]

    rewrite_response(ctx.ec2, "DescribeInstances", in_group)
    refusals = node_replace.ReplaceNodeType().validate(ctx, ReplaceNodeType(
        node=name, from_type=str(instance(ctx, old_id)["InstanceType"]), to_type="m5.large"))

    assert [(r.code, r.message) for r in refusals] == [("unsupported", (
        f"{old_id} belongs to Auto Scaling group eks-ng-1, which would launch a replacement of the old type: "
        "change the group instead"))]


def test_the_launch_copies_a_launch_template_or_else_the_root_volume(sandbox: Sandbox) -> None:
    ctx = cluster_ctx(sandbox, [])
    subnet = instance(ctx, str(k.instance_id_of(pick_node(ctx, blocked=True))))["SubnetId"]
    template = ctx.ec2.create_launch_template(LaunchTemplateName="staging-nodes", LaunchTemplateData={
        "ImageId": "ami-0eks1a2b3c4d5e6f7", "UserData": base64.b64encode(b"bootstrap").decode()})["LaunchTemplate"]
    from_template = ctx.ec2.run_instances(MinCount=1, MaxCount=1, SubnetId=subnet, InstanceType="m5.large",
                                          LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]})
    plain = ctx.ec2.run_instances(ImageId="ami-0eks1a2b3c4d5e6f7", MinCount=1, MaxCount=1, SubnetId=subnet,
                                  InstanceType="m5.large", BlockDeviceMappings=[
                                      {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 50, "VolumeType": "gp3"}}])
    ids = [r["Instances"][0]["InstanceId"] for r in (from_template, plain)]
    try:
        with_template = node_launch.launch_args(ctx, instance(ctx, ids[0]), spot=True)
        without = node_launch.launch_args(ctx, instance(ctx, ids[1]), spot=False)
    finally:
        ctx.ec2.terminate_instances(InstanceIds=ids)

    assert with_template["LaunchTemplate"] == {"LaunchTemplateId": template["LaunchTemplateId"], "Version": "1"}
    assert "UserData" not in with_template and "BlockDeviceMappings" not in with_template  # the template has them
    assert with_template["InstanceMarketOptions"]["MarketType"] == "spot"
    root = without["BlockDeviceMappings"][0]
    assert root["DeviceName"] == "/dev/sda1" and "LaunchTemplate" not in without
    assert {key: root["Ebs"][key] for key in ("VolumeSize", "VolumeType", "DeleteOnTermination")} == {
        "VolumeSize": 50, "VolumeType": "gp3", "DeleteOnTermination": True}
    # AWS's own tags are never copied (RunInstances refuses them); ours say what it replaces.
    tags = {t["Key"]: t["Value"] for t in with_template["TagSpecifications"][0]["Tags"]}
    assert not any(key.startswith("aws:") for key in tags) and tags["cloudoptim.io/replaces"] == ids[0]


def test_a_retry_adopts_the_replacement_an_earlier_attempt_launched(sandbox: Sandbox) -> None:
    steps: list[StepRecord] = []
    ctx = cluster_ctx(sandbox, steps)
    old_id = str(k.instance_id_of(pick_node(ctx, blocked=True)))
    old = instance(ctx, old_id)

    first, _ = node_launch.launch(ctx, old, ("m5.large",), spot=False)
    again, itype = node_launch.launch(ctx, old, ("m5.large",), spot=False)
    node_launch.terminate(ctx, first, why="test cleanup")

    assert (again, itype) == (first, "m5.large")
    assert step_names(steps)[1] == "RunInstances:skipped" and "earlier attempt" in steps[1].detail
