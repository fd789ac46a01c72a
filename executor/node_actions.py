"""The drain-and-remove-node action: drain a node, terminate its instance, delete its Node object.

Agentless means nothing else will remove the instance: after `executor.drain.drain_node`, apply
terminates the EC2 instance (known from the spec or the node's providerID; NotFound = done),
then deletes the Node (404 = done). That order, as in Karpenter and executor.node_replace: a
kubelet that still runs re-registers a deleted Node. Validate refuses a stale recommendation:
the node is gone, it is now another instance, or it runs workload pods the plan did not move
(pods of the plan that left meanwhile are fine: fewer to evict). Not reversible; the pre-image
keeps the cordon state, labels, pods and their controllers for the audit and for verify.
ReplaceNodeType and MoveToSpot live in executor.node_replace and reuse the drain.
"""

from __future__ import annotations

from typing import Any, ClassVar

from botocore.exceptions import ClientError
from kubernetes.client.exceptions import ApiException

from engines.actions import DrainAndRemoveNode
from executor import aws_calls, drain
from executor import k8s_util as k
from executor.base import Action, ExecContext, K8sRule, Permissions, Plan, Refusal, StepStatus
from executor.drain_plan import drain_feasibility, pods_on
from executor.registry import register

VERIFY_WAIT_S = 60.0  # how long verify waits for evicted pods' replacements (knob: ctx.verify_wait_s)
GONE_STATES = ("shutting-down", "terminated", "gone")
DRAIN_RULES = (
    K8sRule("", ("nodes",), ("get", "list", "patch")),
    K8sRule("", ("pods",), ("get", "list")),
    K8sRule("", ("pods/eviction",), ("create",)),
    K8sRule("policy", ("poddisruptionbudgets",), ("list",)),
)


def read_node(ctx: ExecContext, name: str) -> k.Obj | None:
    try:
        return k.call_json(ctx.core.read_node, name)
    except ApiException as exc:
        if k.status_of(exc) == 404:
            return None
        raise k.api_error(f"read node {name}", exc) from exc


@register
class DrainAndRemoveNodeAction(Action[DrainAndRemoveNode]):
    kind = "drain-and-remove-node"
    spec_type = DrainAndRemoveNode
    permissions: ClassVar[Permissions] = Permissions(
        iam=("ec2:TerminateInstances", "ec2:DescribeInstances"),
        k8s=(*DRAIN_RULES, K8sRule("", ("nodes",), ("delete",)),
             K8sRule("apps", ("replicasets", "statefulsets"), ("get",))),
    )

    def validate(self, ctx: ExecContext, spec: DrainAndRemoveNode) -> list[Refusal]:
        node = read_node(ctx, spec.node)
        if node is None:
            return [Refusal("stale", f"stale: node {spec.node} is gone")]
        refusals = []
        live_id = k.instance_id_of(node)
        if (spec.instance_id or live_id) and ctx.ec2 is None:  # found now, not after the drain
            refusals.append(Refusal("config", f"no AWS client for {ctx.region}: cannot terminate "
                                              f"{spec.instance_id or live_id}"))
        if spec.instance_id and live_id and live_id != spec.instance_id:
            refusals.append(Refusal("stale", f"stale: node {spec.node} is now instance {live_id}, "
                                             f"the plan names {spec.instance_id}"))
        # Superset check: every pod a drain would evict must be one the plan placed elsewhere.
        planned = {f"{m.namespace}/{m.pod}" for m in spec.moves}
        extra = sorted(k.key_of(p) for p in pods_on(ctx, spec.node) if not k.skip_reason(p)
                       and k.key_of(p) not in planned)
        if extra:
            refusals.append(Refusal("stale", f"stale: node {spec.node} now runs pods not in the plan: "
                                             f"{', '.join(extra)}"))
        return refusals

    def plan(self, ctx: ExecContext, spec: DrainAndRemoveNode) -> Plan:
        node = read_node(ctx, spec.node) or {}
        instance_id = spec.instance_id or k.instance_id_of(node)
        pods = pods_on(ctx, spec.node)
        check = drain_feasibility(ctx, spec.node, pods=pods)
        owners = {(k.meta(p).get("namespace"), o.get("kind"), o.get("name"), o.get("uid")): None
                  for p in pods if not k.skip_reason(p) and (o := k.controller_of(p))}
        listed = ", ".join(check.evictable) or "none"
        guards = f" respecting PDBs {', '.join(check.pdbs)}" if check.pdbs else ""
        steps = [f"cordon node {spec.node}",
                 f"evict {k.plural(len(check.evictable), 'pod')} ({listed}){guards}",
                 f"terminate {instance_id}" if instance_id else "no EC2 instance known: nothing to terminate",
                 f"delete Node {spec.node}"]
        if check.skipped:
            steps.insert(2, f"leave {k.plural(len(check.skipped), 'pod')} ({', '.join(p for p, _ in check.skipped)}): "
                            "DaemonSet, mirror or finished pods")
        steps += [f"note: {text}" for text in (*check.blockers, *check.notes)]
        group = self._auto_scaling_group(ctx, instance_id)
        if group:
            steps.append(f"warning: {instance_id} belongs to Auto Scaling group {group}, which launches a "
                         "replacement unless its desired capacity is lowered")
        labels = k.meta(node).get("labels") or {}
        pre_image = {"node": spec.node, "instance_id": instance_id, "labels": dict(labels),
                     "unschedulable": bool(k.spec(node).get("unschedulable")),
                     "pods": list(check.evictable), "skipped": [p for p, _ in check.skipped],
                     "controllers": [dict(zip(("namespace", "kind", "name", "uid"), o, strict=True)) for o in owners]}
        summary = "; ".join(s for s in steps if not s.startswith(("note:", "warning:", "leave ")))
        return Plan(summary=summary, steps=steps, pre_image=pre_image, reversible=False, disrupts_nodes=1)

    def apply(self, ctx: ExecContext, spec: DrainAndRemoveNode, plan: Plan) -> dict[str, Any]:
        result = drain.drain_node(ctx, spec.node)
        instance_id = spec.instance_id or plan.pre_image.get("instance_id")
        state = self._terminate(ctx, instance_id) if instance_id else "unknown"
        try:
            ctx.core.delete_node(spec.node, _preload_content=False)
            ctx.step("delete node", StepStatus.SUCCEEDED, f"Node {spec.node} deleted")
        except ApiException as exc:
            if k.status_of(exc) != 404:
                ctx.step("delete node", StepStatus.FAILED, k.message_of(exc), code=k.status_of(exc))
                raise k.api_error(f"delete node {spec.node}", exc) from exc
            ctx.step("delete node", StepStatus.SUCCEEDED, f"Node {spec.node} was already gone (404)")
        return {"node": spec.node, "instance_id": instance_id, "instance_state": state,
                "evicted": [f"{p.namespace}/{p.name}" for p in result.evicted],
                "skipped": [f"{p.namespace}/{p.name}" for p in result.skipped],
                "drain_s": round(result.elapsed_s, 3),
                "controllers": [p.controller for p in result.evicted if p.controller]}

    def verify(self, ctx: ExecContext, spec: DrainAndRemoveNode, plan: Plan) -> list[str]:
        problems = []
        if read_node(ctx, spec.node) is not None:
            problems.append(f"node {spec.node} still exists")
        instance_id = spec.instance_id or plan.pre_image.get("instance_id")
        if instance_id:
            state = aws_calls.state_of(aws_calls.describe_instance(ctx, instance_id))
            if state not in GONE_STATES:
                problems.append(f"instance {instance_id} is {state}, not shutting-down or terminated")
        return problems + self._replacements(ctx, spec.node, plan.pre_image.get("controllers") or [])

    # --- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _terminate(ctx: ExecContext, instance_id: str) -> str:
        try:
            resp = aws_calls.call(ctx, "TerminateInstances", ctx.ec2.terminate_instances, InstanceIds=[instance_id])
        except ClientError as exc:
            if not aws_calls.is_not_found(exc):
                ctx.step(f"terminate {instance_id}", StepStatus.FAILED, aws_calls.error_message(exc))
                error = aws_calls.permanent("TerminateInstances", exc)
                error.args = (f"{error}; the node is drained and stays cordoned",)
                raise error from exc
            ctx.step(f"terminate {instance_id}", StepStatus.SUCCEEDED, "instance already gone (NotFound)")
            return "gone"
        changes = resp.get("TerminatingInstances") or [{}]
        state = str(changes[0].get("CurrentState", {}).get("Name", "unknown"))
        ctx.step(f"terminate {instance_id}", StepStatus.SUCCEEDED, f"instance is {state}",
                 **aws_calls.summary(resp))
        return state

    @staticmethod
    def _auto_scaling_group(ctx: ExecContext, instance_id: str | None) -> str | None:
        if not instance_id or ctx.ec2 is None:
            return None
        instance = aws_calls.describe_instance(ctx, instance_id)
        return aws_calls.tag_map((instance or {}).get("Tags")).get("aws:autoscaling:groupName")

    @staticmethod
    def _replacements(ctx: ExecContext, node: str, controllers: list[dict[str, str]]) -> list[str]:
        """Controllers of evicted pods that do not yet run all their replicas elsewhere.

        Only ReplicaSets and StatefulSets are checked (the API shows their desired count); bare
        pods and other owners have nothing to compare with. Waits up to VERIFY_WAIT_S.
        """
        deadline = ctx.monotonic() + aws_calls.timeout(ctx, "verify_wait_s", VERIFY_WAIT_S)
        while True:
            pods: dict[str, list[k.Obj]] = {}
            for ns in sorted({c["namespace"] for c in controllers}):
                try:
                    pods[ns] = k.call_json(ctx.core.list_namespaced_pod, ns).get("items") or []
                except ApiException as exc:
                    raise k.api_error(f"list pods in {ns}", exc) from exc
            problems = [p for c in controllers if (p := _short(ctx, c, pods[c["namespace"]], node))]
            if not problems or ctx.monotonic() >= deadline or ctx.should_stop():
                return problems
            ctx.sleep(ctx.poll_interval_s)


def _short(ctx: ExecContext, owner: dict[str, str], pods: list[k.Obj], node: str) -> str | None:
    ns, kind, name, uid = owner["namespace"], owner["kind"], owner["name"], owner["uid"]
    method = {"ReplicaSet": "read_namespaced_replica_set", "StatefulSet": "read_namespaced_stateful_set"}.get(kind)
    if method is None:
        return None
    try:
        obj = k.call_json(getattr(ctx.apps, method), name, ns)
    except ApiException as exc:
        if k.status_of(exc) == 404:
            return None  # deleted meanwhile: nothing to replace
        raise k.api_error(f"read {kind} {ns}/{name}", exc) from exc
    if k.meta(obj).get("uid") != uid:
        return None  # a new object of the same name: not the controller of the evicted pods
    desired = int(k.spec(obj).get("replicas", 1))
    running = sum(1 for p in pods if (o := k.controller_of(p)) and o.get("uid") == uid and not k.is_terminating(p)
                  and k.spec(p).get("nodeName") not in (None, node) and (p.get("status") or {}).get("phase") == "Running")
    return None if running >= desired else f"{kind} {ns}/{name} runs {running} of {desired} replicas off node {node}"
