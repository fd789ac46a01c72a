"""Workload controllers of the local sandbox cluster: Deployments, ReplicaSets, StatefulSets, DaemonSets.

The `WorkloadControllers` mixin of sandbox.k8s_reconciler.Reconciler reconciles
Deployments -> ReplicaSets -> Pods, StatefulSets and DaemonSets (creating pods with
deterministic, never reused names) and refreshes workload and PodDisruptionBudget statuses.
`template_hash` names a Deployment's ReplicaSet; it is re-exported by sandbox.k8s_reconciler.
"""

from __future__ import annotations

import collections
import copy
import hashlib
import json
from typing import Any

from sandbox.k8s_kmock_adapter import Resource
from sandbox.k8s_reconciler_base import ReconcilerBase, is_alive
from sandbox.k8s_scheduling import node_matches, node_ready, pod_ready, tolerates
from sandbox.k8s_selectors import is_terminating, pdb_status
from sandbox.k8s_store import NODES, PODS, REPLICASETS

_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the API server's random-suffix alphabet
# The DaemonSet controller adds these, which is why DaemonSet pods land on cordoned nodes.
_DS_TOLERATIONS = [{"key": f"node.kubernetes.io/{key}", "operator": "Exists"} for key in
                   ("unschedulable", "not-ready", "unreachable", "disk-pressure", "memory-pressure",
                    "pid-pressure", "network-unavailable")]


def template_hash(template: dict[str, Any]) -> str:
    """The 10-char pod-template-hash: a Deployment's ReplicaSet is named `<deploy>-<hash>`."""
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def _suffix(seed: str, length: int = 5) -> str:
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in hashlib.sha256(seed.encode()).digest()[:length])


def _replicas(spec: dict[str, Any]) -> int:
    return 1 if spec.get("replicas") is None else int(spec["replicas"])  # the API's default is 1


class WorkloadControllers(ReconcilerBase):
    """The workload steps of a reconcile pass and the status refresh (`_refresh_status`)."""

    # --- workloads -------------------------------------------------------------------------
    async def _deployment(self, deploy: dict[str, Any]) -> None:
        meta, spec = deploy["metadata"], deploy["spec"]
        ns, replicas = meta["namespace"], _replicas(spec)
        template, selector = spec["template"], dict(spec["selector"])
        digest = template_hash(template)
        rs_name = f"{meta['name']}-{digest}"
        current = next((rs for rs in self._live(REPLICASETS, ns) if rs["metadata"]["name"] == rs_name), None)
        if current is None:
            rs_template = copy.deepcopy(template)
            rs_template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = digest
            selector["matchLabels"] = {**(selector.get("matchLabels") or {}), "pod-template-hash": digest}
            await self._store(REPLICASETS, ns, rs_name, {
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": rs_name, "namespace": ns, "labels": rs_template["metadata"]["labels"],
                             "ownerReferences": [self._owner_ref(deploy)]},
                "spec": {"replicas": replicas, "selector": selector, "template": rs_template}})
        elif current["spec"].get("replicas") != replicas:
            await self._merge(REPLICASETS, ns, rs_name, {"spec": {"replicas": replicas}})
        for rs in self._owned(REPLICASETS, "Deployment", deploy):  # older templates scale to zero (Recreate)
            if rs["metadata"]["name"] != rs_name and rs["spec"].get("replicas"):
                await self._merge(REPLICASETS, ns, rs["metadata"]["name"], {"spec": {"replicas": 0}})

    async def _replicaset(self, rs: dict[str, Any]) -> None:
        meta, spec = rs["metadata"], rs["spec"]
        ns, replicas = meta["namespace"], _replicas(spec)
        pods = [p for p in self._owned(PODS, "ReplicaSet", rs) if is_alive(p)]
        for _ in range(replicas - len(pods)):
            await self._create_pod(rs, spec["template"], self._fresh_name(ns, meta["name"]))
        # Surplus: unscheduled first, then not running, then the newest (as the RS controller does).
        pods.sort(key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]), reverse=True)
        pods.sort(key=lambda p: (bool(p["spec"].get("nodeName")), pod_ready(p)))
        for pod in pods[:max(0, len(pods) - replicas)]:
            await self._remove(PODS, ns, pod["metadata"]["name"])

    async def _statefulset(self, sts: dict[str, Any]) -> None:
        meta, spec = sts["metadata"], sts["spec"]
        ns, replicas = meta["namespace"], _replicas(spec)
        for ordinal in range(replicas):
            name = f"{meta['name']}-{ordinal}"
            if not self.emu.exists(PODS, ns, name):
                await self._create_pod(sts, spec["template"], name, {"statefulset.kubernetes.io/pod-name": name})
        for pod in self._owned(PODS, "StatefulSet", sts):
            ordinal = pod["metadata"]["name"].rpartition("-")[2]
            if not ordinal.isdigit() or int(ordinal) >= replicas:
                await self._remove(PODS, ns, pod["metadata"]["name"])

    def _ds_nodes(self, ds: dict[str, Any]) -> list[str]:
        pod_spec = ds["spec"]["template"]["spec"]
        tolerations = [*(pod_spec.get("tolerations") or []), *_DS_TOLERATIONS]
        names = []
        for node in self._live(NODES):
            try:
                if node_ready(node) and tolerates(node, tolerations) and node_matches(pod_spec, node):
                    names.append(node["metadata"]["name"])
            except Exception as exc:
                self._warn("daemonset nodes", node, exc)
        return sorted(names)

    async def _daemonset(self, ds: dict[str, Any]) -> None:
        ns, name = ds["metadata"]["namespace"], ds["metadata"]["name"]
        eligible = set(self._ds_nodes(ds))
        on_node: dict[str, list[str]] = collections.defaultdict(list)
        for pod in sorted(self._owned(PODS, "DaemonSet", ds), key=lambda p: p["metadata"]["name"]):
            if not is_terminating(pod):
                on_node[pod["spec"].get("nodeName") or ""].append(pod["metadata"]["name"])
        for node_name, pod_names in on_node.items():
            extra = pod_names if node_name not in eligible else pod_names[1:]  # exactly one per node
            for pod_name in extra:
                await self._remove(PODS, ns, pod_name)
        for node_name in sorted(eligible - set(on_node)):
            await self._create_pod(ds, ds["spec"]["template"], self._fresh_name(ns, name), node_name=node_name)

    def _fresh_name(self, ns: str, base: str) -> str:
        # Deterministic but never reused, so a replacement pod is a visibly new pod.
        key = f"{ns}/{base}"
        while True:
            self._name_seq[key] += 1
            name = f"{base}-{_suffix(f'{key}/{self._name_seq[key]}')}"
            if not self.emu.exists(PODS, ns, name, ever=True):
                return name

    @staticmethod
    def _owner_ref(owner: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                "controller": True, "blockOwnerDeletion": True}

    async def _create_pod(self, owner: dict[str, Any], template: dict[str, Any], name: str,
                          extra_labels: dict[str, str] | None = None, node_name: str | None = None) -> None:
        tmeta = template.get("metadata") or {}
        spec = copy.deepcopy(template["spec"])
        if node_name:
            spec["nodeName"] = node_name
        meta = {"name": name, "namespace": owner["metadata"]["namespace"],
                "labels": {**(tmeta.get("labels") or {}), **(extra_labels or {})},
                "ownerReferences": [self._owner_ref(owner)]}
        if tmeta.get("annotations"):
            meta["annotations"] = dict(tmeta["annotations"])
        await self._store(PODS, meta["namespace"], name,
                             {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})

    # --- statuses --------------------------------------------------------------------------
    async def _refresh_status(self, kind: str, res: Resource, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        ns = meta["namespace"]
        status: dict[str, Any]
        if kind == "PodDisruptionBudget":
            status = dict(pdb_status(obj, self._live(PODS, ns)))
        elif kind == "Deployment":
            digest = f"{meta['name']}-{template_hash(obj['spec']['template'])}"
            owned = [(rs["metadata"]["name"], [p for p in self._owned(PODS, "ReplicaSet", rs) if is_alive(p)])
                     for rs in self._owned(REPLICASETS, "Deployment", obj)]
            total = [p for _, group in owned for p in group]
            ready = sum(map(pod_ready, total))
            desired = _replicas(obj["spec"])
            status = {"replicas": len(total), "readyReplicas": ready, "availableReplicas": ready,
                      "updatedReplicas": sum(len(group) for name, group in owned if name == digest),
                      "unavailableReplicas": max(0, desired - ready)}
        elif kind == "DaemonSet":
            eligible = set(self._ds_nodes(obj))
            mine = [p for p in self._owned(PODS, "DaemonSet", obj) if is_alive(p)]
            placed = [p for p in mine if p["spec"].get("nodeName") in eligible]
            ready = sum(map(pod_ready, placed))
            status = {"desiredNumberScheduled": len(eligible), "currentNumberScheduled": len(placed),
                      "updatedNumberScheduled": len(placed), "numberMisscheduled": len(mine) - len(placed),
                      "numberReady": ready, "numberAvailable": ready, "numberUnavailable": len(eligible) - ready}
        else:
            mine = [p for p in self._owned(PODS, kind, obj) if is_alive(p)]
            ready = sum(map(pod_ready, mine))
            status = {"replicas": len(mine), "readyReplicas": ready, "availableReplicas": ready}
            status.update({"fullyLabeledReplicas": len(mine)} if kind == "ReplicaSet" else
                          {"currentReplicas": len(mine), "updatedReplicas": len(mine)})
        if meta.get("generation") is not None:  # what a client waiting for a rollout compares
            status["observedGeneration"] = meta["generation"]
        current = obj.get("status") or {}
        if any(current.get(key) != value for key, value in status.items()):
            await self._merge(res, ns, meta["name"], {"status": status})
