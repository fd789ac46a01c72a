"""The set-traffic-distribution action: Service spec.trafficDistribution (PreferClose and kin).

Topology-aware routing cuts inter-AZ transfer: kube-proxy prefers endpoints in the client's
zone. Validate refuses a gone Service, an unknown value and ExternalName Services; the pre-image
is the old value (absent = None) and `rollback` writes it back exactly, removing the field when
it was absent (the reverse spec can only say a value). Registered through
executor.k8s_workload_actions, which imports this module.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kubernetes.client.exceptions import ApiException

from engines.actions import SetTrafficDistribution
from executor import k8s_util as k
from executor.base import Action, ExecContext, K8sRule, Permissions, Plan, Refusal, StepStatus
from executor.registry import register

TRAFFIC_VALUES = ("PreferClose", "PreferSameZone", "PreferSameNode")


def _service(ctx: ExecContext, ns: str, name: str) -> k.Obj | None:
    try:
        return k.call_json(ctx.core.read_namespaced_service, name, ns)
    except ApiException as exc:
        if k.status_of(exc) == 404:
            return None
        raise k.api_error(f"read Service {ns}/{name}", exc) from exc


def _set_distribution(ctx: ExecContext, ns: str, name: str, value: str | None) -> None:
    what = f"set trafficDistribution of Service {ns}/{name}"
    try:  # null removes the field, in a merge and a strategic-merge patch alike
        k.call_json(ctx.core.patch_namespaced_service, name, ns, {"spec": {"trafficDistribution": value}})
    except ApiException as exc:
        ctx.step(what, StepStatus.FAILED, k.message_of(exc), code=k.status_of(exc))
        raise k.api_error(what, exc) from exc
    ctx.step(what, StepStatus.SUCCEEDED, value or "(none)")


@register
class SetTrafficDistributionAction(Action[SetTrafficDistribution]):
    kind = "set-traffic-distribution"
    spec_type = SetTrafficDistribution
    permissions: ClassVar[Permissions] = Permissions(k8s=(K8sRule("", ("services",), ("get", "patch")),))

    def validate(self, ctx: ExecContext, spec: SetTrafficDistribution) -> list[Refusal]:
        svc = _service(ctx, spec.namespace, spec.service)
        if svc is None:
            return [Refusal("stale", f"stale: Service {spec.namespace}/{spec.service} is gone")]
        if spec.value not in TRAFFIC_VALUES:
            return [Refusal("invalid", f"trafficDistribution {spec.value!r} is not one of {', '.join(TRAFFIC_VALUES)}")]
        if k.spec(svc).get("type") == "ExternalName":
            return [Refusal("invalid", f"Service {spec.namespace}/{spec.service} is ExternalName: no endpoints to route")]
        return []

    def plan(self, ctx: ExecContext, spec: SetTrafficDistribution) -> Plan:
        old = k.spec(_service(ctx, spec.namespace, spec.service) or {}).get("trafficDistribution")
        text = (f"set Service {spec.namespace}/{spec.service} spec.trafficDistribution: {old or '(none)'} -> "
                f"{spec.value} (kube-proxy prefers endpoints in the client's zone: less inter-AZ transfer)")
        pre_image = {"namespace": spec.namespace, "service": spec.service, "trafficDistribution": old}
        return Plan(summary=text, steps=[text], pre_image=pre_image, reversible=True)

    def apply(self, ctx: ExecContext, spec: SetTrafficDistribution, plan: Plan) -> dict[str, Any]:
        _set_distribution(ctx, spec.namespace, spec.service, spec.value)
        return {"trafficDistribution": spec.value, "was": plan.pre_image.get("trafficDistribution")}

    def verify(self, ctx: ExecContext, spec: SetTrafficDistribution, plan: Plan) -> list[str]:
        live = k.spec(_service(ctx, spec.namespace, spec.service) or {}).get("trafficDistribution")
        return [] if live == spec.value else [
            f"Service {spec.namespace}/{spec.service} has trafficDistribution {live!r}, not {spec.value!r}"]

    def rollback_spec(self, plan: Plan) -> SetTrafficDistribution | None:
        old = plan.pre_image.get("trafficDistribution")  # no spec can say "unset": see rollback()
        return SetTrafficDistribution(namespace=plan.pre_image["namespace"], service=plan.pre_image["service"],
                                      value=old) if old else None

    def rollback(self, ctx: ExecContext, plan: Plan) -> dict[str, Any]:
        img = plan.pre_image
        _set_distribution(ctx, img["namespace"], img["service"], img.get("trafficDistribution"))
        return {"trafficDistribution": img.get("trafficDistribution")}
