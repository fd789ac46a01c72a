"""The scheduled workloads of one cluster: Deployments, StatefulSets and CronJobs whose own or
whose namespace's annotations carry a `cloudoptim.io/schedule-*` schedule, with the HPA that
targets each and why an excluded one is never touched.

Read by the enforcer (app.services.schedules) and the lease service / Schedules page
(app.services.schedule_leases), so both see the same targets with the same annotations.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from kubernetes import client

from engines import schedules
from executor import k8s_util as k

_PAGE = 500
ALWAYS_PROTECTED = frozenset({"kube-system"})
# kind -> (client attribute, method suffix) of everything a schedule can switch off.
KINDS = {"Deployment": ("apps", "deployment"), "StatefulSet": ("apps", "stateful_set"),
         "CronJob": ("batch", "cron_job")}  # fmt: skip


@dataclass(frozen=True)
class Clients:
    """The API groups the enforcer uses, on one ApiClient."""

    core: Any
    apps: Any
    batch: Any
    autoscaling: Any

    @classmethod
    def of(cls, api: Any) -> Clients:
        return cls(client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api), client.AutoscalingV2Api(api))


@dataclass(frozen=True)
class Target:
    """One scheduled workload: its live object and the annotations its schedule is read from
    (its own, or its namespace's schedule keys with its own bookkeeping keys)."""

    kind: str
    obj: k.Obj
    annotations: dict[str, str]
    source: str  # "workload" or "namespace"
    excluded: str | None = None  # why it is never touched
    hpa: k.Obj | None = None

    @property
    def namespace(self) -> str:
        return str(k.meta(self.obj).get("namespace") or "")

    @property
    def name(self) -> str:
        return str(k.meta(self.obj).get("name") or "")

    @property
    def current(self) -> int:
        """Replicas; a CronJob counts 1 when it runs and 0 when suspended."""
        if self.kind == "CronJob":
            return 0 if k.spec(self.obj).get("suspend") else 1
        return k.replicas_of(self.obj)


def _list(method: Any, timeout_s: float | None) -> list[k.Obj]:
    items: list[k.Obj] = []
    token = ""
    while True:
        page = k.call_json(method, limit=_PAGE, _request_timeout=timeout_s, **({"_continue": token} if token else {}))
        items += page.get("items") or []
        token = str((page.get("metadata") or {}).get("continue") or "")
        if not token:
            return items


def scheduled_targets(clients: Clients, protected: frozenset[str], timeout_s: float | None = None) -> list[Target]:
    """Every scheduled workload in all namespaces, excluded ones marked with the reason.

    Annotations cannot be selected on by the API server, so every workload is listed (in pages)
    and filtered here, as kube-downscaler does.
    """
    namespaces = {k.meta(ns).get("name"): ns for ns in _list(clients.core.list_namespace, timeout_s)}
    hpas: dict[tuple[str, str, str], k.Obj] | None = None
    found = []
    for kind, (group, suffix) in KINDS.items():
        for obj in _list(getattr(getattr(clients, group), f"list_{suffix}_for_all_namespaces"), timeout_s):
            ns_obj = namespaces.get(k.meta(obj).get("namespace")) or {}
            target = _target(kind, obj, ns_obj, protected)
            if target is None:
                continue
            if kind != "CronJob":
                if hpas is None:  # listed once per cluster, and only when something is scheduled
                    hpas = {_hpa_key(h): h for h in _list(clients.autoscaling.list_horizontal_pod_autoscaler_for_all_namespaces,
                                                           timeout_s)}  # fmt: skip
                target = replace(target, hpa=hpas.get((target.namespace, kind, target.name)))
            found.append(target)
    return found


def _target(kind: str, obj: k.Obj, ns_obj: k.Obj, protected: frozenset[str]) -> Target | None:
    own, ns_annotations = _annotations(obj), _annotations(ns_obj)
    if schedules.is_scheduled(own):
        annotations, source = own, "workload"
    elif schedules.is_scheduled(ns_annotations):
        keep = {key: value for key, value in own.items() if key not in schedules.SCHEDULE_KEYS}
        annotations = {**{key: ns_annotations[key] for key in schedules.SCHEDULE_KEYS if key in ns_annotations},
                       **keep}  # fmt: skip
        source = "namespace"
    else:
        return None
    ns = str(k.meta(obj).get("namespace") or "")
    excluded = None
    if ns in protected | ALWAYS_PROTECTED:
        excluded = f"namespace {ns} is protected"
    elif schedules.is_excluded(_labels(obj), own):
        excluded = f"labelled {schedules.EXCLUDE}=true"
    elif schedules.is_excluded(_labels(ns_obj), ns_annotations):
        excluded = f"namespace {ns} is labelled {schedules.EXCLUDE}=true"
    if kind == "CronJob":  # a CronJob is on or off: "off" is always suspended, whatever replicas-off says
        annotations = {**annotations, schedules.REPLICAS_OFF: "0"}
    return Target(kind, obj, annotations, source, excluded)


def _hpa_key(hpa: k.Obj) -> tuple[str, str, str]:
    ref = k.spec(hpa).get("scaleTargetRef") or {}
    return str(k.meta(hpa).get("namespace") or ""), str(ref.get("kind") or ""), str(ref.get("name") or "")


def _annotations(obj: k.Obj) -> dict[str, str]:
    return {str(key): str(value) for key, value in (k.meta(obj).get("annotations") or {}).items()}


def _labels(obj: k.Obj) -> dict[str, str]:
    return {str(key): str(value) for key, value in (k.meta(obj).get("labels") or {}).items()}


def patch(clients: Clients, kind: str, namespace: str, name: str, body: dict[str, Any]) -> k.Obj:
    """A merge patch of a scheduled workload (a map body: merge and strategic merge agree)."""
    group, suffix = KINDS[kind]
    return k.call_json(getattr(getattr(clients, group), f"patch_namespaced_{suffix}"), name, namespace, body)
