"""Replace a node by one of another instance type, or by a Spot instance: launch, join, drain, remove.

Registered in `executor.registry` (imported by `executor.actions_all`) and run by the worker's
execution service. The new instance copies the old one's launch settings (`executor.node_launch`)
so it joins the same cluster; once it is a Ready node the old node is drained with
`executor.drain.drain_node`, its instance terminated, then its Node deleted (in that order: a
kubelet that still runs re-registers a deleted Node). A failure before the old instance is
terminated undoes the launch (new instance terminated, old node schedulable again) and the
error says so; after that point nothing is undone (the pods already live on the new node).
Not reversible through a spec: the reverse replacement is another recommendation.
"""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException

from engines.actions import MoveToSpot as MoveToSpotSpec
from engines.actions import ReplaceNodeType as ReplaceSpec
from executor import aws_calls as aws
from executor import k8s_util as k
from executor import node_launch as nl
from executor.aws_actions import describe
from executor.base import Action, ExecContext, ExecutorError, PermanentError, Plan, Refusal, StepStatus, TemporaryError
from executor.drain import drain_node, uncordon_node
from executor.node_actions import read_node
from executor.registry import register

NODE_JOIN_TIMEOUT_S = 600.0  # an EKS node is usually Ready 60-120 s after RunInstances


def _ready(node: k.Obj) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _check(ctx: ExecContext, node_name: str, instance_id: str | None, from_type: str,
           *, to_spot: bool) -> list[Refusal]:
    node = read_node(ctx, node_name)
    if node is None:
        return [Refusal("stale", f"node {node_name} no longer exists")]
    live_id = k.instance_id_of(node)
    if live_id is None:
        return [Refusal("unsupported", f"node {node_name} has no EC2 providerID ({k.spec(node).get('providerID')})")]
    if instance_id and live_id != instance_id:
        return [Refusal("stale", f"node {node_name} is instance {live_id} now; the recommendation saw {instance_id}")]
    instance = aws.describe_instance(ctx, live_id)
    if instance is None or aws.state_of(instance) != "running":
        return [Refusal("stale", f"instance {live_id} of node {node_name} is {aws.state_of(instance)}")]
    refusals = []
    if instance.get("InstanceType") != from_type:
        refusals.append(Refusal("stale", f"{live_id} is {instance.get('InstanceType')} now; "
                                         f"the recommendation saw {from_type}"))
    if to_spot and instance.get("InstanceLifecycle") == "spot":
        refusals.append(Refusal("stale", f"{live_id} is already a Spot instance"))
    group = aws.tag_map(instance.get("Tags")).get("aws:autoscaling:groupName")
    if group:
        refusals.append(Refusal("unsupported", f"{live_id} belongs to Auto Scaling group {group}, which would "
                                               "launch a replacement of the old type: change the group instead"))
    return refusals


def _plan(ctx: ExecContext, node_name: str, types: tuple[str, ...], *, spot: bool) -> Plan:
    node = read_node(ctx, node_name) or {}
    instance_id = k.instance_id_of(node) or "?"
    instance = aws.describe_instance(ctx, instance_id) or {"InstanceId": instance_id}
    launch = nl.describe_launch(instance)
    market = "Spot" if spot else "on-demand"
    article = "a Spot" if spot else "an on-demand"
    choice = types[0] if len(types) == 1 else f"the first available of {', '.join(types)}"
    pods = nl.pods_to_move(ctx, node_name)
    join_s = aws.timeout(ctx, "node_join_timeout_s", NODE_JOIN_TIMEOUT_S)
    return Plan(
        summary=f"replace node {node_name} ({describe(instance)}) with {article} {choice} instance",
        steps=[f"RunInstances {market} {choice} with {launch}"
               + (" (InsufficientInstanceCapacity, Unsupported or SpotMaxPriceTooLow moves on to the next type)"
                  if len(types) > 1 else ""),
               f"wait until the new instance is a Ready node (deadline {join_s:.0f} s)",
               f"drain {node_name}: cordon, evict {k.plural(len(pods), 'pod')} through the Eviction API "
               f"(PodDisruptionBudgets respected, deadline {ctx.drain_timeout_s:.0f} s)",
               f"TerminateInstances {instance_id}, then delete Node {node_name}",
               "on a failure before that: terminate the new instance and uncordon the old node"],
        pre_image={"node": node_name, "instance_id": instance_id, "instance_type": instance.get("InstanceType"),
                   "capacity_type": "spot" if instance.get("InstanceLifecycle") == "spot" else "on-demand",
                   "unschedulable": bool(k.spec(node).get("unschedulable")), "pods": pods},
        disrupts_nodes=1,
    )


def _wait_joined(ctx: ExecContext, instance_id: str) -> str:
    def joined() -> str | None:
        for node in k.call_json(ctx.core.list_node).get("items") or []:
            if k.instance_id_of(node) == instance_id and _ready(node):
                return str(k.meta(node)["name"])
        state = aws.state_of(aws.describe_instance(ctx, instance_id))
        if state not in ("pending", "running"):
            raise TemporaryError(f"new instance {instance_id} is {state} before joining the cluster")
        return None

    timeout_s = aws.timeout(ctx, "node_join_timeout_s", NODE_JOIN_TIMEOUT_S)
    name = aws.wait_for(ctx, f"instance {instance_id} joining {ctx.cluster} as a Ready node", joined, timeout_s)
    ctx.step("wait node Ready", StepStatus.SUCCEEDED, f"{instance_id} joined as node {name}")
    return name


def _undo(ctx: ExecContext, new_id: str, old_node: str, was_cordoned: bool) -> str:
    """Put things back after a failure; says what was undone and what could not be."""
    done, problems = [], []
    try:
        nl.terminate(ctx, new_id, why="undo: the replacement did not complete")
        done.append(f"new instance {new_id} terminated")
    except ExecutorError as exc:
        problems.append(f"the new instance {new_id} could not be terminated: {exc}")
    try:  # drain_node uncordons on its own failures; a failure before the drain left it alone
        node = read_node(ctx, old_node)
        if node is not None and k.spec(node).get("unschedulable") and not was_cordoned:
            uncordon_node(ctx, old_node)
        done.append(f"node {old_node} {'left cordoned as it was' if was_cordoned else 'schedulable'}")
    except ExecutorError as exc:
        problems.append(f"node {old_node} could not be uncordoned: {exc}")
    return "; undone: " + ", ".join(done or ["nothing"]) + "".join(f"; but {p}" for p in problems)


def _replace(ctx: ExecContext, node_name: str, types: tuple[str, ...], plan: Plan, *, spot: bool) -> dict[str, Any]:
    old_id, was_cordoned = str(plan.pre_image["instance_id"]), bool(plan.pre_image.get("unschedulable"))
    old = aws.describe_instance(ctx, old_id)
    if old is None or aws.state_of(old) != "running":
        raise PermanentError(f"instance {old_id} of node {node_name} is {aws.state_of(old)}; nothing was changed")
    new_id, new_type = nl.launch(ctx, old, types, spot=spot)
    try:
        new_node = _wait_joined(ctx, new_id)
        drained = drain_node(ctx, node_name)
    except Exception as exc:
        message = f"{exc}{_undo(ctx, new_id, node_name, was_cordoned)}"
        if not isinstance(exc, ExecutorError):  # an API or network error: worth another try later
            raise TemporaryError(message) from exc
        exc.args = (message,)
        raise
    # The point of no return: the pods run on the new node now.
    try:
        nl.terminate(ctx, old_id, why=f"node {node_name} is drained")
    except ExecutorError as exc:
        exc.args = (f"{exc}; the pods already moved to {new_node}: a retry adopts it and terminates {old_id}",)
        raise
    try:
        k.call_json(ctx.core.delete_node, node_name)
        ctx.step("delete node", StepStatus.SUCCEEDED, f"Node {node_name} deleted")
    except ApiException as exc:
        if k.status_of(exc) != 404:
            raise k.api_error(f"delete node {node_name}", exc) from exc
        ctx.step("delete node", StepStatus.SKIPPED, f"Node {node_name} was already removed with its instance")
    return {"old_node": node_name, "old_instance_id": old_id, "new_node": new_node, "new_instance_id": new_id,
            "new_instance_type": new_type, "capacity_type": "spot" if spot else "on-demand",
            "evicted": len(drained.evicted), "elapsed_s": round(drained.elapsed_s, 1)}


def _verify(ctx: ExecContext, plan: Plan) -> list[str]:
    old_id, old_node = str(plan.pre_image["instance_id"]), str(plan.pre_image["node"])
    problems = []
    new_ids = nl.replacements_of(ctx, old_id)
    if not new_ids:
        problems.append(f"no running replacement of {old_id}")
    nodes = k.call_json(ctx.core.list_node).get("items") or []
    ready = {k.instance_id_of(n) for n in nodes if _ready(n)}
    problems += [f"replacement {i} is not a Ready node" for i in new_ids if i not in ready]
    if any(k.meta(n).get("name") == old_node for n in nodes):
        problems.append(f"node {old_node} still exists")
    if aws.state_of(aws.describe_instance(ctx, old_id)) not in ("shutting-down", "terminated", "gone"):
        problems.append(f"instance {old_id} is not terminated")
    return problems


@register
class ReplaceNodeType(Action[ReplaceSpec]):
    kind = "replace-node-type"
    spec_type = ReplaceSpec
    permissions = nl.PERMISSIONS

    def validate(self, ctx: ExecContext, spec: ReplaceSpec) -> list[Refusal]:
        refusals = _check(ctx, spec.node, spec.instance_id, spec.from_type, to_spot=False)
        if spec.to_type == spec.from_type and spec.capacity_type == "on-demand":
            refusals.append(Refusal("invalid", f"{spec.node} is already {spec.to_type} on-demand"))
        return refusals

    def plan(self, ctx: ExecContext, spec: ReplaceSpec) -> Plan:
        return _plan(ctx, spec.node, (spec.to_type,), spot=spec.capacity_type == "spot")

    def apply(self, ctx: ExecContext, spec: ReplaceSpec, plan: Plan) -> dict[str, Any]:
        return _replace(ctx, spec.node, (spec.to_type,), plan, spot=spec.capacity_type == "spot")

    def verify(self, ctx: ExecContext, spec: ReplaceSpec, plan: Plan) -> list[str]:
        return _verify(ctx, plan)


@register
class MoveToSpot(Action[MoveToSpotSpec]):
    kind = "move-to-spot"
    spec_type = MoveToSpotSpec
    permissions = nl.PERMISSIONS

    def validate(self, ctx: ExecContext, spec: MoveToSpotSpec) -> list[Refusal]:
        refusals = _check(ctx, spec.node, spec.instance_id, spec.from_type, to_spot=True)
        if not spec.to_types:
            refusals.append(Refusal("invalid", "no candidate Spot instance types"))
        return refusals

    def plan(self, ctx: ExecContext, spec: MoveToSpotSpec) -> Plan:
        return _plan(ctx, spec.node, spec.to_types, spot=True)

    def apply(self, ctx: ExecContext, spec: MoveToSpotSpec, plan: Plan) -> dict[str, Any]:
        return _replace(ctx, spec.node, spec.to_types, plan, spot=True)

    def verify(self, ctx: ExecContext, spec: MoveToSpotSpec, plan: Plan) -> list[str]:
        return _verify(ctx, plan)
