"""The object store of the local sandbox cluster's Kubernetes emulator.

`SandboxStore` extends `kmock.KubernetesEmulator` with object access shared by the HTTP
handlers and the reconciler: `live`/`exists` reads, and `store`/`merge`/`remove` writes that
emit watch events like API calls do, with server-side defaults (uid, namespace,
creationTimestamp). It is the base class of sandbox.k8s_handlers.SandboxEmulator; the
resource handles and `now_iso` are used by sandbox.k8s_handlers and the reconciler modules.
"""

from __future__ import annotations

import copy
import datetime
import uuid
from collections.abc import Mapping
from typing import Any

import kmock

PODS = kmock.resource("", "v1", "pods")
NODES = kmock.resource("", "v1", "nodes")
NAMESPACES = kmock.resource("", "v1", "namespaces")
DEPLOYMENTS = kmock.resource("apps", "v1", "deployments")
REPLICASETS = kmock.resource("apps", "v1", "replicasets")
STATEFULSETS = kmock.resource("apps", "v1", "statefulsets")
DAEMONSETS = kmock.resource("apps", "v1", "daemonsets")
PDBS = kmock.resource("policy", "v1", "poddisruptionbudgets")


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SandboxStore(kmock.KubernetesEmulator):
    """kmock's in-memory API server plus the object access described in the module docstring."""

    # --- object access shared with the reconciler ------------------------------------------
    def live(self, resource: kmock.resource, namespace: str | None = None) -> list[dict[str, Any]]:
        """Current (non-deleted) objects of one resource; nested dicts are shared, do not mutate."""
        return [obj.raw for (res, ns, _), obj in self._objects.items()
                if res == resource and not obj.deleted and (namespace is None or ns == namespace)]

    def exists(self, resource: kmock.resource, namespace: str | None, name: str, *, ever: bool = False) -> bool:
        key = (resource, namespace, name)
        return key in self._objects and (ever or not self._objects[key].deleted)

    def ensure_metadata(self) -> None:
        """Fill namespace/uid/creationTimestamp on objects injected straight into `objects`."""
        for (res, ns, name), obj in self._objects.items():
            if obj.deleted:
                continue
            raw = obj.raw
            if "kind" not in raw or "apiVersion" not in raw:
                obj.update(self._type_fields(res, raw))  # .raw is a shallow copy: write through the view
            meta = raw.get("metadata")
            if meta is None:
                obj["metadata"] = meta = {}
            if isinstance(meta, dict) and ("uid" not in meta or (ns and "namespace" not in meta)):
                apply_defaults(meta, ns, name)

    def _type_fields(self, resource: kmock.resource, body: Mapping[str, Any]) -> dict[str, Any]:
        # The official client omits kind/apiVersion unless the caller sets them on the model.
        kind = self.resources[resource].kind if resource in self.resources else None
        return {"apiVersion": body.get("apiVersion") or f"{resource.group}/{resource.version}".lstrip("/"),
                "kind": body.get("kind") or kind or "Unknown"}

    def kind_info(self, api_version: str, kind: str) -> tuple[kmock.resource, bool]:
        """Map a manifest's apiVersion/kind to the stored resource and whether it is namespaced."""
        group, _, version = api_version.rpartition("/")
        for res in self.resources:
            info = self.resources[res]
            if res.group == group and res.version == version and info.kind == kind:
                return res, bool(info.namespaced)
        raise ValueError(f"unknown kind {kind!r} in {api_version!r}")

    async def store(self, resource: kmock.resource, namespace: str | None, name: str, body: dict[str, Any]) -> None:
        """Create or replace an object, keeping the identity (uid, creationTimestamp) of a replaced one."""
        async with self._lock:
            await self._store_locked(resource, namespace, name, body)

    async def merge(self, resource: kmock.resource, namespace: str | None, name: str, patch: dict[str, Any]) -> bool:
        """Merge-patch a live object (lists are replaced); False if it is gone meanwhile."""
        async with self._lock:
            key = (resource, namespace, name)
            if key not in self._objects or self._objects[key].deleted:
                return False
            self._objects[key].patch(patch)
            await self._buses[resource].put({"type": "MODIFIED", "object": self._objects[key].raw})
            return True

    async def remove(self, resource: kmock.resource, namespace: str | None, name: str) -> bool:
        async with self._lock:
            return await self._remove_locked(resource, namespace, name)

    async def _store_locked(self, resource: kmock.resource, namespace: str | None, name: str,
                            body: dict[str, Any]) -> None:
        key = (resource, namespace, name)
        body = copy.deepcopy(body)
        meta = body.setdefault("metadata", {})
        existing = self._objects[key] if key in self._objects and not self._objects[key].deleted else None
        if existing is not None:
            old_meta = existing.raw.get("metadata") or {}
            for field in ("uid", "creationTimestamp"):
                if field in old_meta:
                    meta.setdefault(field, old_meta[field])
        apply_defaults(meta, namespace, name)
        body.update(self._type_fields(resource, body))
        if key not in self._objects:
            self._objects[key] = body
        else:
            self._objects[key].create(body)  # a new version; also revives a soft-deleted object
        event = "MODIFIED" if existing is not None else "ADDED"
        await self._buses[resource].put({"type": event, "object": self._objects[key].raw})

    async def _remove_locked(self, resource: kmock.resource, namespace: str | None, name: str) -> bool:
        # Mirrors kmock's DELETE: finalizers turn deletion into a deletionTimestamp mark.
        key = (resource, namespace, name)
        if key not in self._objects or self._objects[key].deleted:
            return False
        obj = self._objects[key]
        meta = obj.raw.get("metadata") or {}
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                obj.patch({"metadata": {"deletionTimestamp": now_iso()}})
                await self._buses[resource].put({"type": "MODIFIED", "object": obj.raw})
            return True
        raw = obj.raw
        obj.delete()
        await self._buses[resource].put({"type": "DELETED", "object": raw})
        return True


def apply_defaults(meta: dict[str, Any], namespace: str | None, name: str | None) -> None:
    # What the real API server fills in on create; ownerReferences need the uid.
    if namespace:
        meta.setdefault("namespace", namespace)
    if not meta.get("name") and name:
        meta["name"] = name
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
    meta.setdefault("uid", str(uuid.uuid4()))
    meta.setdefault("creationTimestamp", now_iso())
