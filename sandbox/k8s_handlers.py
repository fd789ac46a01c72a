"""Request handling of the local Kubernetes API, on the object store of sandbox.k8s_store.

`SandboxEmulator` is the aiohttp handler of one local cluster. It serves object URLs itself
(parsed by sandbox.k8s_http): list with label/field selectors and limit/continue pages; get;
create with server-side defaults (uid, creationTimestamp, generateName) and AlreadyExists;
replace (PUT) and patch (the three content types of sandbox.k8s_patch), where a
metadata.resourceVersion other than the current one gets 409 Conflict, writes to an object
leave its status alone and writes to /status touch nothing else; delete (finalizers,
preconditions, dry run; a namespace's objects go with it); the scale and eviction
subresources (sandbox.k8s_subresources) and watches (sandbox.k8s_watch). Discovery URLs go to
kmock through sandbox.k8s_kmock_adapter. Used by sandbox.k8s_emulator (LocalKubernetes), whose
reconciler writes through the same store. Not emulated: server-side apply (415), the
Orphan propagation policy (dependents always go, in the background).
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from types import TracebackType
from typing import Any

import aiohttp.web

from sandbox.k8s_http import (
    ApiError,
    ApiRequest,
    already_exists,
    bad_request,
    conflict,
    details_of,
    invalid,
    json_reply,
    no_such_resource,
    not_found,
    parse_request,
    status_body,
)
from sandbox.k8s_kmock_adapter import DiscoveryServer, ResourceType
from sandbox.k8s_patch import apply_patch
from sandbox.k8s_selectors import fields_match, labels_match, labels_of, parse_field_selector, parse_label_selector
from sandbox.k8s_store import NAMESPACES, PODS, SandboxStore
from sandbox.k8s_subresources import SCALABLE, serve_eviction, serve_scale
from sandbox.k8s_watch import serve_watch

__all__ = ["SandboxEmulator", "status_body"]

log = logging.getLogger(__name__)

_SERVER_OWNED_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")
_UNDELETABLE_NAMESPACES = ("default", "kube-system", "kube-public")


def _method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


class SandboxEmulator(SandboxStore):
    """The store plus the request handling described in the module docstring; enter it to serve."""

    def __init__(self) -> None:
        super().__init__()
        self._discovery = DiscoveryServer()

    async def __aenter__(self) -> SandboxEmulator:
        await self._discovery.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._discovery.__aexit__(exc_type, exc, tb)

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        req = await parse_request(raw)
        if req is None:
            return await self._discovery(raw)
        try:
            rtype = self.catalogue.get(req.resource)
            if rtype is None or (req.namespace is not None and not rtype.namespaced) or (
                    rtype.namespaced and req.namespace is None and req.verb not in ("list", "watch")) or (
                    req.subresource is not None and req.subresource not in rtype.subresources):
                raise no_such_resource()
            if req.verb == "watch":
                return await serve_watch(self, req, raw)
            code, body = self._dispatch(req, rtype)
            return json_reply(body, code)
        except ApiError as exc:
            return json_reply(exc.body(), exc.code)
        except Exception as exc:  # a bug here must reach the client as a Status, not a dropped connection
            log.exception("%s %s failed", raw.method, raw.path)
            return json_reply(status_body(500, "InternalError", f"Internal error occurred: {exc}"), 500)

    def _dispatch(self, req: ApiRequest, rtype: ResourceType) -> tuple[int, dict[str, Any]]:
        sub, verb = req.subresource, req.verb
        if sub == "scale" and req.resource.plural in SCALABLE:
            return serve_scale(self, req)
        if sub == "eviction" and req.resource == PODS and verb == "create":
            return serve_eviction(self, req)
        if sub not in (None, "status"):
            raise _method_not_allowed()
        if verb == "list" and sub is None:
            return 200, self._list(req, rtype)
        if verb == "get":
            return 200, self._current(req)
        if verb == "create" and sub is None:
            return 201, self._create(req, rtype)
        if verb == "update":
            return 200, self._update(req, rtype, req.json_object())
        if verb == "patch":
            return 200, self._update(req, rtype, apply_patch(req.content_type, rtype.kind, self._current(req),
                                                             req.json()))
        if verb == "delete" and sub is None:
            return 200, self._delete(req)
        if verb == "deletecollection" and sub is None:
            gone = self._list(req, rtype)  # the selected objects, as they were before deletion
            if not req.dry_run:
                for obj in gone["items"]:
                    self.remove(req.resource, obj["metadata"].get("namespace"), obj["metadata"]["name"])
            return 200, gone
        raise _method_not_allowed()

    def _current(self, req: ApiRequest) -> dict[str, Any]:
        obj = self.get(req.resource, req.namespace, str(req.name))
        if obj is None:
            raise not_found(req.resource, str(req.name))
        return obj

    def _list(self, req: ApiRequest, rtype: ResourceType) -> dict[str, Any]:
        params = req.params
        try:
            labels = parse_label_selector(params.get("labelSelector", ""))
            fields = parse_field_selector(params.get("fieldSelector", ""))
            limit = int(params.get("limit") or 0)
            after = _decode_continue(params["continue"]) if params.get("continue") else None
        except ValueError as exc:
            raise bad_request(str(exc)) from exc
        rows = sorted(((obj["metadata"].get("namespace") or "", obj["metadata"]["name"], obj)
                       for obj in self.live(req.resource, req.namespace)), key=lambda row: (row[0], row[1]))
        matched = [row for row in rows
                   if (after is None or (row[0], row[1]) > after)
                   and labels_match(labels, labels_of(row[2])) and fields_match(fields, row[2], row[0])]
        page = matched[:limit] if limit > 0 else matched
        metadata: dict[str, Any] = {"resourceVersion": self.resource_version}
        if len(page) < len(matched):
            metadata["continue"] = _encode_continue(page[-1][0], page[-1][1])
            metadata["remainingItemCount"] = len(matched) - len(page)
        return {"apiVersion": req.resource.api_version, "kind": f"{rtype.kind}List", "metadata": metadata,
                "items": [row[2] for row in page]}

    def _create(self, req: ApiRequest, rtype: ResourceType) -> dict[str, Any]:
        res, body = req.resource, req.json_object()
        meta = body["metadata"] = dict(body["metadata"]) if isinstance(body.get("metadata"), dict) else {}
        ns = req.namespace
        if ns and meta.get("namespace") not in (None, "", ns):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        if ns and self.get(NAMESPACES, None, ns) is None:
            raise not_found(NAMESPACES, ns)
        if meta.get("resourceVersion"):
            raise bad_request("resourceVersion should not be set on objects to be created")
        while not meta.get("name") and meta.get("generateName"):
            candidate = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
            meta["name"] = None if self.exists(res, ns, candidate) else candidate
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            raise invalid(rtype, "", "metadata.name", "Required value: name or generateName is required")
        if self.get(res, ns, name) is not None:
            raise already_exists(res, name)
        if req.dry_run:
            return {**body, **self.type_fields(res, body)}
        return self.put(res, ns, name, body)

    def _update(self, req: ApiRequest, rtype: ResourceType, body: dict[str, Any]) -> dict[str, Any]:
        """PUT and PATCH alike: `body` is the whole new object as the client wants it."""
        res, ns, name = req.resource, req.namespace, str(req.name)
        current = self._current(req)
        raw_meta = body.get("metadata")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        if meta.get("name") not in (None, name):
            raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
        if ns and meta.get("namespace") not in (None, "", ns):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        old_meta = current["metadata"]
        if meta.get("resourceVersion") and str(meta["resourceVersion"]) != old_meta["resourceVersion"]:
            raise conflict(res, name)
        if meta.get("uid") and meta["uid"] != old_meta.get("uid"):
            raise conflict(res, name, f"Precondition failed: UID in precondition: {meta['uid']}, "
                                      f"UID in object meta: {old_meta.get('uid')}")
        if req.subresource == "status":  # the status writer (a controller) owns nothing else
            new = {key: value for key, value in current.items() if key != "status"}
            if body.get("status") is not None:
                new["status"] = body["status"]
        else:
            new = {key: value for key, value in body.items() if key != "status"}
            status = current.get("status") if "status" in rtype.subresources else body.get("status")
            if status is not None:
                new["status"] = status
            new["metadata"] = {k: v for k, v in meta.items() if k not in _SERVER_OWNED_META}
            new["metadata"].update({k: old_meta[k] for k in _SERVER_OWNED_META if k in old_meta})
        if req.dry_run:
            return {**new, **self.type_fields(res, new)}
        return self.put(res, ns, name, new)

    def _delete(self, req: ApiRequest) -> dict[str, Any]:
        res, ns, name = req.resource, req.namespace, str(req.name)
        current = self._current(req)
        options = req.json()
        options = options if isinstance(options, dict) else {}
        uid, version = current["metadata"].get("uid"), current["metadata"]["resourceVersion"]
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != uid:
            raise conflict(res, name, f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {uid}")
        if pre.get("resourceVersion") and str(pre["resourceVersion"]) != version:
            raise conflict(res, name, f"Precondition failed: ResourceVersion in precondition: "
                                      f"{pre['resourceVersion']}, ResourceVersion in object meta: {version}")
        if res == NAMESPACES and name in _UNDELETABLE_NAMESPACES:
            raise ApiError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                           details_of(res, name))
        dry_run = req.dry_run or "All" in (options.get("dryRun") or [])
        final = current if dry_run else self.remove(res, ns, name)
        if final is not None and (res == PODS or final["metadata"].get("finalizers")):
            return final  # pods, and objects finalizers still hold, come back as objects
        log.info("deleted %s %s", res.qualified, f"{ns}/{name}" if ns else name)
        return status_body(200, "", "", success=True, details=details_of(res, name, uid=uid))


def _encode_continue(namespace: str, name: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([namespace, name]).encode()).decode()


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        ns, name = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(ns), str(name)
    except Exception as exc:  # any garbage in the token is the client's fault
        raise ValueError(f"invalid continue token: {token!r}") from exc
