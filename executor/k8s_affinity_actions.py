"""The set-preferred-affinity action: a preferred pod-affinity term on a Deployment or StatefulSet.

The cross-AZ engine (engines.crossaz) recommends it for chatty pairs that trafficDistribution
cannot keep in-zone: the client's pods should land in the zone of the peer's pods. Validate
refuses a gone workload, an unsupported kind, an empty peer selector and a workload that already
has the term; the plan shows the term added; apply re-reads the workload, refuses it as stale if
its affinity changed since the plan, and writes the whole new `spec.template.spec.affinity` with
a JSON patch that first tests the old value (the preferred list has no merge key, so a merge or
strategic-merge body would replace the list, and on a real server a concurrent edit could be
lost). The pre-image is the old affinity (absent = None); `rollback` writes it back exactly,
removing the field when it was absent. Changing the template rolls the workload's pods.
Registered by importing it in executor.actions_all.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from kubernetes.client.exceptions import ApiException

from engines.actions import SetPreferredAffinity
from executor import k8s_util as k
from executor.base import Action, ExecContext, K8sRule, PermanentError, Permissions, Plan, Refusal, StepStatus
from executor.registry import register

PATH = "/spec/template/spec/affinity"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def term_of(spec: SetPreferredAffinity) -> k.Obj:
    """The WeightedPodAffinityTerm; a peer in another namespace is named (the default is the pod's own)."""
    pod_term: k.Obj = {"labelSelector": {"matchLabels": dict(sorted(spec.peer_labels.items()))},
                       "topologyKey": spec.topology_key}
    if spec.peer_namespace != spec.namespace:
        pod_term["namespaces"] = [spec.peer_namespace]
    return {"weight": spec.weight, "podAffinityTerm": pod_term}


def affinity_of(obj: k.Obj) -> k.Obj | None:
    value = k.spec(k.spec(obj).get("template") or {}).get("affinity")
    return value if isinstance(value, dict) else None


def has_term(affinity: k.Obj | None, spec: SetPreferredAffinity) -> bool:
    """Whether a preferred term towards the same peer and topology exists (whatever its weight)."""
    wanted = term_of(spec)["podAffinityTerm"]
    terms = ((affinity or {}).get("podAffinity") or {}).get(PREFERRED) or []
    return any(isinstance(t, dict) and t.get("podAffinityTerm") == wanted for t in terms)


def with_term(affinity: k.Obj | None, spec: SetPreferredAffinity) -> k.Obj:
    new = copy.deepcopy(affinity or {})
    pod_affinity = new.setdefault("podAffinity", {})
    pod_affinity[PREFERRED] = [*(pod_affinity.get(PREFERRED) or []), term_of(spec)]
    return new


def _describe(spec: SetPreferredAffinity) -> str:
    labels = ",".join(f"{key}={value}" for key, value in sorted(spec.peer_labels.items()))
    return (f"a preferred pod-affinity term (weight {spec.weight}) towards pods {{{labels}}} in namespace "
            f"{spec.peer_namespace}, topology {spec.topology_key}")


def _write(ctx: ExecContext, img: k.Obj, expected: k.Obj | None, new: k.Obj | None, what: str) -> k.Obj:
    """Replace (or remove, when `new` is None) the template's affinity if it still equals `expected`."""
    kind, ns, name = img["kind"], img["namespace"], img["name"]
    body: list[k.Obj] = [{"op": "test", "path": PATH, "value": expected}] if expected is not None else []
    body.append({"op": "add", "path": PATH, "value": new} if new is not None else {"op": "remove", "path": PATH})
    try:
        patched = k.workload_call(ctx, "patch", kind, name, ns, body)
    except ApiException as exc:
        ctx.step(what, StepStatus.FAILED, k.message_of(exc), code=k.status_of(exc))
        if k.status_of(exc) in (409, 422) or "test" in k.message_of(exc).lower():
            raise PermanentError(f"stale: the affinity of {kind} {ns}/{name} changed since the plan "
                                 f"({k.status_of(exc)} {k.message_of(exc)})") from exc
        raise k.api_error(what, exc) from exc
    ctx.step(what, StepStatus.SUCCEEDED, "affinity removed" if new is None else "affinity written", affinity=new,
             generation=k.meta(patched).get("generation"))
    return patched


@register
class SetPreferredAffinityAction(Action[SetPreferredAffinity]):
    kind = "set-preferred-affinity"
    spec_type = SetPreferredAffinity
    permissions: ClassVar[Permissions] = Permissions(
        k8s=(K8sRule("apps", ("deployments", "statefulsets"), ("get", "patch")),))

    def validate(self, ctx: ExecContext, spec: SetPreferredAffinity) -> list[Refusal]:
        kind, obj, refusals = k.workload_target(ctx, spec.workload_kind, spec.namespace, spec.workload_name)
        if obj is None:
            return refusals
        if not spec.peer_labels:
            return [Refusal("invalid", "the peer selector is empty: the term would match every pod")]
        if has_term(affinity_of(obj), spec):
            return [Refusal("stale", f"stale: {kind} {spec.namespace}/{spec.workload_name} already has "
                                     f"{_describe(spec)}")]
        return []

    def plan(self, ctx: ExecContext, spec: SetPreferredAffinity) -> Plan:
        kind, obj, _ = k.workload_target(ctx, spec.workload_kind, spec.namespace, spec.workload_name)
        old = affinity_of(obj or {})
        count = len(((old or {}).get("podAffinity") or {}).get(PREFERRED) or [])
        target = f"{kind} {spec.namespace}/{spec.workload_name}"
        steps = [f"add to {target} spec.template.spec.affinity.podAffinity.{PREFERRED} {_describe(spec)} "
                 f"({count} -> {count + 1} preferred terms)",
                 f"the {kind} replaces its pods one by one; the scheduler prefers the peer's zone, never requires it"]
        pre_image = {"kind": kind, "namespace": spec.namespace, "name": spec.workload_name, "affinity": old}
        return Plan(summary=steps[0], steps=steps, pre_image=pre_image, reversible=True)

    def apply(self, ctx: ExecContext, spec: SetPreferredAffinity, plan: Plan) -> dict[str, Any]:
        img = plan.pre_image
        live = k.read_workload(ctx, img["kind"], img["namespace"], img["name"])
        if live is None:
            raise PermanentError(f"stale: {img['kind']} {img['namespace']}/{img['name']} is gone")
        if affinity_of(live) != img["affinity"]:
            raise PermanentError(f"stale: the affinity of {img['kind']} {img['namespace']}/{img['name']} changed "
                                 "since the plan")
        new = with_term(img["affinity"], spec)
        _write(ctx, img, img["affinity"], new, f"add pod affinity to {img['kind']} {img['namespace']}/{img['name']}")
        return {"affinity": new, "was": img["affinity"]}

    def verify(self, ctx: ExecContext, spec: SetPreferredAffinity, plan: Plan) -> list[str]:
        kind, obj, refusals = k.workload_target(ctx, spec.workload_kind, spec.namespace, spec.workload_name)
        if obj is None:
            return [r.message for r in refusals]
        return [] if has_term(affinity_of(obj), spec) else [
            f"{kind} {spec.namespace}/{spec.workload_name} does not have {_describe(spec)}"]

    def rollback(self, ctx: ExecContext, plan: Plan) -> dict[str, Any]:
        """The old affinity written back exactly; removed when there was none."""
        img = plan.pre_image
        live = k.read_workload(ctx, img["kind"], img["namespace"], img["name"])
        if live is None:
            raise PermanentError(f"{img['kind']} {img['namespace']}/{img['name']} is gone: nothing to roll back")
        current, old = affinity_of(live), img["affinity"]
        what = f"restore the affinity of {img['kind']} {img['namespace']}/{img['name']}"
        if current == old:
            ctx.step(what, StepStatus.SKIPPED, "already as before")
        else:
            _write(ctx, img, current, old, what)
        return {"affinity": old}
