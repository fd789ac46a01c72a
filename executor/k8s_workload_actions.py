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
- ScheduleScale changes nothing now: it stores the schedule as `cloudoptim.io/schedule-*`
  annotations on the workload (agentless: no CronJob, no operator; the format is engines.schedules).
  The worker's enforcer (app.services.schedules) scales at each transition; rollback removes the
  annotations, the enforcer's included, and gives back the replicas the enforcer took away.
SetTrafficDistribution lives in executor.k8s_service_actions; importing it here registers it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kubernetes.client.exceptions import ApiException

from engines import schedules
from engines.actions import ScaleReplicas, ScheduleScale, SetRequestsLimits
from executor import k8s_service_actions  # noqa: F401  # registers SetTrafficDistribution
from executor import k8s_util as k
from executor.base import Action, ExecContext, K8sRule, PermanentError, Permissions, Plan, Refusal, StepStatus
from executor.k8s_resources import desired_resources, diff_lines, patch_resources, resource_problems, spec_values
from executor.registry import register

WORKLOADS = ("deployments", "statefulsets")
SCALES = ("deployments/scale", "statefulsets/scale")


@register
class SetRequestsLimitsAction(Action[SetRequestsLimits]):
    kind = "set-requests-limits"
    spec_type = SetRequestsLimits
    permissions: ClassVar[Permissions] = Permissions(k8s=(K8sRule("apps", WORKLOADS, ("get", "patch")),))

    def validate(self, ctx: ExecContext, spec: SetRequestsLimits) -> list[Refusal]:
        kind, obj, refusals = k.workload_target(ctx, spec.workload_kind, spec.namespace, spec.workload_name)
        if obj is None:
            return refusals
        names = [c.get("name") for c in k.containers_of(obj)]
        if spec.container not in names:
            return [Refusal("stale", f"stale: {kind} {spec.namespace}/{spec.workload_name} has no container "
                                     f"{spec.container} (containers: {', '.join(map(str, names))})")]
        return [Refusal("invalid", text) for text in resource_problems(spec_values(spec))]

    def plan(self, ctx: ExecContext, spec: SetRequestsLimits) -> Plan:
        kind, obj, _ = k.workload_target(ctx, spec.workload_kind, spec.namespace, spec.workload_name)
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
        kind, obj, refusals = k.workload_target(ctx, spec.workload_kind, spec.namespace, spec.workload_name)
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
        _, obj, refusals = k.workload_target(ctx, plan.pre_image["kind"], plan.pre_image["namespace"], plan.pre_image["name"])
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


# --- scheduled scaling -----------------------------------------------------------------------
def schedule_annotations(spec: ScheduleScale, original: int) -> dict[str, str]:
    """The annotations the worker's enforcer reads (engines.schedules.decide)."""
    return {schedules.SCALE_DOWN: spec.scale_down_cron, schedules.SCALE_UP: spec.scale_up_cron,
            schedules.TIMEZONE: spec.timezone, schedules.REPLICAS_OFF: str(spec.replicas_off),
            schedules.ORIGINAL_REPLICAS: str(original)}


def _next_run(cron: str, timezone: str) -> str:
    when = schedules.next_fire(schedules.crontab_trigger(cron, timezone), datetime.now(UTC))
    return when.astimezone(ZoneInfo(timezone)).strftime("%a %Y-%m-%d %H:%M %Z") if when else "never"


def _annotate(ctx: ExecContext, img: k.Obj, annotations: dict[str, str | None]) -> None:
    kind, ns, name = img["kind"], img["namespace"], img["name"]
    try:  # a map patch: merge and strategic merge agree, and null removes a key
        k.workload_call(ctx, "patch", kind, name, ns, {"metadata": {"annotations": annotations}})
    except ApiException as exc:
        ctx.step(f"annotate {kind} {ns}/{name}", StepStatus.FAILED, k.message_of(exc), code=k.status_of(exc))
        raise k.api_error(f"annotate {kind} {ns}/{name}", exc) from exc
    ctx.step(f"annotate {kind} {ns}/{name}", StepStatus.SUCCEEDED,
             ", ".join(f"{key}={value}" if value is not None else f"-{key}" for key, value in annotations.items()))


@register
class ScheduleScaleAction(Action[ScheduleScale]):
    kind = "schedule-scale"
    spec_type = ScheduleScale
    permissions: ClassVar[Permissions] = Permissions(
        k8s=(K8sRule("apps", WORKLOADS, ("get", "patch")), K8sRule("apps", SCALES, ("get", "patch"))))

    def validate(self, ctx: ExecContext, spec: ScheduleScale) -> list[Refusal]:
        kind, obj, refusals = k.workload_target(ctx, spec.workload_kind, spec.namespace, spec.workload_name)
        if obj is None:
            return refusals
        try:
            ZoneInfo(spec.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return [Refusal("invalid", f"unknown timezone {spec.timezone!r}")]
        for label, cron in (("scale-down", spec.scale_down_cron), ("scale-up", spec.scale_up_cron)):
            try:
                schedules.crontab_trigger(cron, spec.timezone)
            except ValueError as exc:
                refusals.append(Refusal("invalid", f"{label} cron {cron!r} is not a crontab expression: {exc}"))
        live, done = k.replicas_of(obj), self._scheduled(obj, spec)
        if not done and spec.replicas_off >= live:
            refusals.append(Refusal("stale", f"stale: {kind} {spec.namespace}/{spec.workload_name} runs {live} "
                                             f"replicas; scaling to {spec.replicas_off} saves nothing"))
        return refusals

    @staticmethod
    def _scheduled(obj: k.Obj, spec: ScheduleScale) -> bool:
        """Already annotated with this schedule (a re-run after a crash)."""
        have = k.meta(obj).get("annotations") or {}
        want = schedule_annotations(spec, 0)
        return all(have.get(key) == value for key, value in want.items() if key != schedules.ORIGINAL_REPLICAS)

    def plan(self, ctx: ExecContext, spec: ScheduleScale) -> Plan:
        kind, obj, _ = k.workload_target(ctx, spec.workload_kind, spec.namespace, spec.workload_name)
        obj = obj or {}
        old = k.meta(obj).get("annotations") or {}
        original = k.replicas_of(obj)
        if self._scheduled(obj, spec):  # a re-run after a crash: the annotations are ours, keep their original
            original = int(old.get(schedules.ORIGINAL_REPLICAS, original))
            old = {}
        target = f"{kind} {spec.namespace}/{spec.workload_name}"
        steps = [f"annotate {target}: scale to {spec.replicas_off} at '{spec.scale_down_cron}' and back to "
                 f"{original} at '{spec.scale_up_cron}' ({spec.timezone})",
                 f"next scale-down {_next_run(spec.scale_down_cron, spec.timezone)}, next scale-up "
                 f"{_next_run(spec.scale_up_cron, spec.timezone)}",
                 "nothing changes now: the worker's scheduler applies the schedule"]
        keys = [*schedule_annotations(spec, original), *schedules.ENFORCER_KEYS]
        pre_image = {"kind": kind, "namespace": spec.namespace, "name": spec.workload_name, "replicas": original,
                     "annotations": {key: old.get(key) for key in keys}}
        return Plan(summary=steps[0], steps=steps, pre_image=pre_image, reversible=True)

    def apply(self, ctx: ExecContext, spec: ScheduleScale, plan: Plan) -> dict[str, Any]:
        annotations = schedule_annotations(spec, int(plan.pre_image["replicas"]))
        _annotate(ctx, plan.pre_image, dict(annotations))
        return {"annotations": annotations}

    def verify(self, ctx: ExecContext, spec: ScheduleScale, plan: Plan) -> list[str]:
        _, obj, refusals = k.workload_target(ctx, spec.workload_kind, spec.namespace, spec.workload_name)
        if obj is None:
            return [r.message for r in refusals]
        have = k.meta(obj).get("annotations") or {}
        want = schedule_annotations(spec, int(plan.pre_image["replicas"]))
        return [f"annotation {key} is {have.get(key)!r}, not {value!r}" for key, value in want.items()
                if have.get(key) != value]

    def rollback(self, ctx: ExecContext, plan: Plan) -> dict[str, Any]:
        """Restore the annotations as they were (absent ones removed, the enforcer's too) and the
        replicas: those the enforcer scaled down from, else the original ones unless the enforcer
        has already restored them (a change made by hand in office hours is then kept)."""
        img = plan.pre_image
        _, obj, refusals = k.workload_target(ctx, img["kind"], img["namespace"], img["name"])
        if obj is None:
            raise PermanentError(refusals[0].message)
        live = {str(key): str(value) for key, value in (k.meta(obj).get("annotations") or {}).items()}
        # Pre-images planned before the enforcer existed do not name its keys: remove them as well.
        stale = {key: None for key in schedules.ENFORCER_KEYS if key in live and key not in img["annotations"]}
        _annotate(ctx, img, {**img["annotations"], **stale})
        restore = schedules.restore_replicas(live)
        if restore is None and schedules.LAST_TRANSITION not in live:
            restore = int(img["replicas"])  # never enforced: the schedule may have been run by hand
        if restore is not None and k.replicas_of(obj) != restore:
            k.scale_workload(ctx, img["kind"], img["namespace"], img["name"], restore)
        return {"replicas": restore if restore is not None else k.replicas_of(obj), "annotations": img["annotations"]}
