"""PATCH bodies as kube-apiserver applies them: JSON merge, strategic merge and JSON patches.

`apply_patch(content_type, kind, current, body)` returns the patched copy of an object:
- `application/merge-patch+json` (RFC 7386): objects merge, null deletes a key, lists are replaced;
- `application/strategic-merge-patch+json` (the official client's default for dict bodies):
  like a merge patch, except for the list fields that carry a patch merge key in the Kubernetes
  types (containers, initContainers and volumes by name, env by name, container ports by
  containerPort, Service ports by port, conditions by type, ownerReferences by uid, ...) whose
  elements merge by that key, and finalizers, which merge as a set. Lists without one (node
  taints, tolerations, args) are replaced, as on a real server. The directives `$patch`
  (replace/delete), `$retainKeys`, `$deleteFromPrimitiveList/F` and `$setElementOrder/F` work;
- `application/json-patch+json` (RFC 6902 ops, applied by the `jsonpatch` package).
Failures raise sandbox.k8s_http.ApiError (400 malformed, 415 unknown type, 422 not applicable).
Used by sandbox.k8s_handlers and sandbox.k8s_subresources.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from sandbox.k8s_http import ApiError, bad_request, unprocessable

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
_ACCEPTED = (JSON_PATCH, MERGE_PATCH, "application/apply-patch+yaml", STRATEGIC_MERGE_PATCH)

# Per Go type of the API: field -> (patch merge key, type of the field's value or elements).
# A merge key "" merges a list of scalars as a set; None: the value is no merged list.
_FIELDS: dict[str, dict[str, tuple[str | None, str | None]]] = {
    "ObjectMeta": {"finalizers": ("", None), "ownerReferences": ("uid", None)},
    "PodTemplateSpec": {"metadata": (None, "ObjectMeta"), "spec": (None, "PodSpec")},
    "PodSpec": {"containers": ("name", "Container"), "initContainers": ("name", "Container"),
                "ephemeralContainers": ("name", "Container"), "volumes": ("name", None),
                "imagePullSecrets": ("name", None), "hostAliases": ("ip", None)},
    "Container": {"env": ("name", None), "ports": ("containerPort", None), "volumeMounts": ("mountPath", None),
                  "volumeDevices": ("devicePath", None)},
    "NodeSpec": {"podCIDRs": ("", None)},
    "NodeStatus": {"conditions": ("type", None), "addresses": ("type", None)},
    "PodStatus": {"conditions": ("type", None), "podIPs": ("ip", None), "hostIPs": ("ip", None)},
    "Status": {"conditions": ("type", None)},  # workloads, Services, PDBs, Namespaces, Jobs
    "WorkloadSpec": {"template": (None, "PodTemplateSpec")},
    "ServiceSpec": {"ports": ("port", None)},
    "JobTemplateSpec": {"metadata": (None, "ObjectMeta"), "spec": (None, "WorkloadSpec")},
    "CronJobSpec": {"jobTemplate": (None, "JobTemplateSpec")},
}
_WORKLOAD = {"spec": "WorkloadSpec", "status": "Status"}
_KINDS: dict[str, dict[str, str]] = {
    "Pod": {"spec": "PodSpec", "status": "PodStatus"},
    "Node": {"spec": "NodeSpec", "status": "NodeStatus"},
    "Deployment": _WORKLOAD, "ReplicaSet": _WORKLOAD, "StatefulSet": _WORKLOAD, "DaemonSet": _WORKLOAD,
    "ReplicationController": _WORKLOAD, "Job": _WORKLOAD,
    "CronJob": {"spec": "CronJobSpec", "status": "Status"},
    "PodTemplate": {"template": "PodTemplateSpec"},
    "Service": {"spec": "ServiceSpec", "status": "Status"},
    "PodDisruptionBudget": {"status": "Status"}, "Namespace": {"status": "Status"},
}


def apply_patch(content_type: str, kind: str, current: dict[str, Any], body: Any) -> dict[str, Any]:
    """The patched copy of `current`; `current` itself is left untouched."""
    if content_type == JSON_PATCH:
        return json_patch(current, body)
    if content_type not in (MERGE_PATCH, STRATEGIC_MERGE_PATCH):
        note = " (server-side apply is not emulated)" if content_type == "application/apply-patch+yaml" else ""
        raise ApiError(415, "UnsupportedMediaType",
                       "the body of the request was in an unknown format - accepted media types include: "
                       + ", ".join(_ACCEPTED) + note)
    if not isinstance(body, dict):
        raise bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}")
    if content_type == MERGE_PATCH:
        result = merge_patch(current, body)
        assert isinstance(result, dict)  # a dict patch always gives a dict
        return result
    top: dict[str, tuple[str | None, str | None]] = {
        "metadata": (None, "ObjectMeta"), **{f: (None, t) for f, t in _KINDS.get(kind, {}).items()}}
    return _merge_map(current, body, top)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(current: dict[str, Any], ops: Any) -> dict[str, Any]:
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    try:
        result = jsonpatch.JsonPatch(ops).apply(current, in_place=False)
    except jsonpatch.InvalidJsonPatch as exc:
        raise bad_request(f"invalid JSON patch: {exc}") from exc
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise unprocessable(str(exc)) from exc
    if not isinstance(result, dict):
        raise unprocessable("the patch replaced the whole object with a non-object")
    return result


# --- strategic merge -------------------------------------------------------------------------
def _strategic(original: Any, patch: dict[str, Any], type_name: str | None) -> dict[str, Any]:
    return _merge_map(original if isinstance(original, dict) else {}, patch, _FIELDS.get(type_name or "", {}))


def _merge_map(original: dict[str, Any], patch: dict[str, Any],
               fields: dict[str, tuple[str | None, str | None]]) -> dict[str, Any]:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive not in (None, "merge"):
        raise bad_request(f"unknown patch directive in a map: $patch: {directive}")
    result = dict(original)  # untouched values are shared; the store copies what it keeps
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.partition("/")[2]
            if isinstance(result.get(name), list) and isinstance(value, list):
                result[name] = [item for item in result[name] if item not in value]
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.partition("/")[2]] = value if isinstance(value, list) else []
            continue
        merge_key, child = fields.get(key, (None, None))
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            if value.get("$patch") == "delete":
                result.pop(key, None)
            else:
                result[key] = _strategic(result.get(key), value, child)
        elif isinstance(value, list) and merge_key is not None:
            base = result.get(key)
            result[key] = _merge_list(base if isinstance(base, list) else [], value, merge_key, child)
        else:
            result[key] = copy.deepcopy(value)
    for name, order in orders.items():
        merge_key = fields.get(name, (None, None))[0]
        if isinstance(result.get(name), list) and merge_key is not None:
            result[name] = _reorder(result[name], order, merge_key)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):  # fields of a union that the patch does not name are cleared
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(original: list[Any], patch: list[Any], merge_key: str, child: str | None) -> list[Any]:
    if any(isinstance(e, dict) and e.get("$patch") == "replace" for e in patch):
        return [copy.deepcopy(e) for e in patch if not (isinstance(e, dict) and "$patch" in e)]
    out = list(original)
    if merge_key == "":  # a set of scalars (finalizers): new ones are appended once
        for element in patch:
            if element not in out:
                out.append(copy.deepcopy(element))
        return out
    for element in patch:
        if not isinstance(element, dict) or merge_key not in element:
            raise bad_request(f"map: {element!r} does not contain declared merge key: {merge_key}")
        matches = [i for i, e in enumerate(out) if isinstance(e, dict) and e.get(merge_key) == element[merge_key]]
        if element.get("$patch") == "delete":
            out = [e for i, e in enumerate(out) if i not in matches]
        elif matches:
            out[matches[0]] = _strategic(out[matches[0]], element, child)
        else:
            out.append(_strategic({}, element, child))
    return out


def _reorder(items: list[Any], order: list[Any], merge_key: str) -> list[Any]:
    # Elements the order names come first, in its order; the server's others keep theirs after.
    keys = [o.get(merge_key) if isinstance(o, dict) else o for o in order]

    def key_of(item: Any) -> Any:
        return item.get(merge_key) if merge_key and isinstance(item, dict) else item

    ranked = sorted((i for i in items if key_of(i) in keys), key=lambda i: keys.index(key_of(i)))
    return ranked + [i for i in items if key_of(i) not in keys]
