"""The schedule-scale action: stores an office-hours schedule on a Deployment or StatefulSet.

It changes nothing now: it writes the schedule as `cloudoptim.io/schedule-*` annotations (the
crons, or the uptime with its holidays and exception dates; the format is engines.schedules) and
the worker's enforcer (app.services.schedules) scales at each transition. Agentless: no CronJob,
no operator. Rollback removes the annotations, the enforcer's included, gives back the replicas
the enforcer took away and the HPA minReplicas it lowered. Imported (and so registered) by
executor.k8s_workload_actions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from engines import schedule_syntax, schedules
from engines.actions import ScheduleScale
from engines.schedule_uptime import UptimeSchedule
from executor import k8s_util as k
from executor.base import Action, ExecContext, K8sRule, PermanentError, Permissions, Plan, Refusal, StepStatus
from executor.registry import register

WORKLOADS = ("deployments", "statefulsets")
SCALES = ("deployments/scale", "statefulsets/scale")


def schedule_annotations(spec: ScheduleScale, original: int) -> dict[str, str]:
    """The annotations the worker's enforcer reads (engines.schedules.decide): the crons or the
    uptime with its holidays and exception dates, whichever form the spec uses."""
    if spec.uptime:
        form = {schedules.UPTIME: spec.uptime}
        if spec.holidays:
            form[schedules.HOLIDAYS] = spec.holidays
        if spec.exception_dates:
            form[schedules.EXCEPTIONS] = ",".join(spec.exception_dates)
    else:
        form = {schedules.SCALE_DOWN: spec.scale_down_cron, schedules.SCALE_UP: spec.scale_up_cron}
    return {
        **form,
        schedules.TIMEZONE: spec.timezone,
        schedules.REPLICAS_OFF: str(spec.replicas_off),
        schedules.ORIGINAL_REPLICAS: str(original),
    }


def _schedule_problems(spec: ScheduleScale) -> list[str]:
    """What is wrong with the spec's schedule, each naming the bad day, time, zone, code or field."""
    try:
        zone = schedule_syntax.zone(spec.timezone)
    except ValueError:
        return [f"unknown timezone {spec.timezone!r}"]
    if spec.uptime:
        try:
            UptimeSchedule.parse(spec.uptime, zone, spec.holidays, ",".join(spec.exception_dates))
        except ValueError as exc:
            return [str(exc)]
        return []
    problems = []
    for label, cron in (("scale-down", spec.scale_down_cron), ("scale-up", spec.scale_up_cron)):
        try:
            schedules.crontab_trigger(cron, zone)
        except ValueError as exc:
            problems.append(f"{label} cron {cron!r} is not a crontab expression: {exc}")
    return problems


def _schedule_steps(spec: ScheduleScale, target: str, original: int) -> list[str]:
    schedule = schedules.parse_schedule(schedule_annotations(spec, original))
    if isinstance(schedule, str):  # validate refused it already; a plan still says why
        return [f"annotate {target} with a schedule that cannot be used: {schedule}"]
    if spec.uptime:
        extra = "".join(
            [
                f", off on public holidays of {spec.holidays}" if spec.holidays else "",
                f", off on {', '.join(spec.exception_dates)}" if spec.exception_dates else "",
            ]
        )
        what = (
            f"annotate {target}: up '{spec.uptime}' ({spec.timezone}){extra}; {spec.replicas_off} "
            f"replicas outside it, back to {original} inside"
        )
    else:
        what = (
            f"annotate {target}: scale to {spec.replicas_off} at '{spec.scale_down_cron}' and back to "
            f"{original} at '{spec.scale_up_cron}' ({spec.timezone})"
        )
    now = datetime.now(UTC)
    state = schedule.off_since(now)
    off = state[0] if state else False
    coming = schedule.next_change(off, now)
    return [
        what,
        f"next scale-{'up' if off else 'down'} {schedule.local(coming)}",
        "nothing changes now: the worker's scheduler applies the schedule",
    ]


def _annotate(ctx: ExecContext, img: k.Obj, annotations: dict[str, str | None]) -> None:
    kind, ns, name = img["kind"], img["namespace"], img["name"]
    try:  # a map patch: merge and strategic merge agree, and null removes a key
        k.workload_call(ctx, "patch", kind, name, ns, {"metadata": {"annotations": annotations}})
    except ApiException as exc:
        ctx.step(f"annotate {kind} {ns}/{name}", StepStatus.FAILED, k.message_of(exc), code=k.status_of(exc))
        raise k.api_error(f"annotate {kind} {ns}/{name}", exc) from exc
    ctx.step(
        f"annotate {kind} {ns}/{name}",
        StepStatus.SUCCEEDED,
        ", ".join(f"{key}={value}" if value is not None else f"-{key}" for key, value in annotations.items()),
    )


def _restore_hpa_min(ctx: ExecContext, img: k.Obj, text: str) -> None:
    """Give the HPA targeting the workload back the minReplicas the enforcer lowered off-hours."""
    if not text.isdigit():
        return
    hpas = client.AutoscalingV2Api(ctx.apps.api_client)
    listed = k.call_json(hpas.list_namespaced_horizontal_pod_autoscaler, img["namespace"])
    for hpa in listed.get("items") or []:
        ref = k.spec(hpa).get("scaleTargetRef") or {}
        if (ref.get("kind"), ref.get("name")) == (img["kind"], img["name"]):
            name = k.meta(hpa).get("name")
            try:
                hpas.patch_namespaced_horizontal_pod_autoscaler(
                    str(name), img["namespace"], {"spec": {"minReplicas": int(text)}}
                )
            except ApiException as exc:
                raise k.api_error(f"restore minReplicas of HPA {img['namespace']}/{name}", exc) from exc
            ctx.step(f"restore HPA {img['namespace']}/{name}", StepStatus.SUCCEEDED, f"spec.minReplicas = {text}")


@register
class ScheduleScaleAction(Action[ScheduleScale]):
    kind = "schedule-scale"
    spec_type = ScheduleScale
    permissions: ClassVar[Permissions] = Permissions(
        k8s=(
            K8sRule("apps", WORKLOADS, ("get", "patch")),
            K8sRule("apps", SCALES, ("get", "patch")),
            K8sRule("autoscaling", ("horizontalpodautoscalers",), ("list", "patch")),
        )
    )  # rollback restores minReplicas

    def validate(self, ctx: ExecContext, spec: ScheduleScale) -> list[Refusal]:
        kind, obj, refusals = k.workload_target(ctx, spec.workload_kind, spec.namespace, spec.workload_name)
        if obj is None:
            return refusals
        problems = _schedule_problems(spec)
        if problems:
            return [Refusal("invalid", text) for text in problems]
        live, done = k.replicas_of(obj), self._scheduled(obj, spec)
        if not done and spec.replicas_off >= live:
            refusals.append(
                Refusal(
                    "stale",
                    f"stale: {kind} {spec.namespace}/{spec.workload_name} runs {live} "
                    f"replicas; scaling to {spec.replicas_off} saves nothing",
                )
            )
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
        steps = _schedule_steps(spec, target, original)
        keys = [*schedules.SCHEDULE_KEYS, schedules.ORIGINAL_REPLICAS, *schedules.ENFORCER_KEYS]
        pre_image = {
            "kind": kind,
            "namespace": spec.namespace,
            "name": spec.workload_name,
            "replicas": original,
            "annotations": {key: old.get(key) for key in keys},
        }
        return Plan(summary=steps[0], steps=steps, pre_image=pre_image, reversible=True)

    def apply(self, ctx: ExecContext, spec: ScheduleScale, plan: Plan) -> dict[str, Any]:
        annotations = schedule_annotations(spec, int(plan.pre_image["replicas"]))
        # The other schedule form goes: crons left beside a new uptime would make the schedule invalid.
        _annotate(ctx, plan.pre_image, {**{key: None for key in schedules.SCHEDULE_KEYS}, **annotations})
        return {"annotations": annotations}

    def verify(self, ctx: ExecContext, spec: ScheduleScale, plan: Plan) -> list[str]:
        _, obj, refusals = k.workload_target(ctx, spec.workload_kind, spec.namespace, spec.workload_name)
        if obj is None:
            return [r.message for r in refusals]
        have = k.meta(obj).get("annotations") or {}
        want = schedule_annotations(spec, int(plan.pre_image["replicas"]))
        return [
            f"annotation {key} is {have.get(key)!r}, not {value!r}"
            for key, value in want.items()
            if have.get(key) != value
        ]

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
        _restore_hpa_min(ctx, img, live.get(schedules.RESTORE_MIN_REPLICAS, ""))
        restore = schedules.restore_replicas(live)
        if restore is None and schedules.LAST_TRANSITION not in live:
            restore = int(img["replicas"])  # never enforced: the schedule may have been run by hand
        if restore is not None and k.replicas_of(obj) != restore:
            k.scale_workload(ctx, img["kind"], img["namespace"], img["name"], restore)
        return {"replicas": restore if restore is not None else k.replicas_of(obj), "annotations": img["annotations"]}
