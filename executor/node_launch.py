"""Launching the instance that replaces a node, with the old instance's launch settings.

Used by `executor.node_replace` (replace-node-type, move-to-spot). The copy is what makes the new
instance join the same cluster: same AMI, subnet (so zone), security groups, IAM instance
profile, launch template (EKS puts the bootstrap user data there) or, without one, the old
instance's user data, IMDS options, root volume size and type, and its tags (the cluster tag
among them) plus `cloudoptim.io/replaces=<old id>`. That tag makes a retry adopt the instance an
earlier attempt launched instead of launching a second one.
"""

from __future__ import annotations

import base64
from typing import Any

from botocore.exceptions import ClientError

from executor import aws_calls as aws
from executor import k8s_util as k
from executor.base import ExecContext, K8sRule, PermanentError, Permissions, StepStatus, TemporaryError
from executor.node_actions import DRAIN_RULES  # what executor.drain.drain_node calls

REPLACES_TAG = "cloudoptim.io/replaces"
LAUNCH_TEMPLATE_TAGS = ("aws:ec2launchtemplate:id", "aws:ec2launchtemplate:version")
CAPACITY_TAG = "eks:nodegroup-capacity-type"  # EKS's own record of on-demand vs Spot
# RunInstances errors that say "not this type here and now": try the next candidate type.
NEXT_TYPE_CODES = frozenset({"InsufficientInstanceCapacity", "Unsupported", "SpotMaxPriceTooLow",
                             "InsufficientCapacity"})
TEMPORARY_CODES = frozenset({"InsufficientInstanceCapacity", "InsufficientCapacity", "SpotMaxPriceTooLow"})
PERMISSIONS = Permissions(
    iam=("ec2:DescribeInstances", "ec2:DescribeInstanceAttribute", "ec2:DescribeVolumes", "ec2:RunInstances",
         "ec2:CreateTags", "iam:PassRole", "ec2:TerminateInstances"),
    k8s=(*DRAIN_RULES, K8sRule("", ("nodes",), ("delete",))),
)


def describe_launch(instance: dict[str, Any]) -> str:
    """The launch settings in a plan's words: 'subnet-1 (us-east-1a), sg-1, profile ..., 7 tags'."""
    tags = aws.tag_map(instance.get("Tags"))
    parts = [f"subnet {instance.get('SubnetId')} ({instance.get('Placement', {}).get('AvailabilityZone')})",
             "security groups " + (", ".join(g["GroupId"] for g in instance.get("SecurityGroups", [])) or "none")]
    profile = (instance.get("IamInstanceProfile") or {}).get("Arn")
    parts.append(f"instance profile {profile}" if profile else "no instance profile")
    template = tags.get(LAUNCH_TEMPLATE_TAGS[0])
    parts.append(f"launch template {template} v{tags.get(LAUNCH_TEMPLATE_TAGS[1])}" if template
                 else "its user data (no launch template)")
    parts.append(f"{len(aws.user_tags(tags))} tags copied + {REPLACES_TAG}={instance.get('InstanceId')}")
    return ", ".join(parts)


def launch_args(ctx: ExecContext, old: dict[str, Any], *, spot: bool) -> dict[str, Any]:
    """RunInstances arguments (all but InstanceType) that copy `old`'s launch settings."""
    old_id, tags = str(old["InstanceId"]), aws.tag_map(old.get("Tags"))
    new_tags = {**aws.user_tags(tags), REPLACES_TAG: old_id, aws.MANAGED_BY_TAG: "cloudoptim"}
    if CAPACITY_TAG in new_tags:
        new_tags[CAPACITY_TAG] = "SPOT" if spot else "ON_DEMAND"
    tag_list = [{"Key": key, "Value": value} for key, value in new_tags.items()]
    args: dict[str, Any] = {
        "ImageId": old["ImageId"], "SubnetId": old["SubnetId"], "MinCount": 1, "MaxCount": 1,
        "TagSpecifications": [{"ResourceType": "instance", "Tags": tag_list},
                              {"ResourceType": "volume", "Tags": tag_list}],
    }
    if groups := [g["GroupId"] for g in old.get("SecurityGroups", [])]:
        args["SecurityGroupIds"] = groups
    if profile := (old.get("IamInstanceProfile") or {}).get("Arn"):
        args["IamInstanceProfile"] = {"Arn": profile}
    if old.get("KeyName"):
        args["KeyName"] = old["KeyName"]
    if options := {k: v for k, v in (old.get("MetadataOptions") or {}).items()
                   if k in ("HttpTokens", "HttpPutResponseHopLimit", "HttpEndpoint")}:
        args["MetadataOptions"] = options
    if spot:
        args["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": {
            "SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}}
    if template := tags.get(LAUNCH_TEMPLATE_TAGS[0]):
        # The template carries the bootstrap user data and the block devices; ours override the rest.
        args["LaunchTemplate"] = {"LaunchTemplateId": template, "Version": tags.get(LAUNCH_TEMPLATE_TAGS[1], "$Default")}
        return args
    try:
        attr = aws.call(ctx, "DescribeInstanceAttribute", ctx.ec2.describe_instance_attribute,
                        InstanceId=old_id, Attribute="userData")
    except ClientError as exc:
        raise aws.permanent("DescribeInstanceAttribute", exc) from exc
    if value := (attr.get("UserData") or {}).get("Value"):
        args["UserData"] = base64.b64decode(value)  # boto3 base64-encodes it again on the way out
    if root := _root_volume(ctx, old):
        args["BlockDeviceMappings"] = [root]
    return args


def _root_volume(ctx: ExecContext, old: dict[str, Any]) -> dict[str, Any] | None:
    device = old.get("RootDeviceName")
    mapping = next((m for m in old.get("BlockDeviceMappings", []) if m.get("DeviceName") == device and "Ebs" in m), None)
    volume = aws.describe_volume(ctx, mapping["Ebs"]["VolumeId"]) if mapping else None
    if volume is None:
        return None  # the AMI's own root device then
    ebs = {"VolumeSize": volume["Size"], "VolumeType": volume["VolumeType"], "DeleteOnTermination": True}
    if volume["VolumeType"] in ("gp3", "io1", "io2") and volume.get("Iops"):
        ebs["Iops"] = volume["Iops"]
    if volume["VolumeType"] == "gp3" and volume.get("Throughput"):
        ebs["Throughput"] = volume["Throughput"]
    if volume.get("Encrypted"):
        ebs["Encrypted"] = True
    return {"DeviceName": device, "Ebs": ebs}


def replacements_of(ctx: ExecContext, old_id: str) -> list[str]:
    """Pending or running instances launched to replace `old_id` (by an earlier attempt, too)."""
    try:
        resp = aws.call(ctx, "DescribeInstances", ctx.ec2.describe_instances, Filters=[
            {"Name": f"tag:{REPLACES_TAG}", "Values": [old_id]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]}])
    except ClientError as exc:
        raise aws.permanent("DescribeInstances", exc) from exc
    return sorted(str(i["InstanceId"]) for r in resp.get("Reservations", []) for i in r.get("Instances", []))


def launch(ctx: ExecContext, old: dict[str, Any], types: tuple[str, ...], *, spot: bool) -> tuple[str, str]:
    """Launch the first type AWS has capacity for; returns (instance id, type)."""
    old_id = str(old["InstanceId"])
    if earlier := replacements_of(ctx, old_id):
        instance = aws.describe_instance(ctx, earlier[0]) or {}
        ctx.step("RunInstances", StepStatus.SKIPPED, f"adopting {earlier[0]} launched by an earlier attempt")
        return earlier[0], str(instance.get("InstanceType", types[0]))
    args = launch_args(ctx, old, spot=spot)
    failures: dict[str, str] = {}
    for instance_type in types:
        try:
            resp = aws.call(ctx, "RunInstances", ctx.ec2.run_instances, InstanceType=instance_type, **args)
        except ClientError as exc:
            code = aws.error_code(exc)
            if code not in NEXT_TYPE_CODES:
                raise aws.permanent("RunInstances", exc) from exc
            failures[instance_type] = code
            ctx.step(f"RunInstances {instance_type}", StepStatus.FAILED, f"{code}: {aws.error_message(exc)}",
                     code=code)
            continue
        new = resp["Instances"][0]
        ctx.step(f"RunInstances {instance_type}", StepStatus.SUCCEEDED,
                 f"{new['InstanceId']} ({instance_type}, {'Spot' if spot else 'on-demand'}) in {new.get('SubnetId')}",
                 instance_id=new["InstanceId"], state=aws.state_of(new), RequestId=resp.get(
                     "ResponseMetadata", {}).get("RequestId"))
        return str(new["InstanceId"]), instance_type
    tried = "; ".join(f"{t}: {c}" for t, c in failures.items())
    if set(failures.values()) & TEMPORARY_CODES:
        raise TemporaryError(f"no capacity for any candidate type ({tried}); nothing was changed")
    raise PermanentError(f"no candidate type can be launched here ({tried}); nothing was changed")


def terminate(ctx: ExecContext, instance_id: str, *, why: str) -> None:
    try:
        resp = aws.call(ctx, "TerminateInstances", ctx.ec2.terminate_instances, InstanceIds=[instance_id])
    except ClientError as exc:
        if aws.is_not_found(exc):
            ctx.step(f"terminate {instance_id}", StepStatus.SKIPPED, "already gone")
            return
        raise aws.permanent("TerminateInstances", exc) from exc
    change = (resp.get("TerminatingInstances") or [{}])[0]
    ctx.step(f"terminate {instance_id}", StepStatus.SUCCEEDED,
             f"{why}: {change.get('PreviousState', {}).get('Name')} -> {change.get('CurrentState', {}).get('Name')}")


def pods_to_move(ctx: ExecContext, node_name: str) -> list[str]:
    """namespace/name of the pods a drain of the node would evict."""
    body = k.call_json(ctx.core.list_pod_for_all_namespaces, field_selector=f"spec.nodeName={node_name}")
    pods = [p for p in body.get("items") or [] if k.spec(p).get("nodeName") == node_name]
    return sorted(k.key_of(p) for p in pods if k.skip_reason(p) is None)
