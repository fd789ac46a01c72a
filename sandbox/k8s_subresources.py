"""The scale and eviction subresources of the local Kubernetes API.

`serve_scale` answers GET/PUT/PATCH on `.../deployments|statefulsets|replicasets/NAME/scale`
with an autoscaling/v1 Scale whose resourceVersion is the workload's: a PUT or PATCH carrying
another one gets 409 Conflict, and a change writes the workload's spec.replicas (a new
generation, which its controller then acts on). `serve_eviction` is POST `.../pods/NAME/eviction`:
it honours PodDisruptionBudgets (429 when a budget has no disruption left, 500 when two
budgets select the pod, as the real API does), supports dry runs, and updates the budgets'
status at once so readers see the spent budget before the next reconcile pass.
Used by sandbox.k8s_handlers.
"""

from __future__ import annotations

import logging
from typing import Any

from sandbox.k8s_http import ApiError, ApiRequest, bad_request, conflict, invalid, not_found, status_body
from sandbox.k8s_kmock_adapter import Resource, ResourceType
from sandbox.k8s_patch import apply_patch
from sandbox.k8s_selectors import is_terminating, pdb_selects, pdb_status
from sandbox.k8s_store import PDBS, PODS, SandboxStore

log = logging.getLogger(__name__)

SCALABLE = ("deployments", "replicasets", "statefulsets")
_SCALE_TYPE_KIND = "Scale"
_SCALE_TYPE = ResourceType(Resource("autoscaling", "v1", "scales"), _SCALE_TYPE_KIND, True, frozenset())


def _selector_text(selector: dict[str, Any]) -> str:
    # The string form of a LabelSelector, as Scale.status.selector carries it.
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr.get("operator"), expr.get("key"), ",".join(sorted(expr.get("values") or []))
        terms.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": f"{key}",
                      "DoesNotExist": f"!{key}"}.get(str(op), ""))
    return ",".join(t for t in terms if t)


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    return {
        "apiVersion": "autoscaling/v1", "kind": _SCALE_TYPE_KIND,
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": spec.get("replicas", 1)},
        "status": {"replicas": status.get("replicas", 0), "selector": _selector_text(spec.get("selector") or {})},
    }


def serve_scale(store: SandboxStore, req: ApiRequest) -> tuple[int, dict[str, Any]]:
    res, ns, name = req.resource, req.namespace, str(req.name)
    current = store.get(res, ns, name)
    if current is None:
        raise not_found(res, name)
    scale = scale_of(current)
    if req.verb == "get":
        return 200, scale
    if req.verb == "update":
        wanted = req.json_object()
    elif req.verb == "patch":
        wanted = apply_patch(req.content_type, _SCALE_TYPE_KIND, scale, req.json())
    else:
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    version = (wanted.get("metadata") or {}).get("resourceVersion")
    if version and str(version) != current["metadata"]["resourceVersion"]:
        raise conflict(res, name)
    replicas = (wanted.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise invalid(_SCALE_TYPE, name, "spec.replicas",
                      f"Invalid value: {replicas!r}: must be greater than or equal to 0")
    if req.dry_run:
        return 200, {**scale, "spec": {"replicas": replicas}}
    if replicas != (current.get("spec") or {}).get("replicas", 1):
        current = store.merge(res, ns, name, {"spec": {"replicas": replicas}}) or current
        log.info("scaled %s %s/%s to %d", res.plural, ns, name, replicas)
    return 200, scale_of(current)


def serve_eviction(store: SandboxStore, req: ApiRequest) -> tuple[int, dict[str, Any]]:
    ns, name = req.namespace, str(req.name)
    data = req.json()
    if data is not None and not isinstance(data, dict):
        raise bad_request("the request body must be an Eviction object")
    options = (data or {}).get("deleteOptions") or {}
    dry_run = req.dry_run or "All" in (options.get("dryRun") or [])
    pod = store.get(PODS, ns, name)
    if pod is None:
        raise not_found(PODS, name)
    budgets = [pdb for pdb in store.live(PDBS, ns) if pdb_selects(pdb, pod)]
    # Like the real API: pods that are not running (or already going) skip the budget check.
    phase = (pod.get("status") or {}).get("phase")
    if not is_terminating(pod) and phase not in ("Pending", "Succeeded", "Failed"):
        if len(budgets) > 1:
            raise ApiError(500, "InternalError",
                           "This pod has more than one PodDisruptionBudget, which the eviction subresource "
                           "does not support.")
        pods = store.live(PODS, ns)
        for pdb in budgets:
            numbers = pdb_status(pdb, pods)
            if numbers["disruptionsAllowed"] <= 0:
                cause = {"reason": "DisruptionBudget",
                         "message": f"The disruption budget {pdb['metadata']['name']} needs "
                                    f"{numbers['desiredHealthy']} healthy pods and has "
                                    f"{numbers['currentHealthy']} currently"}
                raise ApiError(429, "TooManyRequests",
                               "Cannot evict pod as it would violate the pod's disruption budget.",
                               {"causes": [cause]})
    if not dry_run:
        store.remove(PODS, ns, name)
        remaining = store.live(PODS, ns)
        for pdb in budgets:  # readers see the spent budget before the next reconcile pass
            store.merge(PDBS, ns, pdb["metadata"]["name"], {"status": pdb_status(pdb, remaining)})
    log.info("evicted pod %s/%s%s", ns, name, " (dry run)" if dry_run else "")
    return 201, status_body(201, "", "", success=True)
