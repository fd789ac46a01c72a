"""Shared state and object access of the local sandbox cluster's reconciler.

`ReconcilerBase` holds the per-pass read caches over the emulator (`_live`, `_owned`), the
cache-dropping writes (`_store`/`_merge`/`_remove`), and the once-per-object warning that
lets a malformed object be skipped without stopping the loop; plus ownership helpers.
Base class of sandbox.k8s_workloads.WorkloadControllers, sandbox.k8s_scheduling.Scheduler and
so of sandbox.k8s_reconciler.Reconciler.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sandbox.k8s_kmock_adapter import Resource
from sandbox.k8s_selectors import is_terminating
from sandbox.k8s_store import PODS, SandboxStore

log = logging.getLogger("sandbox.k8s_reconciler")  # the reconciler's logger, as before the split

DONE_PHASES = ("Succeeded", "Failed")


def controller_ref(obj: dict[str, Any]) -> dict[str, Any] | None:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return next((ref for ref in refs if isinstance(ref, dict) and ref.get("controller")), None) \
        if isinstance(refs, list) else None


def owned_by(obj: dict[str, Any], kind: str, owner: dict[str, Any]) -> bool:
    ref, meta = controller_ref(obj), owner["metadata"]
    return bool(ref and ref.get("kind") == kind and ref.get("name") == meta["name"]
                and (not ref.get("uid") or ref.get("uid") == meta.get("uid")))


def is_alive(pod: dict[str, Any]) -> bool:
    return not is_terminating(pod) and (pod.get("status") or {}).get("phase") not in DONE_PHASES


class ReconcilerBase:
    """Caches and write helpers shared by the reconciler's controllers; see the module docstring."""

    def __init__(self, emu: SandboxStore) -> None:
        self.emu = emu
        self._name_seq: collections.Counter[str] = collections.Counter()
        self._warned: set[str] = set()
        self._unready: set[tuple[str, str]] = set()  # pods marked not ready because their node is NotReady
        # Per-pass read caches; every write through _store/_merge/_remove drops its resource.
        self._cache: dict[tuple[Resource, str | None], list[dict[str, Any]]] = {}
        self._index: dict[Resource, dict[tuple[str, str, str], list[dict[str, Any]]]] = {}

    def _live(self, res: Resource, namespace: str | None = None) -> list[dict[str, Any]]:
        if (res, namespace) in self._cache:
            return self._cache[res, namespace]
        if namespace is not None:
            found = [o for o in self._live(res) if o["metadata"].get("namespace") == namespace]
            return self._cache.setdefault((res, namespace), found)
        # Shape check once here, so an odd object cannot break the steps that scan all objects.
        good = []
        for obj in self.emu.live(res):
            meta = obj.get("metadata")
            if (isinstance(meta, dict) and isinstance(meta.get("name"), str)
                    and all(obj.get(k) is None or isinstance(obj[k], dict) for k in ("spec", "status"))
                    and (res != PODS or isinstance(obj.get("spec"), dict))):
                good.append(obj)
            else:
                self._warn("shape", obj, ValueError("metadata/spec/status must be objects"))
        return self._cache.setdefault((res, None), good)

    def _owned(self, res: Resource, kind: str, owner: dict[str, Any]) -> list[dict[str, Any]]:
        # Indexed by controller reference: scanning all pods per workload is quadratic.
        if res not in self._index:
            index: dict[tuple[str, str, str], list[dict[str, Any]]] = collections.defaultdict(list)
            for obj in self._live(res):
                ref = controller_ref(obj)
                if ref:
                    index[str(obj["metadata"].get("namespace")), str(ref.get("kind")), str(ref.get("name"))].append(obj)
            self._index[res] = index
        key = (str(owner["metadata"].get("namespace")), kind, str(owner["metadata"]["name"]))
        return [obj for obj in self._index[res].get(key, []) if owned_by(obj, kind, owner)]

    def _forget(self, res: Resource) -> None:
        self._index.pop(res, None)
        for key in [key for key in self._cache if key[0] == res]:
            del self._cache[key]

    # Async although the store is synchronous: the steps stay free to await (a slow source) later.
    async def _store(self, res: Resource, ns: str | None, name: str, body: dict[str, Any]) -> None:
        self._forget(res)
        self.emu.put(res, ns, name, body)

    async def _merge(self, res: Resource, ns: str | None, name: str, patch: dict[str, Any]) -> None:
        self._forget(res)
        self.emu.merge(res, ns, name, patch)

    async def _remove(self, res: Resource, ns: str | None, name: str) -> None:
        self._forget(res)
        self.emu.remove(res, ns, name)

    async def _each(self, step: str, res: Resource,
                    fn: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        for obj in self._live(res):
            try:
                await fn(obj)
            except Exception as exc:
                self._warn(step, obj, exc)

    def _warn(self, step: str, obj: dict[str, Any], exc: Exception) -> None:
        meta = obj.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        where = "/".join(str(part) for part in (meta.get("namespace"), meta.get("name")) if part)
        key = f"{step} {where}: {type(exc).__name__}: {exc}"
        if key not in self._warned:  # once per object and error, not every interval
            self._warned.add(key)
            log.warning("skipping malformed object in %s", key)
