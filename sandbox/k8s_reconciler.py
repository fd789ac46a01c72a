"""The controllers and scheduler that make the local sandbox cluster behave like a real one.

`Reconciler.run()` is an asyncio task on the emulator's loop (started by
sandbox.k8s_emulator.LocalKubernetes). Every pass it: registers, readies and removes nodes of
the registered node sources and plays their kubelets (sandbox.k8s_nodes), garbage-collects pods
whose node or owner is gone, reconciles Deployments -> ReplicaSets -> Pods, StatefulSets and
DaemonSets, schedules pending pods on nodes that are ready, cordon-free, tolerated, matching
and have room, and refreshes workload and PodDisruptionBudget statuses. Writes happen only
when something changed, so resourceVersions stay put and watches stay silent on a quiet
cluster. A malformed object is logged once and skipped; it never stops the loop.
Seeders: seed workloads and nodes; workload pods are created here. Pods seeded with
spec.nodeName and status are left alone (unless their node does not exist).
The steps live in mixins: sandbox.k8s_nodes (node lifecycle), sandbox.k8s_workloads
(workloads, statuses) and sandbox.k8s_scheduling (scheduler, kubelet, node fit checks) on
sandbox.k8s_reconciler_base (caches, writes); this module keeps the pass itself and garbage
collection, and re-exports the helpers other modules import from here.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging

from sandbox.k8s_nodes import MANAGED_BY_SOURCE, NodeLifecycle, NodeSource
from sandbox.k8s_reconciler_base import controller_ref, owned_by
from sandbox.k8s_scheduling import Scheduler, node_matches, node_ready, pod_ready, pod_requests, tolerates
from sandbox.k8s_store import DAEMONSETS, DEPLOYMENTS, NODES, PDBS, PODS, REPLICASETS, STATEFULSETS, SandboxStore
from sandbox.k8s_workloads import WorkloadControllers, template_hash

__all__ = [
    "MANAGED_BY_SOURCE", "NodeSource", "Reconciler", "controller_ref", "node_matches", "node_ready",
    "owned_by", "pod_ready", "pod_requests", "template_hash", "tolerates",
]

log = logging.getLogger(__name__)

_OWNERS = {"Deployment": DEPLOYMENTS, "ReplicaSet": REPLICASETS,
           "StatefulSet": STATEFULSETS, "DaemonSet": DAEMONSETS}


class Reconciler(WorkloadControllers, Scheduler, NodeLifecycle):
    """One per cluster; see the module docstring. `passes` counts completed passes."""

    def __init__(self, emu: SandboxStore, *, interval: float, node_join_delay: float) -> None:
        super().__init__(emu)
        self._init_nodes(node_join_delay)
        self.interval = interval
        self.passes = 0
        self.pass_lock = asyncio.Lock()  # LocalKubernetes.put() takes it so seeding is atomic
        self._seen_owner_uids: set[str] = set()

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
        # Pods bound to a node that is gone (deleted, or its machine terminated) are deleted, so
        # their controllers recreate them elsewhere in this same pass.
        nodes = {n["metadata"]["name"] for n in self._live(NODES)}
        orphaned: collections.Counter[str] = collections.Counter()
        for pod in self._live(PODS):
            node_name = pod["spec"].get("nodeName")
            if node_name and node_name not in nodes:
                await self._remove(PODS, pod["metadata"].get("namespace"), pod["metadata"]["name"])
                orphaned[str(node_name)] += 1
        for node_name, count in sorted(orphaned.items()):
            log.info("deleted %d pod(s) of node %s, which is gone", count, node_name)
        self._unready &= {(str(p["metadata"].get("namespace")), str(p["metadata"]["name"])) for p in self._live(PODS)}
