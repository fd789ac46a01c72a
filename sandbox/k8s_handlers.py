"""HTTP-side additions to kmock's Kubernetes emulator for the local sandbox cluster.

`SandboxEmulator` extends the object store `sandbox.k8s_store.SandboxStore` (itself a
`kmock.KubernetesEmulator`) with what the official client and CloudOptim need but kmock 0.8
lacks: label/field selectors (sandbox.k8s_selectors) and limit/continue pagination on every
list, the pod eviction subresource honouring PodDisruptionBudgets, PUT (replace), the
autoscaling/v1 Scale subresource, and server-side defaults (uid, namespace,
creationTimestamp) on create. The store's `store`/`merge`/`remove` let the reconciler mutate
objects the same way API calls do (watch events included).
Used by sandbox.k8s_emulator (LocalKubernetes) and the reconciler modules. The names that
moved to sandbox.k8s_store and sandbox.k8s_selectors are re-exported here.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import re
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import aiohttp.web
import kmock
from typing_extensions import override

from sandbox.k8s_selectors import (
    FieldRequirement,
    Requirement,
    fields_match,
    is_terminating,
    labels_match,
    labels_of,
    parse_field_selector,
    parse_label_selector,
    pdb_selects,
    pdb_status,
    selector_requirements,
)
from sandbox.k8s_store import (
    DAEMONSETS,
    DEPLOYMENTS,
    NAMESPACES,
    NODES,
    PDBS,
    PODS,
    REPLICASETS,
    STATEFULSETS,
    SandboxStore,
    apply_defaults,
    now_iso,
)

__all__ = [
    "DAEMONSETS", "DEPLOYMENTS", "NAMESPACES", "NODES", "PDBS", "PODS", "REPLICASETS", "STATEFULSETS",
    "FieldRequirement", "Requirement", "SandboxEmulator", "fields_match", "is_terminating", "labels_match",
    "labels_of", "now_iso", "parse_field_selector", "parse_label_selector", "pdb_selects", "pdb_status",
    "selector_requirements", "status_body",
]

log = logging.getLogger(__name__)

_NAMESPACE_PATH = re.compile(r"^/api/v1/namespaces(/[^/]+(?:/(?:status|finalize))?)?/?$")
_SCALABLE = ("deployments", "replicasets", "statefulsets")
# kmock keeps every request and error forever (for test assertions); a long demo must not grow.
_REQUEST_LOG_MAX = 2000


def status_body(code: int, reason: str, message: str, *, success: bool = False) -> dict[str, Any]:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success" if success else "Failure",
            "reason": reason, "code": code, "message": message}
    return {key: value for key, value in body.items() if value != ""}


def _status_response(code: int, reason: str, message: str, *, success: bool = False) -> aiohttp.web.Response:
    return aiohttp.web.json_response(status_body(code, reason, message, success=success), status=code)


class SandboxEmulator(SandboxStore):
    """The store of sandbox.k8s_store plus the request handling described in the module docstring."""

    # --- request handling ----------------------------------------------------------------
    @override
    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # kmock's URL parser reads "/api/v1/namespaces[/NAME]" as a namespace prefix (and
        # crashes on the bare list); an empty namespace segment makes it parse as a resource.
        match = _NAMESPACE_PATH.match(raw_request.path)
        if match:
            url = raw_request.rel_url.with_path(f"/api/v1/namespaces//namespaces{match.group(1) or ''}")
            raw_request = raw_request.clone(rel_url=url)
        return await super().__call__(raw_request)

    @override
    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if request.namespace == "":  # see __call__: namespaces are cluster-scoped
            # In place, not attrs.evolve(): kmock matches reactions by the logged request's identity.
            object.__setattr__(request, "namespace", None)
        try:
            if request.resource is not None and request.name is not None:
                if request.resource == PODS and request.subresource == "eviction":
                    return await self._serve_eviction(request)
                if request.subresource == "scale" and request.resource.plural in _SCALABLE:
                    return await self._serve_scale(request)
                if request.method == kmock.method.PUT and request.subresource in (None, "status"):
                    return await self._serve_replace(request)
            if (request.action == kmock.action.CREATE and request.resource is not None
                    and isinstance(request.data, dict) and not request.subresource):
                meta = request.data.setdefault("metadata", {})
                if isinstance(meta, dict):
                    apply_defaults(meta, request.namespace or meta.get("namespace"), meta.get("name"))
                request.data.update(self._type_fields(request.resource, request.data))
            return await super()._handle(request)
        finally:
            if len(self._requests) > _REQUEST_LOG_MAX:
                del self._requests[: -_REQUEST_LOG_MAX // 2]
            logs: list[list[Any]] = [payload._requests for payload in self._payloads]
            for log_list in [*logs, *self._errors]:  # errors too: kmock keeps every 404 as one
                if len(log_list) > _REQUEST_LOG_MAX:
                    del log_list[: -_REQUEST_LOG_MAX // 2]

    @override
    async def _serve_list(self, request: kmock.Request) -> kmock.Payload:
        if request.resource not in self._get_resources():
            raise kmock.KubernetesResourceNotFoundError()
        params = request.params
        try:
            labels = parse_label_selector(params.get("labelSelector", ""))
            fields = parse_field_selector(params.get("fieldSelector", ""))
            limit = int(params.get("limit") or 0)
            after = _decode_continue(params["continue"]) if params.get("continue") else None
        except ValueError as exc:
            raise kmock.KubernetesError(status=400, reason="BadRequest", message=str(exc),
                                        details={"causes": [{"message": str(exc)}]}) from exc
        async with self._lock:
            rows = [(ns or "", name, obj.raw) for (res, ns, name), obj in self._objects.items()
                    if res == request.resource and not obj.deleted
                    and (request.namespace is None or ns == request.namespace)]
        rows.sort(key=lambda row: (row[0], row[1]))
        matched = [row for row in rows
                   if (after is None or (row[0], row[1]) > after)
                   and labels_match(labels, labels_of(row[2]))
                   and fields_match(fields, row[2], row[0])]
        page = matched[:limit] if limit > 0 else matched
        metadata: dict[str, Any] = {"resourceVersion": "1"}
        if len(page) < len(matched):
            metadata["continue"] = _encode_continue(page[-1][0], page[-1][1])
            metadata["remainingItemCount"] = len(matched) - len(page)
        res = request.resource
        kind = self.resources[res].kind if res in self.resources else None
        return {"apiVersion": f"{res.group}/{res.version}".lstrip("/"), "kind": f"{kind or 'Object'}List",
                "metadata": metadata, "items": [row[2] for row in page]}

    @override
    async def _serve_watch(self, request: kmock.Request) -> AsyncIterator[kmock.Payload]:
        # kmock ignores timeoutSeconds (a client watch would never end) and the selectors.
        labels = parse_label_selector(request.params.get("labelSelector", ""))
        fields = parse_field_selector(request.params.get("fieldSelector", ""))
        timeout = float(request.params.get("timeoutSeconds") or 0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout > 0 else math.inf
        stream = aiter(super()._serve_watch(request))
        try:
            while True:
                try:
                    event = await asyncio.wait_for(anext(stream), None if deadline == math.inf
                                                   else max(0.0, deadline - loop.time()))
                except (TimeoutError, StopAsyncIteration):
                    return
                obj = event.get("object") if isinstance(event, dict) else None
                if isinstance(obj, dict):
                    ns = (obj.get("metadata") or {}).get("namespace") or ""
                    if not (labels_match(labels, labels_of(obj)) and fields_match(fields, obj, ns)):
                        continue
                yield event
        finally:
            if isinstance(stream, AsyncGenerator):  # release kmock's bus subscription now
                await stream.aclose()

    async def _serve_replace(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        assert request.resource is not None and request.name is not None
        if not isinstance(request.data, dict):
            return _status_response(400, "BadRequest", "body must be an object")
        async with self._lock:
            key = (request.resource, request.namespace, request.name)
            if key not in self._objects or self._objects[key].deleted:
                raise kmock.KubernetesObjectNotFoundError()
            body = request.data
            if request.subresource == "status":  # replacing status must not touch spec/metadata
                body = {**self._objects[key].raw, "status": request.data.get("status")}
            await self._store_locked(request.resource, request.namespace, request.name, body)
            return aiohttp.web.json_response(self._objects[key].raw)

    async def _serve_scale(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        # kmock would merge the whole Scale body (kind: Scale included) into the workload.
        assert request.resource is not None and request.name is not None
        key = (request.resource, request.namespace, request.name)
        if request.method in (kmock.method.PATCH, kmock.method.PUT):
            replicas = ((request.data or {}).get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                return _status_response(422, "Invalid", "spec.replicas must be a non-negative integer")
            if not await self.merge(request.resource, request.namespace, request.name,
                                    {"spec": {"replicas": replicas}}):
                raise kmock.KubernetesObjectNotFoundError()
        elif request.method != kmock.method.GET:
            raise kmock.KubernetesEndpointNotFoundError()
        if key not in self._objects or self._objects[key].deleted:
            raise kmock.KubernetesObjectNotFoundError()
        obj = self._objects[key].raw
        meta = obj.get("metadata") or {}
        selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        return aiohttp.web.json_response({
            "apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "creationTimestamp") if k in meta},
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                       "selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items()))},
        })

    async def _serve_eviction(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        ns, name = request.namespace, request.name
        assert name is not None
        data = request.data if isinstance(request.data, dict) else {}
        dry_run = "All" in ((data.get("deleteOptions") or {}).get("dryRun") or [])
        async with self._lock:
            if not self.exists(PODS, ns, name):
                return _status_response(404, "NotFound", f'pods "{name}" not found')
            pod = self._objects[PODS, ns, name].raw
            pods = self.live(PODS, ns)
            budgets = [pdb for pdb in self.live(PDBS, ns) if pdb_selects(pdb, pod)]
            # Like the real API: pods that are not running (or already going) skip the budget check.
            phase = (pod.get("status") or {}).get("phase")
            if not is_terminating(pod) and phase not in ("Pending", "Succeeded", "Failed"):
                for pdb in budgets:
                    if pdb_status(pdb, pods)["disruptionsAllowed"] <= 0:
                        return _status_response(
                            429, "TooManyRequests",
                            "Cannot evict pod as it would violate the pod's disruption budget.")
            if not dry_run:
                await self._remove_locked(PODS, ns, name)
                remaining = self.live(PODS, ns)
                for pdb in budgets:  # readers see the spent budget before the next reconcile pass
                    pdb_name = pdb["metadata"]["name"]
                    self._objects[PDBS, ns, pdb_name].patch({"status": pdb_status(pdb, remaining)})
                    await self._buses[PDBS].put({"type": "MODIFIED", "object": self._objects[PDBS, ns, pdb_name].raw})
        log.info("evicted pod %s/%s%s", ns, name, " (dry run)" if dry_run else "")
        return _status_response(201, "", "", success=True)


def _encode_continue(namespace: str, name: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([namespace, name]).encode()).decode()


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        ns, name = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(ns), str(name)
    except Exception as exc:  # any garbage in the token is the client's fault
        raise ValueError(f"invalid continue token: {token!r}") from exc
