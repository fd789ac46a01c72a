"""EC2 instance actions: stop an idle instance (reversible) and terminate an abandoned one.

Registered in `executor.registry` (imported by `executor.actions_all`); the worker's execution
service calls validate -> plan -> apply -> verify. Both refuse instances that are Kubernetes
nodes (stopping or terminating one under its pods is what drain-and-remove-node exists for).
Stop has no rollback *spec* (the closed set in engines.actions has no start-instance, and no
engine would ever recommend one): the pre-image records the running state and the direct
`StopInstance.rollback` starts the instance again, which the execution service runs when
`rollback_spec` is None. The EBS volume actions are in `executor.ebs_actions`.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from engines.actions import StopInstance as StopSpec
from engines.actions import TerminateInstance as TerminateSpec
from executor import aws_calls as aws
from executor.base import Action, ExecContext, PermanentError, Permissions, Plan, Refusal, StepStatus
from executor.registry import register

GONE_STATES = ("shutting-down", "terminated")


def describe(instance: dict[str, Any]) -> str:
    """'i-0abc (m5.large, running, tags team=x)' as plans and refusals show an instance."""
    tags = aws.tag_map(instance.get("Tags"))
    return f"{instance['InstanceId']} ({instance.get('InstanceType')}, {aws.state_of(instance)}, {aws.tags_text(tags)})"


def _node_refusal(instance: dict[str, Any]) -> Refusal | None:
    cluster = aws.cluster_of(aws.tag_map(instance.get("Tags")))
    if cluster is None:
        return None
    return Refusal("is-node", f"{instance['InstanceId']} is a node of cluster {cluster}: "
                              "use drain-and-remove-node so its pods are moved first")


def _wait_state(ctx: ExecContext, instance_id: str, wanted: tuple[str, ...]) -> str:
    def check() -> str | None:
        state = aws.state_of(aws.describe_instance(ctx, instance_id))
        return state if state in wanted or (state == "gone" and "terminated" in wanted) else None

    return aws.wait_for(ctx, f"{instance_id} {'/'.join(wanted)}", check,
                        aws.timeout(ctx, "aws_wait_timeout_s", aws.AWS_WAIT_TIMEOUT_S))


def _change_state(ctx: ExecContext, op: str, fn: Any, instance_id: str) -> dict[str, Any] | None:
    """Stop/start/terminate one instance and record the transition; None if AWS no longer knows it."""
    try:
        resp = aws.call(ctx, op, fn, InstanceIds=[instance_id])
    except ClientError as exc:
        if aws.is_not_found(exc) and op == "TerminateInstances":
            return None
        raise aws.permanent(op, exc) from exc
    change = (resp.get("StoppingInstances") or resp.get("StartingInstances") or resp.get("TerminatingInstances")
              or [{}])[0]
    before, after = change.get("PreviousState", {}).get("Name"), change.get("CurrentState", {}).get("Name")
    ctx.step(op, StepStatus.SUCCEEDED, f"{instance_id}: {before} -> {after}", **aws.summary(resp))
    return resp


@register
class StopInstance(Action[StopSpec]):
    kind = "stop-instance"
    spec_type = StopSpec
    permissions = Permissions(iam=("ec2:DescribeInstances", "ec2:StopInstances", "ec2:StartInstances"))

    def validate(self, ctx: ExecContext, spec: StopSpec) -> list[Refusal]:
        instance = aws.describe_instance(ctx, spec.instance_id)
        if instance is None or aws.state_of(instance) in GONE_STATES:
            return [Refusal("stale", f"instance {spec.instance_id} no longer exists")]
        if (state := aws.state_of(instance)) != "running":
            return [Refusal("stale", f"{spec.instance_id} is {state}; the recommendation saw it running")]
        refusals = [r for r in [_node_refusal(instance)] if r]
        if instance.get("InstanceLifecycle") == "spot":
            refusals.append(Refusal("unsupported", f"{spec.instance_id} is a Spot instance: AWS cannot stop a "
                                                   "one-time Spot instance, only terminate it"))
        if instance.get("RootDeviceType") == "instance-store":
            refusals.append(Refusal("unsupported", f"{spec.instance_id} has an instance-store root: it cannot be "
                                                   "stopped, only terminated"))
        return refusals

    def plan(self, ctx: ExecContext, spec: StopSpec) -> Plan:
        instance = aws.describe_instance(ctx, spec.instance_id) or {"InstanceId": spec.instance_id}
        volumes = [m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m]
        return Plan(
            summary=f"stop {describe(instance)}",
            steps=[f"StopInstances {spec.instance_id}", "wait until it is stopped",
                   f"its EBS volumes ({', '.join(volumes) or 'none'}) stay and are still billed",
                   "rollback: StartInstances (a new public IP unless it has an Elastic IP)"],
            pre_image={"instance_id": spec.instance_id, "state": "running",
                       "instance_type": instance.get("InstanceType")},
            reversible=True,
        )

    def apply(self, ctx: ExecContext, spec: StopSpec, plan: Plan) -> dict[str, Any]:
        _change_state(ctx, "StopInstances", ctx.ec2.stop_instances, spec.instance_id)
        state = _wait_state(ctx, spec.instance_id, ("stopped",))
        ctx.step("wait stopped", StepStatus.SUCCEEDED, f"{spec.instance_id} is {state}")
        return {"instance_id": spec.instance_id, "state": state}

    def verify(self, ctx: ExecContext, spec: StopSpec, plan: Plan) -> list[str]:
        state = aws.state_of(aws.describe_instance(ctx, spec.instance_id))
        return [] if state == "stopped" else [f"{spec.instance_id} is {state}, not stopped"]

    def rollback(self, ctx: ExecContext, plan: Plan) -> dict[str, Any]:
        """Start the instance again (the pre-image is `running`); already running = done.

        No spec: a start-instance kind in engines.actions would be one that no engine emits."""
        instance_id = str(plan.pre_image["instance_id"])
        state = aws.state_of(aws.describe_instance(ctx, instance_id))
        if state in ("running", "pending"):
            ctx.step("StartInstances", StepStatus.SKIPPED, f"{instance_id} is already {state}")
        elif state in ("stopped", "stopping"):
            if state == "stopping":  # StartInstances refuses an instance that is still stopping
                _wait_state(ctx, instance_id, ("stopped",))
            _change_state(ctx, "StartInstances", ctx.ec2.start_instances, instance_id)
        else:
            raise PermanentError(f"cannot restore {instance_id}: it is {state}")
        state = _wait_state(ctx, instance_id, ("running",))
        return {"instance_id": instance_id, "state": state}


@register
class TerminateInstance(Action[TerminateSpec]):
    kind = "terminate-instance"
    spec_type = TerminateSpec
    permissions = Permissions(iam=("ec2:DescribeInstances", "ec2:DescribeInstanceAttribute",
                                   "ec2:TerminateInstances"))

    def validate(self, ctx: ExecContext, spec: TerminateSpec) -> list[Refusal]:
        instance = aws.describe_instance(ctx, spec.instance_id)
        if instance is None or aws.state_of(instance) in GONE_STATES:
            return []  # already gone: apply records it as done
        refusals = [r for r in [_node_refusal(instance)] if r]
        try:
            attr = aws.call(ctx, "DescribeInstanceAttribute", ctx.ec2.describe_instance_attribute,
                            InstanceId=spec.instance_id, Attribute="disableApiTermination")
        except ClientError as exc:
            if aws.is_not_found(exc):
                return []
            raise aws.permanent("DescribeInstanceAttribute", exc) from exc
        if attr.get("DisableApiTermination", {}).get("Value"):
            refusals.append(Refusal("protected", f"{spec.instance_id} has termination protection on; "
                                                 "someone chose to keep it"))
        return refusals

    def plan(self, ctx: ExecContext, spec: TerminateSpec) -> Plan:
        instance = aws.describe_instance(ctx, spec.instance_id)
        if instance is None or aws.state_of(instance) in GONE_STATES:
            return Plan(summary=f"{spec.instance_id} is already terminated; nothing to do")
        maps = [m for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m]
        deleted = [m["Ebs"]["VolumeId"] for m in maps if m["Ebs"].get("DeleteOnTermination")]
        kept = [m["Ebs"]["VolumeId"] for m in maps if not m["Ebs"].get("DeleteOnTermination")]
        return Plan(
            summary=f"terminate {describe(instance)}",
            steps=[f"TerminateInstances {spec.instance_id}", "wait until it is terminated",
                   f"volumes deleted with it: {', '.join(deleted) or 'none'}",
                   f"volumes kept (unattached, still billed): {', '.join(kept) or 'none'}",
                   "not reversible"],
            pre_image={"instance_id": spec.instance_id, "state": aws.state_of(instance),
                       "instance_type": instance.get("InstanceType"), "tags": aws.tag_map(instance.get("Tags"))},
        )

    def apply(self, ctx: ExecContext, spec: TerminateSpec, plan: Plan) -> dict[str, Any]:
        if aws.state_of(aws.describe_instance(ctx, spec.instance_id)) in (*GONE_STATES, "gone"):
            ctx.step("TerminateInstances", StepStatus.SKIPPED, f"{spec.instance_id} is already terminated")
            return {"instance_id": spec.instance_id, "state": "terminated"}
        if _change_state(ctx, "TerminateInstances", ctx.ec2.terminate_instances, spec.instance_id) is None:
            ctx.step("TerminateInstances", StepStatus.SKIPPED, f"{spec.instance_id} vanished before the call")
            return {"instance_id": spec.instance_id, "state": "terminated"}
        state = _wait_state(ctx, spec.instance_id, ("terminated",))
        ctx.step("wait terminated", StepStatus.SUCCEEDED, f"{spec.instance_id} is {state}")
        return {"instance_id": spec.instance_id, "state": "terminated"}

    def verify(self, ctx: ExecContext, spec: TerminateSpec, plan: Plan) -> list[str]:
        state = aws.state_of(aws.describe_instance(ctx, spec.instance_id))
        return [] if state in ("terminated", "gone", "shutting-down") else [f"{spec.instance_id} is {state}"]
