"""The controllers and scheduler that make the local sandbox cluster behave like a real one.

`Reconciler.run()` is an asyncio task on the emulator's loop (started by
sandbox.k8s_emulator.LocalKubernetes). Every pass it: joins/removes nodes from registered
node sources, marks nodes Ready like a kubelet, garbage-collects pods whose node or owner is
gone, reconciles Deployments -> ReplicaSets -> Pods, StatefulSets and DaemonSets, schedules
pending pods on nodes that are ready, cordon-free, tolerated, matching and have room, and
refreshes workload and PodDisruptionBudget statuses. Writes happen only when something
changed, so kmock's per-object history does not grow on a quiet cluster. A malformed object
is logged once and skipped; it never stops the loop.
Seeders: seed workloads and nodes; workload pods are created here. Pods seeded with
spec.nodeName and status are left alone (unless their node does not exist).
The steps live in mixins: sandbox.k8s_workloads (workloads, statuses) and
sandbox.k8s_scheduling (scheduler, kubelet, node fit checks) on sandbox.k8s_reconciler_base
(caches, writes); this module keeps the pass itself, nodes and garbage collection, and
re-exports the helpers other modules import from here.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
from collections.abc import Callable
from typing import Any

from sandbox import k8s_handlers as h
from sandbox.k8s_reconciler_base import controller_ref, owned_by
from sandbox.k8s_scheduling import Scheduler, node_matches, node_ready, pod_ready, pod_requests, tolerates
from sandbox.k8s_store import DAEMONSETS, DEPLOYMENTS, NODES, PDBS, PODS, REPLICASETS, STATEFULSETS, now_iso
from sandbox.k8s_workloads import WorkloadControllers, template_hash

__all__ = [
    "MANAGED_BY_SOURCE", "NodeSource", "Reconciler", "controller_ref", "node_matches", "node_ready",
    "owned_by", "pod_ready", "pod_requests", "template_hash", "tolerates",
]

log = logging.getLogger(__name__)

MANAGED_BY_SOURCE = "cloudoptim.io/managed-by-source"
NodeSource = Callable[[], list[dict[str, Any]]]
_OWNERS = {"Deployment": DEPLOYMENTS, "ReplicaSet": REPLICASETS,
           "StatefulSet": STATEFULSETS, "DaemonSet": DAEMONSETS}


class Reconciler(WorkloadControllers, Scheduler):
    """One per cluster; see the module docstring. `passes` counts completed passes."""

    def __init__(self, emu: h.SandboxEmulator, *, interval: float, node_join_delay: float) -> None:
        super().__init__(emu)
        self.interval, self.node_join_delay = interval, node_join_delay
        self.passes = 0
        self.pass_lock = asyncio.Lock()  # LocalKubernetes.put() takes it so seeding is atomic
        self._sources: list[NodeSource] = []
        self._first_seen: dict[str, float] = {}
        self._seen_owner_uids: set[str] = set()

    def add_node_source(self, fn: NodeSource) -> None:
        if fn not in self._sources:
            self._sources.append(fn)

    async def run(self) -> None:
        while True:
            try:
                await self.reconcile_once()
            except Exception:  # a bug in one pass must not end the cluster
                log.exception("reconcile pass failed")
            await asyncio.sleep(self.interval)

    async def reconcile_once(self) -> None:
        try:
            desired = await self._poll_sources()  # outside the lock: sources may be slow (boto3)
            async with self.pass_lock:
                self._cache.clear()  # HTTP clients may have changed anything since the last pass
                self._index.clear()
                self.emu.ensure_metadata()
                if desired is not None:
                    await self._sync_nodes(*desired)
                await self._each("node", NODES, self._kubelet_node)
                await self._collect_garbage()
                await self._each("deployment", DEPLOYMENTS, self._deployment)
                await self._each("replicaset", REPLICASETS, self._replicaset)
                await self._each("statefulset", STATEFULSETS, self._statefulset)
                await self._each("daemonset", DAEMONSETS, self._daemonset)
                await self._schedule()
                for kind, res in (("ReplicaSet", REPLICASETS), ("Deployment", DEPLOYMENTS),
                                  ("StatefulSet", STATEFULSETS), ("DaemonSet", DAEMONSETS),
                                  ("PodDisruptionBudget", PDBS)):
                    await self._each(f"{kind} status", res, functools.partial(self._refresh_status, kind, res))
        finally:
            self.passes += 1

    # --- nodes -----------------------------------------------------------------------------
    async def _poll_sources(self) -> tuple[dict[str, dict[str, Any]], bool] | None:
        if not self._sources:
            return None
        desired: dict[str, dict[str, Any]] = {}
        complete = True
        for fn in list(self._sources):
            try:
                for manifest in await asyncio.to_thread(fn):
                    desired[str(manifest["metadata"]["name"])] = manifest
            except Exception as exc:
                complete = False  # a failing source must not make its nodes vanish
                if f"source {fn!r}: {exc}" not in self._warned:  # a down endpoint fails every pass
                    self._warned.add(f"source {fn!r}: {exc}")
                    log.warning("node source %r failed; its nodes are kept", fn, exc_info=True)
        return desired, complete

    async def _sync_nodes(self, desired: dict[str, dict[str, Any]], complete: bool) -> None:
        now = asyncio.get_running_loop().time()
        for name, manifest in desired.items():
            if self.emu.exists(NODES, None, name):
                self._first_seen.pop(name, None)
            elif now - self._first_seen.setdefault(name, now) >= self.node_join_delay:
                node = copy.deepcopy(manifest)
                node.setdefault("apiVersion", "v1")
                node.setdefault("kind", "Node")
                node["metadata"].setdefault("annotations", {})[MANAGED_BY_SOURCE] = "true"
                status = node.setdefault("status", {})
                status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != "Ready"]
                status["conditions"].append(self._ready_condition())
                await self._store(NODES, None, name, node)
                self._first_seen.pop(name, None)
                log.info("node %s joined", name)
        if not complete:
            return
        for name in [n for n in self._first_seen if n not in desired]:
            del self._first_seen[name]
        for node in self._live(NODES):
            annotations = node["metadata"].get("annotations") or {}
            if annotations.get(MANAGED_BY_SOURCE) == "true" and node["metadata"]["name"] not in desired:
                await self._remove(NODES, None, node["metadata"]["name"])
                log.info("node %s left (no longer in its source)", node["metadata"]["name"])

    @staticmethod
    def _ready_condition() -> dict[str, Any]:
        now = now_iso()
        return {"type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now}

    async def _kubelet_node(self, node: dict[str, Any]) -> None:
        # A registered node without a Ready condition gets one, as its kubelet would post it.
        status = node.get("status") or {}
        patch: dict[str, Any] = {}
        if not any(c.get("type") == "Ready" for c in status.get("conditions") or []):
            patch["conditions"] = [*(status.get("conditions") or []), self._ready_condition()]
        if "allocatable" not in status and "capacity" in status:
            patch["allocatable"] = status["capacity"]
        if patch:
            await self._merge(NODES, None, node["metadata"]["name"], {"status": patch})

    async def _collect_garbage(self) -> None:
        live_uids = {str(o["metadata"].get("uid")) for res in _OWNERS.values() for o in self._live(res)}
        self._seen_owner_uids |= live_uids
        # Only owners we saw alive: seeded pods may point at owners that were never seeded.
        for res in (PODS, REPLICASETS):
            for obj in self._live(res):
                try:
                    ref = controller_ref(obj)
                    uid = str(ref.get("uid")) if ref else None
                    if ref and ref.get("kind") in _OWNERS and uid in self._seen_owner_uids and uid not in live_uids:
                        await self._remove(res, obj["metadata"].get("namespace"), obj["metadata"]["name"])
                except Exception as exc:
                    self._warn("garbage collector", obj, exc)
