"""Kubernetes helpers of the executor: raw JSON calls, API errors, pod facts, workload access.

Used by executor.drain, executor.node_actions and executor.k8s_workload_actions (and by
executor.node_replace through executor.drain). Objects are read as the API server's own JSON
(`_preload_content=False`) rather than the client's models: the models drop fields newer than
the client, and a body rebuilt from them would silently remove those fields on write.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from executor.base import ExecContext, ExecutorError, PermanentError, Refusal, StepStatus, TemporaryError

Obj = dict[str, Any]

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
# Pods of these priority classes keep the node alive longest (Karpenter evicts them last).
CRITICAL_PRIORITY_CLASSES = frozenset({"system-cluster-critical", "system-node-critical"})
DEFAULT_GRACE_S = 30  # the API server's default terminationGracePeriodSeconds
# Workload kinds the workload actions change, with the client's method suffix.
WORKLOAD_METHODS = {"Deployment": "deployment", "StatefulSet": "stateful_set", "DaemonSet": "daemon_set"}
# Kinds with replicas (a scale subresource): what scale and schedule actions accept.
SCALABLE_KINDS = ("Deployment", "StatefulSet")


# --- calls -------------------------------------------------------------------------------
def call_json(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Obj:
    """Call a client method and return the response body as the server sent it."""
    resp = fn(*args, _preload_content=False, **kwargs)
    data = resp.data
    return dict(json.loads(data)) if data else {}


def status_of(exc: ApiException) -> int:
    return int(exc.status or 0)


def message_of(exc: ApiException) -> str:
    """The Status message of an API error (its reason when there is none)."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        body = {}
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(exc.reason or exc)


def api_error(what: str, exc: ApiException) -> ExecutorError:
    """An API error as an executor error: conflicts, throttling and server errors are retried."""
    code = status_of(exc)
    text = f"{what}: {code} {message_of(exc)}"
    if code in (401, 403):
        return PermanentError(f"{text} (grant the RBAC rule in `cloudoptim permissions`)")
    if code in (0, 409, 429) or code >= 500:
        return TemporaryError(text)
    return PermanentError(text)


# --- objects -----------------------------------------------------------------------------
def meta(obj: Mapping[str, Any]) -> Obj:
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def spec(obj: Mapping[str, Any]) -> Obj:
    value = obj.get("spec")
    return value if isinstance(value, dict) else {}


def key_of(obj: Mapping[str, Any]) -> str:
    m = meta(obj)
    return f"{m.get('namespace')}/{m.get('name')}" if m.get("namespace") else str(m.get("name"))


def controller_of(obj: Mapping[str, Any]) -> Obj | None:
    refs = meta(obj).get("ownerReferences") or []
    return next((r for r in refs if isinstance(r, dict) and r.get("controller")), None)


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A structured LabelSelector against labels; policy/v1: null selects nothing, {} everything."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), set(expr.get("values") or [])
        present = key in labels
        ok = {"In": present and labels.get(key) in values,
              "NotIn": not present or labels.get(key) not in values,
              "Exists": present, "DoesNotExist": not present}.get(str(op), False)
        if not ok:
            return False
    return True


def pod_labels(pod: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (meta(pod).get("labels") or {}).items()}


def skip_reason(pod: Mapping[str, Any]) -> str | None:
    """Why a drain leaves this pod alone (None = it must be evicted)."""
    owner = controller_of(pod)
    if owner and owner.get("kind") == "DaemonSet":
        return "DaemonSet pod"  # the DaemonSet controller would recreate it on the node at once
    if MIRROR_ANNOTATION in (meta(pod).get("annotations") or {}):
        return "mirror pod"  # a static pod: the kubelet owns it, the API copy cannot be evicted
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return "finished"  # holds no resources; deleting the node garbage-collects it
    return None


def is_terminating(pod: Mapping[str, Any]) -> bool:
    return bool(meta(pod).get("deletionTimestamp"))


def is_critical(pod: Mapping[str, Any]) -> bool:
    return spec(pod).get("priorityClassName") in CRITICAL_PRIORITY_CLASSES


def grace_s(pod: Mapping[str, Any]) -> int:
    value = spec(pod).get("terminationGracePeriodSeconds")
    return DEFAULT_GRACE_S if value is None else int(value)


def instance_id_of(node: Mapping[str, Any]) -> str | None:
    """The EC2 instance behind a node, from its providerID (aws:///us-east-1a/i-0abc)."""
    provider = str(spec(node).get("providerID") or "")
    last = provider.rstrip("/").rpartition("/")[2]
    return last if provider.startswith("aws://") and last.startswith("i-") else None


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# --- quantities --------------------------------------------------------------------------
def format_cpu(cores: float) -> str:
    """Cores in the canonical form the API server stores: "2", "250m" (rounded to 1m)."""
    milli = round(cores * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def format_memory(size: int) -> str:
    """Bytes in the canonical form the API server stores: "512Mi", "1G", "1000"."""
    for factor, suffixes in ((1024, ("Ki", "Mi", "Gi", "Ti", "Pi")), (1000, ("k", "M", "G", "T", "P"))):
        value, suffix = size, ""
        for candidate in suffixes:
            if value % factor or value == 0:
                break
            value, suffix = value // factor, candidate
        if suffix:
            return f"{value}{suffix}"
    return str(size)


# --- workloads (Deployment, StatefulSet, DaemonSet) -------------------------------------------------
def canonical_kind(kind: str) -> str | None:
    return next((k for k in WORKLOAD_METHODS if k.lower() == kind.lower()), None)


def workload_call(ctx: ExecContext, verb: str, kind: str, *args: Any, subresource: str = "", **kwargs: Any) -> Obj:
    """`verb` ("read", "patch") on a workload or its scale subresource, as raw JSON."""
    suffix = WORKLOAD_METHODS[kind] + (f"_{subresource}" if subresource else "")
    return call_json(getattr(ctx.apps, f"{verb}_namespaced_{suffix}"), *args, **kwargs)


def read_workload(ctx: ExecContext, kind: str, namespace: str, name: str) -> Obj | None:
    """The live workload, or None when it is gone; other API errors become executor errors."""
    try:
        return workload_call(ctx, "read", kind, name, namespace)
    except ApiException as exc:
        if status_of(exc) == 404:
            return None
        raise api_error(f"read {kind} {namespace}/{name}", exc) from exc


def workload_target(ctx: ExecContext, kind_text: str, ns: str, name: str,
                    kinds: tuple[str, ...] = SCALABLE_KINDS) -> tuple[str, Obj | None, list[Refusal]]:
    """(canonical kind, live object, refusals) for a workload target of one of `kinds` (pod
    template changes also take DaemonSets; scaling does not: they have no replicas)."""
    kind = canonical_kind(kind_text)
    if kind is None or kind not in kinds:
        return kind_text, None, [Refusal("unsupported", f"workload kind {kind_text!r} is not {', '.join(kinds[:-1])} or {kinds[-1]}")]
    obj = read_workload(ctx, kind, ns, name)
    return kind, obj, [] if obj is not None else [Refusal("stale", f"stale: {kind} {ns}/{name} is gone")]


def replicas_of(obj: Obj) -> int:
    value = spec(obj).get("replicas")
    return 1 if value is None else int(value)  # the API's default


def scale_workload(ctx: ExecContext, kind: str, ns: str, name: str, replicas: int) -> Obj:
    try:
        scale = workload_call(ctx, "patch", kind, name, ns, {"spec": {"replicas": replicas}}, subresource="scale")
    except ApiException as exc:
        ctx.step(f"scale {kind} {ns}/{name}", StepStatus.FAILED, message_of(exc), code=status_of(exc))
        raise api_error(f"scale {kind} {ns}/{name}", exc) from exc
    ctx.step(f"scale {kind} {ns}/{name}", StepStatus.SUCCEEDED, f"spec.replicas = {replicas}",
             spec=scale.get("spec") or {}, scale_status=scale.get("status") or {})
    return scale


def containers_of(obj: Obj) -> list[Obj]:
    return list(spec(spec(obj).get("template") or {}).get("containers") or [])


def container_of(obj: Obj, name: str) -> Obj:
    return next((c for c in containers_of(obj) if c.get("name") == name), {})
