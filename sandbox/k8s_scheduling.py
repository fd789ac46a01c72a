"""Node fit checks and the scheduler/kubelet pass of the local sandbox cluster.

Pure predicates: `pod_requests` (what a pod reserves), `node_ready`/`pod_ready`, `tolerates`
(taints vs tolerations) and `node_matches` (nodeSelector + required nodeAffinity). The
`Scheduler` mixin of sandbox.k8s_reconciler.Reconciler marks placed pods Running like a
kubelet (and not ready while their node is NotReady) and bin-packs pending pods onto nodes
that are ready, cordon-free, tolerated, matching and have room. The predicates are also used
by sandbox.k8s_workloads (DaemonSets) and re-exported by sandbox.k8s_reconciler.
"""

from __future__ import annotations

import collections
import hashlib
import math
from collections.abc import Callable
from typing import Any

from engines.quantity import parse_bytes as parse_memory
from engines.quantity import parse_cpu
from sandbox.k8s_reconciler_base import DONE_PHASES, ReconcilerBase
from sandbox.k8s_selectors import is_terminating, labels_match, labels_of, selector_requirements
from sandbox.k8s_store import NODES, PODS, now_iso


def _ip(prefix: str, seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return f"{prefix}.{digest[0]}.{digest[1] % 254 + 1}"


def pod_requests(pod: dict[str, Any]) -> tuple[float, int]:
    """(cpu cores, memory bytes) the scheduler reserves: limits stand in for missing requests."""
    def total(containers: list[dict[str, Any]], combine: Callable[[list[float]], float]) -> tuple[float, float]:
        cpus, mems = [0.0], [0.0]
        for container in containers:
            res = container.get("resources") or {}
            req, lim = res.get("requests") or {}, res.get("limits") or {}
            cpus.append(parse_cpu(req.get("cpu", lim.get("cpu", 0))))
            mems.append(parse_memory(req.get("memory", lim.get("memory", 0))))
        return combine(cpus), combine(mems)
    spec = pod.get("spec") or {}
    cpu, mem = total(spec.get("containers") or [], sum)
    init_cpu, init_mem = total(spec.get("initContainers") or [], max)
    return max(cpu, init_cpu), int(max(mem, init_mem))


def node_ready(node: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def pod_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    conds = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    return status.get("phase") == "Running" and all(c.get("status") == "True" for c in conds)


def tolerates(node: dict[str, Any], tolerations: list[dict[str, Any]]) -> bool:
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any((not t.get("effect") or t.get("effect") == taint.get("effect"))
                   and ((not t.get("key") and t.get("operator") == "Exists") or (
                       t.get("key") == taint.get("key")
                       and (t.get("operator") == "Exists" or t.get("value", "") == taint.get("value", ""))))
                   for t in tolerations):
            return False
    return True


def node_matches(pod_spec: dict[str, Any], node: dict[str, Any]) -> bool:
    """nodeSelector and required nodeAffinity (terms are ORed, expressions ANDed)."""
    labels = {**labels_of(node), "metadata.name": node["metadata"]["name"]}
    if any(labels.get(k) != str(v) for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return True
    return any((term.get("matchExpressions") or term.get("matchFields")) and labels_match(
        selector_requirements({"matchExpressions": (term.get("matchExpressions") or [])
                               + (term.get("matchFields") or [])}), labels)
        for term in required.get("nodeSelectorTerms") or [])


class Scheduler(ReconcilerBase):
    """The scheduler + kubelet step of a reconcile pass (`_schedule`)."""

    # --- scheduler + kubelet ---------------------------------------------------------------
    async def _schedule(self) -> None:
        nodes = {n["metadata"]["name"]: n for n in self._live(NODES)}
        used: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0.0])
        pending: list[dict[str, Any]] = []
        for pod in self._live(PODS):
            try:
                meta, node_name = pod["metadata"], pod["spec"].get("nodeName")
                if not node_name:
                    if not is_terminating(pod):
                        pending.append(pod)
                elif node_name not in nodes:  # the garbage collector deletes it next pass
                    continue
                elif (pod.get("status") or {}).get("phase") not in DONE_PHASES:
                    cpu, mem = pod_requests(pod)
                    used[node_name][0] += cpu
                    used[node_name][1] += mem
                    used[node_name][2] += 1
                    if not (pod.get("status") or {}).get("phase"):
                        await self._merge(PODS, meta["namespace"], meta["name"],
                                          {"status": self._running_status(pod, nodes[node_name])})
                    else:
                        await self._follow_node_readiness(pod, nodes[node_name])
            except Exception as exc:
                self._warn("kubelet", pod, exc)
        capacity: dict[str, tuple[float, float, int] | None] = {}
        for name, node in nodes.items():
            status = node.get("status") or {}
            alloc = status.get("allocatable") or status.get("capacity") or {}
            try:  # a missing figure means "unlimited": seeders may not bother with allocatable
                capacity[name] = (parse_cpu(alloc["cpu"]) if "cpu" in alloc else math.inf,
                                  parse_memory(alloc["memory"]) if "memory" in alloc else math.inf,
                                  int(alloc.get("pods", 110)))
            except Exception as exc:
                capacity[name] = None
                self._warn("node capacity", node, exc)
        pending.sort(key=lambda p: (p["metadata"].get("creationTimestamp", ""),
                                    p["metadata"]["namespace"], p["metadata"]["name"]))
        for pod in pending:
            try:
                await self._place(pod, nodes, capacity, used)
            except Exception as exc:
                self._warn("scheduler", pod, exc)

    async def _place(self, pod: dict[str, Any], nodes: dict[str, dict[str, Any]],
                     capacity: dict[str, tuple[float, float, int] | None], used: dict[str, list[float]]) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        cpu, mem = pod_requests(pod)
        reasons: collections.Counter[str] = collections.Counter()
        fits: list[tuple[float, str]] = []
        for name, node in sorted(nodes.items()):
            cap = capacity[name] or (0.0, 0.0, 0)
            free_cpu, free_mem = cap[0] - used[name][0], cap[1] - used[name][1]
            try:
                reason = ("node(s) had invalid allocatable" if capacity[name] is None else
                          "node(s) were not ready" if not node_ready(node) else
                          "node(s) were unschedulable" if (node.get("spec") or {}).get("unschedulable") else
                          "node(s) had untolerated taint" if not tolerates(node, spec.get("tolerations") or []) else
                          "node(s) didn't match Pod's node affinity/selector" if not node_matches(spec, node) else
                          "Too many pods" if used[name][2] >= cap[2] else
                          "Insufficient cpu" if cpu > free_cpu else
                          "Insufficient memory" if mem > free_mem else None)
            except Exception as exc:  # one odd node (or pod field) must not block the others
                self._warn("scheduler", pod, exc)
                reason = "node(s) could not be evaluated"
            if reason:
                reasons[reason] += 1
            else:
                fits.append((free_cpu - cpu, name))  # bin-pack: least CPU left after placement
        if fits:
            node_name = min(fits)[1]
            used[node_name][0] += cpu
            used[node_name][1] += mem
            used[node_name][2] += 1
            await self._merge(PODS, meta["namespace"], meta["name"],
                                 {"spec": {"nodeName": node_name}, "status": self._running_status(pod, nodes[node_name])})
            return
        detail = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
        message = f"0/{len(nodes)} nodes are available: {detail or 'no nodes registered'}."
        condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
        current = [{k: c.get(k) for k in condition} for c in (pod.get("status") or {}).get("conditions") or []]
        if current != [condition]:
            await self._merge(PODS, meta["namespace"], meta["name"], {"status": {
                "phase": "Pending", "conditions": [{**condition, "lastTransitionTime": now_iso()}]}})

    async def _follow_node_readiness(self, pod: dict[str, Any], node: dict[str, Any]) -> None:
        # The node lifecycle controller marks the pods of a NotReady node not ready; the kubelet
        # reports them ready again once it is back. Only pods marked here are flipped back.
        meta, key = pod["metadata"], (str(pod["metadata"].get("namespace")), str(pod["metadata"]["name"]))
        if node_ready(node) == (key not in self._unready):
            return
        if node_ready(node):
            self._unready.discard(key)
        elif pod_ready(pod):
            self._unready.add(key)
        else:
            return  # not ready for its own reasons (a crash loop): nothing to mark
        wanted = "True" if node_ready(node) else "False"
        conditions = [c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") != "Ready"]
        conditions.append({"type": "Ready", "status": wanted, "lastTransitionTime": now_iso()})
        await self._merge(PODS, meta["namespace"], meta["name"], {"status": {"conditions": conditions}})

    @staticmethod
    def _running_status(pod: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
        now, meta = now_iso(), pod["metadata"]
        addresses = (node.get("status") or {}).get("addresses") or []
        host_ip = next((a["address"] for a in addresses if a.get("type") == "InternalIP"),
                       _ip("10.0", node["metadata"]["name"]))
        pod_ip = _ip("10.244", f"{meta['namespace']}/{meta['name']}/{meta.get('uid')}")
        return {
            "phase": "Running", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
            "podIP": pod_ip, "podIPs": [{"ip": pod_ip}], "startTime": now,
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                           for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
            "containerStatuses": [
                {"name": c["name"], "image": c.get("image", ""), "imageID": c.get("image", ""),
                 "ready": True, "started": True, "restartCount": 0, "state": {"running": {"startedAt": now}}}
                for c in pod["spec"].get("containers") or []],
        }
