"""Node lifecycle of the local sandbox cluster: Nodes of machines from node sources, and kubelets.

The `NodeLifecycle` mixin of sandbox.k8s_reconciler.Reconciler polls the registered node sources
(callables returning the Node manifests that should exist; sandbox.estate_aws.node_source reads
moto's EC2 instances) and plays the kubelets, the node lifecycle controller and the AWS cloud
node controller:
- a new machine registers its Node at once, NotReady (CNI not initialized, with the not-ready
  taint), and turns Ready `node_join_delay` seconds after it was first seen (0: Ready at once);
- a machine whose kubelet is down (its manifest's Ready condition is not "True", as for a
  stopping or stopped instance) makes its Node NotReady ("Unknown", with the unreachable
  taints) and marks the Node's pods not ready; the Node recovers, after the same delay, when
  the kubelet is back;
- a machine gone from its source (a terminated instance) takes its Node with it, and the
  reconciler's garbage collector then deletes that Node's pods, so their controllers recreate
  them elsewhere;
- a Node deleted through the API stays deleted while its machine lives: a kubelet registers
  once, when it starts.
Nodes no source lists (seeded ones) only get a Ready condition and allocatable if they lack them.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable
from typing import Any

from sandbox.k8s_reconciler_base import ReconcilerBase
from sandbox.k8s_store import NODES, now_iso

log = logging.getLogger("sandbox.k8s_reconciler")

MANAGED_BY_SOURCE = "cloudoptim.io/managed-by-source"
NodeSource = Callable[[], list[dict[str, Any]]]
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
_LIFECYCLE_TAINTS = (NOT_READY_TAINT, UNREACHABLE_TAINT)
_READY_TEXT = {
    "True": ("KubeletReady", "kubelet is posting ready status"),
    "False": ("KubeletNotReady", "container runtime network not ready: NetworkReady=false "
              "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"),
    "Unknown": ("NodeStatusUnknown", "Kubelet stopped posting node status."),
}


def kubelet_up(manifest: dict[str, Any]) -> bool:
    """A source's manifest says the machine's kubelet runs unless its Ready condition says otherwise."""
    conditions = (manifest.get("status") or {}).get("conditions") or []
    return all(c.get("status") == "True" for c in conditions if c.get("type") == "Ready")


def ready_condition(status: str) -> dict[str, Any]:
    now = now_iso()
    reason, message = _READY_TEXT[status]
    return {"type": "Ready", "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": now}


def ready_status(node: dict[str, Any]) -> str | None:
    return next((str(c.get("status")) for c in (node.get("status") or {}).get("conditions") or []
                 if c.get("type") == "Ready"), None)


class NodeLifecycle(ReconcilerBase):
    """The node steps of a reconcile pass; call `_init_nodes` from the reconciler's __init__."""

    def _init_nodes(self, node_join_delay: float) -> None:
        self.node_join_delay = node_join_delay
        self._sources: list[NodeSource] = []
        self._ready_at: dict[str, float] = {}  # node -> loop time its kubelet reports Ready
        self._registered: set[str] = set()  # nodes of a live machine that registered once

    def add_node_source(self, fn: NodeSource) -> None:
        if fn not in self._sources:
            self._sources.append(fn)

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
        for name, manifest in sorted(desired.items()):
            node, up = self.emu.get(NODES, None, name), kubelet_up(manifest)
            if node is not None:
                self._registered.add(name)
                await self._heartbeat(node, up, now)
            elif not up:
                self._registered.discard(name)  # the kubelet registers again when its machine restarts
            elif name not in self._registered:
                await self._register(name, manifest, now)
        if not complete:
            return
        for name in [n for n in self._registered if n not in desired]:
            self._registered.discard(name)
            self._ready_at.pop(name, None)
        for node in self._live(NODES):
            annotations = node["metadata"].get("annotations") or {}
            if annotations.get(MANAGED_BY_SOURCE) == "true" and node["metadata"]["name"] not in desired:
                await self._remove(NODES, None, node["metadata"]["name"])
                log.info("node %s left (its machine is gone)", node["metadata"]["name"])

    async def _register(self, name: str, manifest: dict[str, Any], now: float) -> None:
        node = copy.deepcopy(manifest)
        node.setdefault("apiVersion", "v1")
        node.setdefault("kind", "Node")
        node["metadata"].setdefault("annotations", {})[MANAGED_BY_SOURCE] = "true"
        status, spec = node.setdefault("status", {}), node.setdefault("spec", {})
        ready = self.node_join_delay <= 0
        status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != "Ready"]
        status["conditions"].append(ready_condition("True" if ready else "False"))
        if not ready:
            spec["taints"] = [*(spec.get("taints") or []),
                              {"key": NOT_READY_TAINT, "effect": "NoSchedule", "timeAdded": now_iso()}]
            self._ready_at[name] = now + self.node_join_delay
        await self._store(NODES, None, name, node)
        self._registered.add(name)
        log.info("node %s registered%s", name, "" if ready else f", Ready in {self.node_join_delay:g}s")

    async def _heartbeat(self, node: dict[str, Any], up: bool, now: float) -> None:
        name, current = node["metadata"]["name"], ready_status(node)
        if not up:
            self._ready_at.pop(name, None)
            if current != "Unknown":
                stamp = now_iso()
                await self._set_ready(node, "Unknown", [{"key": UNREACHABLE_TAINT, "effect": effect, "timeAdded": stamp}
                                                        for effect in ("NoSchedule", "NoExecute")])
                log.info("node %s is NotReady: its kubelet stopped posting status", name)
        elif current == "True":
            self._ready_at.pop(name, None)
        elif now >= self._ready_at.setdefault(name, now + self.node_join_delay):  # joining or recovering
            del self._ready_at[name]
            await self._set_ready(node, "True", [])
            log.info("node %s is Ready", name)

    async def _set_ready(self, node: dict[str, Any], status: str, taints: list[dict[str, Any]]) -> None:
        spec, node_status = node.get("spec") or {}, node.get("status") or {}
        kept = [t for t in spec.get("taints") or [] if t.get("key") not in _LIFECYCLE_TAINTS]
        conditions = [c for c in node_status.get("conditions") or [] if c.get("type") != "Ready"]
        await self._merge(NODES, None, node["metadata"]["name"], {
            "spec": {"taints": [*kept, *taints] or None},
            "status": {"conditions": [*conditions, ready_condition(status)]}})

    async def _kubelet_node(self, node: dict[str, Any]) -> None:
        # A registered node without a Ready condition gets one, as its kubelet would post it.
        status = node.get("status") or {}
        patch: dict[str, Any] = {}
        if not any(c.get("type") == "Ready" for c in status.get("conditions") or []):
            patch["conditions"] = [*(status.get("conditions") or []), ready_condition("True")]
        if "allocatable" not in status and "capacity" in status:
            patch["allocatable"] = status["capacity"]
        if patch:
            await self._merge(NODES, None, node["metadata"]["name"], {"status": patch})
