"""The object store of the local sandbox cluster: live objects, resourceVersions and watch events.

`SandboxStore` holds the live objects per resource and makes every write the API server and its
controllers make: `put` (create or replace, keeping a replaced object's uid and creation time),
`merge` (an RFC 7386 merge patch) and `remove` (delete, or only mark deletionTimestamp while
finalizers remain; an object whose last finalizer goes is deleted). Each write bumps one
cluster-wide counter, stored as the object's metadata.resourceVersion, bumps
metadata.generation when a workload's spec changes, and publishes a watch `Event`. `subscribe`
hands a watcher the events since a resourceVersion still in the bounded history, or the current
objects. Writes are synchronous, so on the one asyncio loop a read-check-write never
interleaves with another request. Base class of sandbox.k8s_handlers.SandboxEmulator; the
reconciler modules write through it. The resource handles and `now_iso` are shared by all.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import datetime
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.k8s_kmock_adapter import Resource, ResourceType, bundled_catalogue
from sandbox.k8s_patch import merge_patch

PODS = Resource("", "v1", "pods")
NODES = Resource("", "v1", "nodes")
NAMESPACES = Resource("", "v1", "namespaces")
SERVICES = Resource("", "v1", "services")
DEPLOYMENTS = Resource("apps", "v1", "deployments")
REPLICASETS = Resource("apps", "v1", "replicasets")
STATEFULSETS = Resource("apps", "v1", "statefulsets")
DAEMONSETS = Resource("apps", "v1", "daemonsets")
PDBS = Resource("policy", "v1", "poddisruptionbudgets")
# Resources whose metadata.generation counts spec changes (their status reports observedGeneration).
_GENERATION = frozenset({DEPLOYMENTS, REPLICASETS, STATEFULSETS, DAEMONSETS, PDBS,
                         Resource("batch", "v1", "jobs"), Resource("batch", "v1", "cronjobs")})
# Watch history: a watch may resume from any resourceVersion of the last HISTORY writes.
HISTORY = 4000
# A watcher this far behind is cut off (its client re-lists), as the real server drops slow watchers.
_WATCHER_BACKLOG_MAX = 20000

Key = tuple[str | None, str]


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resource_version_of(obj: Mapping[str, Any]) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class Event:
    """One write: `obj` is the new state (the last one for DELETED), `old` the state before it."""

    rv: int
    resource: Resource
    type: str
    obj: dict[str, Any]
    old: dict[str, Any] | None = None


class Watcher:
    """The events of one resource for one open watch, in write order."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.overflowed = False


class ResourceVersionTooOld(Exception):
    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")


class SandboxStore:
    """Objects by resource and (namespace, name); see the module docstring."""

    def __init__(self) -> None:
        self.catalogue: dict[Resource, ResourceType] = bundled_catalogue()
        self._objects: dict[Resource, dict[Key, dict[str, Any]]] = collections.defaultdict(dict)
        self._ever: set[tuple[Resource, str | None, str]] = set()
        self._rv = 0
        self._history: collections.deque[Event] = collections.deque(maxlen=HISTORY)
        self._floor = 0  # events up to this resourceVersion have left the history
        self._watchers: set[Watcher] = set()

    # --- catalogue -------------------------------------------------------------------------
    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def kind_info(self, api_version: str, kind: str) -> tuple[Resource, bool]:
        """Map a manifest's apiVersion/kind to the stored resource and whether it is namespaced."""
        for res, rtype in self.catalogue.items():
            if res.api_version == api_version and rtype.kind == kind:
                return res, rtype.namespaced
        raise ValueError(f"unknown kind {kind!r} in {api_version!r}")

    def type_fields(self, res: Resource, body: Mapping[str, Any]) -> dict[str, Any]:
        # The official client omits kind/apiVersion unless the caller sets them on the model.
        rtype = self.catalogue.get(res)
        return {"apiVersion": body.get("apiVersion") or res.api_version,
                "kind": body.get("kind") or (rtype.kind if rtype else "Unknown")}

    # --- reads -----------------------------------------------------------------------------
    def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The live object or None; nested dicts are shared with the store: never mutate them."""
        return self._objects.get(res, {}).get((namespace, name))

    def live(self, res: Resource, namespace: str | None = None) -> list[dict[str, Any]]:
        """Live objects of one resource (of one namespace); shared with the store, do not mutate."""
        objs = self._objects.get(res, {})
        return [obj for (ns, _), obj in objs.items() if namespace is None or ns == namespace]

    def exists(self, res: Resource, namespace: str | None, name: str, *, ever: bool = False) -> bool:
        return (res, namespace, name) in self._ever if ever else self.get(res, namespace, name) is not None

    # --- writes ----------------------------------------------------------------------------
    def put(self, res: Resource, namespace: str | None, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace an object; returns the stored state."""
        old = self.get(res, namespace, name)
        new = copy.deepcopy(dict(body))
        if not isinstance(new.get("metadata"), dict):
            new["metadata"] = {}
        meta = new["metadata"]
        if old is not None:
            for key in ("uid", "creationTimestamp"):
                if key in old["metadata"]:
                    meta.setdefault(key, old["metadata"][key])
        apply_defaults(meta, namespace, name)
        new.update(self.type_fields(res, new))
        if res in _GENERATION:
            generation = int((old or {}).get("metadata", {}).get("generation") or 0)
            meta["generation"] = generation + 1 if old is None or old.get("spec") != new.get("spec") else generation
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):  # its last finalizer is gone
            self._objects[res].pop((namespace, name), None)
            self._publish(Event(self._rv, res, "DELETED", new, old))
        else:
            self._objects[res][namespace, name] = new
            self._ever.add((res, namespace, name))
            self._publish(Event(self._rv, res, "MODIFIED" if old is not None else "ADDED", new, old))
        return new

    def merge(self, res: Resource, namespace: str | None, name: str,
              patch: Mapping[str, Any]) -> dict[str, Any] | None:
        """Merge-patch a live object (null deletes, lists are replaced); None if it is gone."""
        old = self.get(res, namespace, name)
        return None if old is None else self.put(res, namespace, name, merge_patch(old, dict(patch)))

    def remove(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        """Delete an object; returns its last state (still live if finalizers hold it), None if absent."""
        old = self.get(res, namespace, name)
        if old is None:
            return None
        meta = old.get("metadata") or {}
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return old
            return self.put(res, namespace, name, merge_patch(old, {"metadata": {
                "deletionTimestamp": now_iso(), "deletionGracePeriodSeconds": 0}}))
        if res == NAMESPACES:  # the namespace controller empties a deleted namespace
            for other in list(self._objects):
                for ns, other_name in [key for key in self._objects[other] if key[0] == name]:
                    self.remove(other, ns, other_name)
        self._rv += 1
        final = {**old, "metadata": {**meta, "resourceVersion": str(self._rv)}}
        del self._objects[res][namespace, name]
        self._publish(Event(self._rv, res, "DELETED", final, old))
        return final

    # --- watch events ----------------------------------------------------------------------
    def subscribe(self, res: Resource, since: int | None) -> tuple[Watcher, list[Event]]:
        """A new watcher plus its backlog: the events after `since`, or (None/0) the current objects."""
        if not since:
            backlog = [Event(resource_version_of(obj), res, "ADDED", obj) for obj in self.live(res)]
        elif since < self._floor:
            raise ResourceVersionTooOld(since, self._floor + 1)
        else:
            backlog = [event for event in self._history if event.resource == res and event.rv > since]
        watcher = Watcher(res)
        self._watchers.add(watcher)  # in the same step as the backlog: no event falls in between
        return watcher, backlog

    def unsubscribe(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    def _publish(self, event: Event) -> None:
        if len(self._history) == self._history.maxlen:
            self._floor = self._history[0].rv
        self._history.append(event)
        for watcher in self._watchers:
            if watcher.resource == event.resource and not watcher.overflowed:
                watcher.overflowed = watcher.queue.qsize() >= _WATCHER_BACKLOG_MAX
                watcher.queue.put_nowait(event)


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
