"""Container requests/limits for the set-requests-limits action: values, diffs and the JSON patch.

`desired_resources` turns the spec's four numbers (cores and bytes; None = no value) into the
container's new `resources`, keeping the live spelling of a quantity that does not change
("0.5" stays "0.5" when 500m is asked) and every other resource (ephemeral-storage, GPUs) as
it is. `patch_resources` writes it with a JSON patch that first tests the container's name and
old resources at its index, so a concurrent change is refused instead of overwritten. Used by
executor.k8s_workload_actions.
"""

from __future__ import annotations

import copy
from typing import Any

from kubernetes.client.exceptions import ApiException

from engines.actions import SetRequestsLimits
from engines.quantity import parse_bytes, parse_cpu
from executor import k8s_util as k
from executor.base import ExecContext, PermanentError, StepStatus

# (spec field, section, resource name) of the four values the action owns.
FIELDS = (("cpu_request", "requests", "cpu"), ("memory_request", "requests", "memory"),
          ("cpu_limit", "limits", "cpu"), ("memory_limit", "limits", "memory"))
Values = dict[str, Any]  # spec field -> cores (float) / bytes (int) / None


def spec_values(source: SetRequestsLimits | k.Obj) -> Values:
    """The four values of a spec, or of a container's live `resources` (for the reverse spec)."""
    if isinstance(source, SetRequestsLimits):
        return {name: getattr(source, name) for name, _, _ in FIELDS}
    values: Values = {}
    for name, section, res in FIELDS:
        raw = (source.get(section) or {}).get(res)
        values[name] = None if raw is None else parse_cpu(raw) if res == "cpu" else parse_bytes(raw)
    return values


def _same(res: str, a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    try:
        return parse_cpu(a) == parse_cpu(b) if res == "cpu" else parse_bytes(a) == parse_bytes(b)
    except ValueError:
        return str(a) == str(b)


def desired_resources(old: k.Obj, values: Values) -> k.Obj:
    new = copy.deepcopy(old)
    for name, section, res in FIELDS:
        value, current = values.get(name), (old.get(section) or {}).get(res)
        part = new.setdefault(section, {})
        if value is None:
            part.pop(res, None)
        elif current is None or not _same(res, current, value):
            part[res] = k.format_cpu(value) if res == "cpu" else k.format_memory(int(value))
        if not part and section not in old:
            del new[section]
    return new


def diff_lines(old: k.Obj, new: k.Obj) -> list[str]:
    """"requests.cpu: 100m -> 250m" for every requests/limits entry that differs."""
    lines = []
    for section in ("requests", "limits"):
        before, after = old.get(section) or {}, new.get(section) or {}
        for res in sorted(set(before) | set(after)):
            if not _same(res, before.get(res), after.get(res)):
                lines.append(f"{section}.{res}: {before.get(res, '(none)')} -> {after.get(res, '(none)')}")
    return lines


def resource_problems(values: Values) -> list[str]:
    problems = [f"{name} must be positive, not {value}" for name, value in values.items()
                if value is not None and value <= 0]
    for res in ("cpu", "memory"):
        request, limit = values.get(f"{res}_request"), values.get(f"{res}_limit")
        if request is not None and limit is not None and request > limit:
            problems.append(f"{res} request {request} exceeds its limit {limit} (the API server rejects it)")
    return problems


def patch_resources(ctx: ExecContext, img: k.Obj, expected: k.Obj, new: k.Obj) -> dict[str, Any]:
    """Replace one container's resources if they still equal `expected`; step recorded."""
    kind, ns, name, container = img["kind"], img["namespace"], img["name"], img["container"]
    what = f"set resources of {kind} {ns}/{name} container {container}"
    obj = k.read_workload(ctx, kind, ns, name)
    containers = k.spec(k.spec(obj or {}).get("template") or {}).get("containers") or []
    index = next((i for i, c in enumerate(containers) if c.get("name") == container), None)
    if obj is None or index is None:
        raise PermanentError(f"stale: {kind} {ns}/{name} or its container {container} is gone")
    if containers[index].get("resources") == new:
        ctx.step(what, StepStatus.SKIPPED, "already has these resources")
        return {"resources": new, "changed": False}
    path = f"/spec/template/spec/containers/{index}"
    body: list[dict[str, Any]] = [{"op": "test", "path": f"{path}/name", "value": container}]
    if "resources" in containers[index]:
        body.append({"op": "test", "path": f"{path}/resources", "value": expected})
    body.append({"op": "add", "path": f"{path}/resources", "value": new})  # add = set, present or not
    try:
        patched = k.workload_call(ctx, "patch", kind, name, ns, body)
    except ApiException as exc:
        ctx.step(what, StepStatus.FAILED, k.message_of(exc), code=k.status_of(exc))
        if k.status_of(exc) in (409, 422) or "test" in k.message_of(exc).lower():
            raise PermanentError(f"stale: {kind} {ns}/{name} container {container} changed since the plan "
                                 f"({k.status_of(exc)} {k.message_of(exc)})") from exc
        raise k.api_error(what, exc) from exc
    ctx.step(what, StepStatus.SUCCEEDED, ", ".join(diff_lines(expected, new)) or "no change", resources=new,
             generation=k.meta(patched).get("generation"))
    return {"resources": new, "changed": True}
