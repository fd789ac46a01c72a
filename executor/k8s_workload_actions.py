"""Workload actions: container requests/limits, replicas and scheduled scaling of Deployments/StatefulSets.

Each action re-reads the live object in `validate` and refuses a stale recommendation with the
reason, keeps the exact old values as its pre-image, and offers two undos: `rollback_spec` (the
reverse spec, where the closed set of specs can say it) and `rollback` (the pre-image written
back byte for byte, also for undos no spec can say: removing annotations, unsetting a field).

Bodies work on a real API server and on the local emulator alike:
- requests/limits: a JSON patch that tests the container's name and old resources at its index,
  then replaces only that container's `resources` (a strategic-merge body would merge the maps
  and could not drop a limit; a merge patch would replace the whole containers list). A failed
  test means someone changed the container since the plan: refused as stale (422 on a real
  server, 500 JsonPatchTestFailed on kmock).
- SetRequestsLimits states the container's complete cpu/memory requests and limits, as KRR
  does: None means "no value" (a CPU limit of None removes it); other resources are untouched.
ScheduleScale lives in executor.k8s_schedule_actions and SetTrafficDistribution in
executor.k8s_service_actions; importing them here registers them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from engines.actions import ScaleReplicas, SetRequestsLimits
from executor import k8s_schedule_actions, k8s_service_actions  # noqa: F401  # register their actions
from executor import k8s_util as k
from executor.base import Action, ExecContext, K8sRule, PermanentError, Permissions, Plan, Refusal
from executor.k8s_resources import desired_resources, diff_lines, patch_resources, resource_problems, spec_values
from executor.registry import register

WORKLOADS = ("deployments", "statefulsets")
TEMPLATED = (*WORKLOADS, "daemonsets")  # pod-template changes: DaemonSets too
TEMPLATE_KINDS = (*k.SCALABLE_KINDS, "DaemonSet")
SCALES = ("deployments/scale", "statefulsets/scale")


@register
class SetRequestsLimitsAction(Action[SetRequestsLimits]):
    kind = "set-requests-limits"
    spec_type = SetRequestsLimits
    permissions: ClassVar[Permissions] = Permissions(k8s=(K8sRule("apps", TEMPLATED, ("get", "patch")),))

    def validate(self, ctx: ExecContext, spec: SetRequestsLimits) -> list[Refusal]:
        kind, obj, refusals = k.workload_target(ctx, spec.workload_kind, spec.namespace, spec.workload_name,
                                               TEMPLATE_KINDS)
        if obj is None:
            return refusals
        names = [c.get("name") for c in k.containers_of(obj)]
        if spec.container not in names:
            return [Refusal("stale", f"stale: {kind} {spec.namespace}/{spec.workload_name} has no container "
                                     f"{spec.container} (containers: {', '.join(map(str, names))})")]
        return [Refusal("invalid", text) for text in resource_problems(spec_values(spec))]

    def plan(self, ctx: ExecContext, spec: SetRequestsLimits) -> Plan:
        kind, obj, _ = k.workload_target(ctx, spec.workload_kind, spec.namespace, spec.workload_name,
                                               TEMPLATE_KINDS)
        old = k.container_of(obj or {}, spec.container).get("resources") or {}
        new = desired_resources(old, spec_values(spec))
        target = f"{kind} {spec.namespace}/{spec.workload_name}"
        changes = diff_lines(old, new)
        summary = (f"set resources of container {spec.container} in {target}: {', '.join(changes)}; "
                   f"the {kind} replaces its pods one by one" if changes else
                   f"container {spec.container} in {target} already has these resources: nothing to change")
        pre_image = {"kind": kind, "namespace": spec.namespace, "name": spec.workload_name,
                     "container": spec.container, "resources": old}
        return Plan(summary=summary, steps=changes, pre_image=pre_image, reversible=True)

    def apply(self, ctx: ExecContext, spec: SetRequestsLimits, plan: Plan) -> dict[str, Any]:
        new = desired_resources(plan.pre_image["resources"], spec_values(spec))
        return patch_resources(ctx, plan.pre_image, plan.pre_image["resources"], new)

    def verify(self, ctx: ExecContext, spec: SetRequestsLimits, plan: Plan) -> list[str]:
        kind, obj, refusals = k.workload_target(ctx, spec.workload_kind, spec.namespace, spec.workload_name,
                                               TEMPLATE_KINDS)
        if obj is None:
            return [r.message for r in refusals]
        live = k.container_of(obj, spec.container).get("resources") or {}
        want = desired_resources(plan.pre_image["resources"], spec_values(spec))
        return [f"{kind} {spec.namespace}/{spec.workload_name} container {spec.container}: {line}"
                for line in diff_lines(want, live)]

    def rollback_spec(self, plan: Plan) -> SetRequestsLimits:
        img = plan.pre_image
        return SetRequestsLimits(namespace=img["namespace"], workload_kind=img["kind"], workload_name=img["name"],
                                 container=img["container"], **spec_values(img["resources"]))

    def rollback(self, ctx: ExecContext, plan: Plan) -> dict[str, Any]:
        _, obj, refusals = k.workload_target(ctx, plan.pre_image["kind"], plan.pre_image["namespace"], plan.pre_image["name"],
                                             TEMPLATE_KINDS)
        if obj is None:
            raise PermanentError(refusals[0].message)
        live = k.container_of(obj, plan.pre_image["container"]).get("resources") or {}
        return patch_resources(ctx, plan.pre_image, live, plan.pre_image["resources"])


@register
class ScaleReplicasAction(Action[ScaleReplicas]):
    kind = "scale-replicas"
    spec_type = ScaleReplicas
    permissions: ClassVar[Permissions] = Permissions(
        k8s=(K8sRule("apps", WORKLOADS, ("get",)), K8sRule("apps", SCALES, ("get", "patch"))))

    def validate(self, ctx: ExecContext, spec: ScaleReplicas) -> list[Refusal]:
        kind, obj, refusals = k.workload_target(ctx, spec.workload_kind, spec.namespace, spec.workload_name)
        if obj is None:
            return refusals
        if spec.to_replicas < 0:
            return [Refusal("invalid", f"cannot scale to {spec.to_replicas} replicas")]
        live = k.replicas_of(obj)
        # Already at the target: a re-run after a crash, not a stale recommendation.
        if live not in (spec.from_replicas, spec.to_replicas):
            return [Refusal("stale", f"stale: {kind} {spec.namespace}/{spec.workload_name} runs {live} replicas, "
                                     f"the plan expected {spec.from_replicas}")]
        return []

    def plan(self, ctx: ExecContext, spec: ScaleReplicas) -> Plan:
        kind = k.canonical_kind(spec.workload_kind) or spec.workload_kind
        text = f"scale {kind} {spec.namespace}/{spec.workload_name} from {spec.from_replicas} to {spec.to_replicas} replicas"
        pre_image = {"kind": kind, "namespace": spec.namespace, "name": spec.workload_name,
                     "replicas": spec.from_replicas, "target": spec.to_replicas}
        return Plan(summary=text, steps=[text], pre_image=pre_image, reversible=True)

    def apply(self, ctx: ExecContext, spec: ScaleReplicas, plan: Plan) -> dict[str, Any]:
        img = plan.pre_image
        scale = k.scale_workload(ctx, img["kind"], img["namespace"], img["name"], spec.to_replicas)
        return {"replicas": (scale.get("spec") or {}).get("replicas"), "from": spec.from_replicas}

    def verify(self, ctx: ExecContext, spec: ScaleReplicas, plan: Plan) -> list[str]:
        kind, obj, refusals = k.workload_target(ctx, spec.workload_kind, spec.namespace, spec.workload_name)
        if obj is None:
            return [r.message for r in refusals]
        live = k.replicas_of(obj)
        return [] if live == spec.to_replicas else [
            f"{kind} {spec.namespace}/{spec.workload_name} has {live} replicas, not {spec.to_replicas}"]

    def rollback_spec(self, plan: Plan) -> ScaleReplicas:
        img = plan.pre_image
        return ScaleReplicas(namespace=img["namespace"], workload_kind=img["kind"], workload_name=img["name"],
                             from_replicas=int(img["target"]), to_replicas=int(img["replicas"]))

    def rollback(self, ctx: ExecContext, plan: Plan) -> dict[str, Any]:
        img = plan.pre_image
        scale = k.scale_workload(ctx, img["kind"], img["namespace"], img["name"], int(img["replicas"]))
        return {"replicas": (scale.get("spec") or {}).get("replicas")}
