"""Opt-outs read again just before an apply: what a user marked after the scan stays untouched.

The engines skip a node, pod, workload or namespace annotated `cloudoptim.io/opt-out: "true"`, a
pod or node with Karpenter's `karpenter.sh/do-not-disrupt: "true"` and a pod with the Cluster
Autoscaler's `cluster-autoscaler.kubernetes.io/safe-to-evict: "false"`. A recommendation made
before such a mark was set would otherwise still be applied, so the worker's execution runner
calls `opt_out_refusals` after the action's own validate, on live objects. Node actions check
the node, the pods a drain would evict and their namespaces; workload actions the workload, its
pod template and its namespace. Actions on AWS resources alone have nothing to read here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel

from executor import k8s_util as k
from executor.base import ExecContext, Refusal
from executor.drain_plan import pods_on

OPT_OUT = "cloudoptim.io/opt-out"
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"


def _annotations(obj: Mapping[str, Any]) -> dict[str, str]:
    return {str(key): str(value) for key, value in (k.meta(obj).get("annotations") or {}).items()}


def marked(obj: Mapping[str, Any], *, pod: bool = False, extra: Collection[str] = ()) -> str | None:
    """The annotation that opts this object out, as `key=value`, or None. `extra` holds the
    admin's own `key=value` marks (Settings and users → Guardrails), matched against the
    annotations and the labels."""
    notes = _annotations(obj)
    for key in (OPT_OUT, DO_NOT_DISRUPT):
        if notes.get(key, "").strip().lower() == "true":
            return f"{key}={notes[key]}"
    if pod and notes.get(SAFE_TO_EVICT, "").strip().lower() == "false":
        return f"{SAFE_TO_EVICT}={notes[SAFE_TO_EVICT]}"
    if extra:
        labels = {str(key): str(value) for key, value in (k.meta(obj).get("labels") or {}).items()}
        for mark in extra:
            key, _, value = mark.partition("=")
            if notes.get(key) == value or labels.get(key) == value:
                return mark
    return None


def _namespace_mark(ctx: ExecContext, name: str, seen: dict[str, str | None], extra: Collection[str]) -> str | None:
    if name not in seen:
        try:
            seen[name] = marked(k.call_json(ctx.core.read_namespace, name), extra=extra)
        except ApiException as exc:
            if k.status_of(exc) != 404:
                raise k.api_error(f"read namespace {name}", exc) from exc
            seen[name] = None
    return seen[name]


def _node_refusals(ctx: ExecContext, node_name: str, extra: Collection[str]) -> list[Refusal]:
    try:
        node = k.call_json(ctx.core.read_node, node_name)
    except ApiException as exc:
        if k.status_of(exc) == 404:
            return []  # the action's validate already says the node is gone
        raise k.api_error(f"read node {node_name}", exc) from exc
    refusals = []
    if why := marked(node, extra=extra):
        refusals.append(Refusal("opt-out", f"node {node_name} has {why}: it opted out after the scan"))
    namespaces: dict[str, str | None] = {}
    for pod in pods_on(ctx, node_name):
        if k.skip_reason(pod):
            continue  # DaemonSet, mirror and finished pods are never evicted
        if why := marked(pod, pod=True, extra=extra):
            refusals.append(Refusal("opt-out", f"pod {k.key_of(pod)} has {why}: it may not be evicted"))
        elif why := _namespace_mark(ctx, str(k.meta(pod).get("namespace")), namespaces, extra):
            refusals.append(Refusal("opt-out", f"pod {k.key_of(pod)} is in namespace {k.meta(pod).get('namespace')}, "
                                               f"which has {why}"))  # fmt: skip
    return refusals


def _workload_refusals(ctx: ExecContext, kind_text: str, namespace: str, name: str,
                       extra: Collection[str]) -> list[Refusal]:  # fmt: skip
    kind, obj, _ = k.workload_target(ctx, kind_text, namespace, name)
    if obj is None:
        return []  # gone or unsupported: the action's validate says so
    template = (k.spec(obj).get("template") or {})
    for what, source in ((f"{kind} {namespace}/{name}", obj), (f"the pod template of {kind} {namespace}/{name}", template)):
        if why := marked(source, extra=extra):
            return [Refusal("opt-out", f"{what} has {why}: it opted out after the scan")]
    if why := _namespace_mark(ctx, namespace, {}, extra):
        return [Refusal("opt-out", f"namespace {namespace} has {why}")]
    return []


def opt_out_refusals(ctx: ExecContext, spec: BaseModel, extra: Collection[str] = ()) -> list[Refusal]:
    """Refusals for every live opt-out that covers what `spec` would change (`extra`: the admin's
    own `key=value` marks)."""
    fields = spec.model_dump()
    if ctx.core is None:
        return []
    if isinstance(fields.get("node"), str) and fields["node"]:
        return _node_refusals(ctx, fields["node"], extra)
    if all(isinstance(fields.get(f), str) for f in ("workload_kind", "namespace", "workload_name")):
        return _workload_refusals(ctx, fields["workload_kind"], fields["namespace"], fields["workload_name"], extra)
    return []
