"""Every object of one sandbox cluster, pods included: first-fit placement, statuses, OOM history.

`cluster_objects` returns the manifests `sandbox.sandbox.Sandbox` puts into a local Kubernetes
API; `cluster_state` turns the same objects into a Snapshot `ClusterState` offline, through the
collector's own converters (used by `sandbox.estate.build_cluster_states` for benchmarks).
Pods are pre-placed (nodeName + Running status) and owned by ReplicaSets named as the sandbox
reconciler names them (`<deployment>-<template hash>`), so it adopts them instead of making its own.
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from engines.quantity import parse_bytes, parse_cpu
from engines.snapshot import ClusterState
from sandbox.estate import REGION, ZONES, ClusterPlan, NodePlan
from sandbox.estate_k8s import PVC_ZONES, kube_system, load_app, namespaces, node_manifest, persistent_volumes, policies
from sandbox.k8s_reconciler import node_matches, pod_requests, template_hash, tolerates
from sandbox.k8s_selectors import pdb_status

Obj = dict[str, Any]
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the API server's random-suffix alphabet
# (namespace, workload) -> (restart count, process the kernel killed) for the OOMKilled pods.
OOM_KILLED = {("boutique", "recommendationservice"): (7, "python"),
              ("teastore", "teastore-recommender"): (3, "java"), ("bookinfo", "reviews-v3"): (12, "java")}


def _digest(*parts: object) -> bytes:
    return hashlib.sha256(":".join(map(str, parts)).encode()).digest()


def _suffix(*parts: object) -> str:
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in _digest(*parts)[:5])


def _uid(*parts: object) -> str:
    """A stable object uid (the API server would make up a random one)."""
    return str(uuid.UUID(bytes=_digest("uid", *parts)[:16], version=4))


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def offline_volume_id(seed: int, pvc: str) -> str:
    return "vol-0" + _digest(seed, pvc).hex()[:16]


class _Placer:
    """First fit in node order, honouring taints, selectors, PV zones and allocatable room."""

    def __init__(self, nodes: list[Obj]) -> None:
        self.nodes = nodes
        self.used = {n["metadata"]["name"]: [0.0, 0, 0] for n in nodes}

    def fits(self, pod: Obj, node: Obj) -> bool:
        spec, alloc, used = pod["spec"], node["status"]["allocatable"], self.used[node["metadata"]["name"]]
        cpu, mem = pod_requests(pod)
        claims = [v["persistentVolumeClaim"]["claimName"]
                  for v in spec.get("volumes") or [] if "persistentVolumeClaim" in v]
        zone = node["metadata"]["labels"]["topology.kubernetes.io/zone"]
        return (tolerates(node, spec.get("tolerations") or []) and node_matches(spec, node)
                and all(PVC_ZONES.get(c, zone) == zone for c in claims)
                and used[2] < int(alloc["pods"]) and used[0] + cpu <= parse_cpu(alloc["cpu"])
                and used[1] + mem <= parse_bytes(alloc["memory"]))

    def place(self, pod: Obj, only: Obj | None = None) -> Obj | None:
        for node in [only] if only else self.nodes:
            if self.fits(pod, node):
                used = self.used[node["metadata"]["name"]]
                cpu, mem = pod_requests(pod)
                used[0], used[1], used[2] = used[0] + cpu, used[1] + mem, used[2] + 1
                return node
        return None


def _container_status(c: Obj, started: str, restarts: int = 0, last: Obj | None = None) -> Obj:
    cid = "containerd://" + _digest(c["name"], started, restarts).hex()
    status = {"name": c["name"], "image": c.get("image", ""), "imageID": "", "containerID": cid,
              "ready": True, "started": True, "restartCount": restarts, "state": {"running": {"startedAt": started}}}
    status["lastState"] = {"terminated": last} if last else {}
    return status


def _qos(spec: Obj) -> str:
    res = [c.get("resources") or {} for c in spec["containers"]]
    if not any(r.get("requests") or r.get("limits") for r in res):
        return "BestEffort"
    guaranteed = all((r.get("limits") or {}).get(k) and (r.get("requests") or r.get("limits") or {}).get(k)
                     == (r.get("limits") or {}).get(k) for r in res for k in ("cpu", "memory"))
    return "Guaranteed" if guaranteed else "Burstable"


def _make_pod(owner: Obj, name: str, created: datetime, labels: Mapping[str, str] | None = None) -> Obj:
    template = owner["spec"]["template"]
    tmeta = template.get("metadata") or {}
    meta: Obj = {"name": name, "namespace": owner["metadata"]["namespace"], "creationTimestamp": _stamp(created),
                 "labels": {**(tmeta.get("labels") or {}), **(labels or {})},
                 "uid": _uid(owner["metadata"]["uid"], name),
                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner["kind"], "name": owner["metadata"]["name"],
                                      "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]}
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": copy.deepcopy(template["spec"])}


def _run_on(pod: Obj, node: Obj, created: datetime, now: datetime, pod_ip: str, oom: tuple[int, str] | None) -> None:
    spec, started = pod["spec"], _stamp(created)
    spec["nodeName"] = node["metadata"]["name"]
    host_ip = node["status"]["addresses"][0]["address"]
    ip = host_ip if spec.get("hostNetwork") else pod_ip
    statuses = [_container_status(c, started) for c in spec["containers"]]
    if oom:
        # The first container was OOM-killed `restarts` times; the last kill was 2 h 40 min ago.
        restarts, finished = oom[0], now - timedelta(hours=2, minutes=40)
        last = {"reason": "OOMKilled", "exitCode": 137, "startedAt": _stamp(finished - timedelta(minutes=47)),
                "finishedAt": _stamp(finished), "containerID": statuses[0]["containerID"]}
        statuses[0] = _container_status(spec["containers"][0], _stamp(finished + timedelta(seconds=12)), restarts, last)
    pod["status"] = {
        "phase": "Running", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "podIP": ip, "podIPs": [{"ip": ip}],
        "startTime": started, "qosClass": _qos(spec), "containerStatuses": statuses,
        "conditions": [{"type": t, "status": "True", "lastTransitionTime": started} for t in
                       ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")],
    }
    if spec.get("initContainers"):
        pod["status"]["initContainerStatuses"] = [
            {**_container_status(c, started), "ready": True, "started": False,
             "state": {"terminated": {"reason": "Completed", "exitCode": 0,
                                      "startedAt": started, "finishedAt": started}}}
            for c in spec["initContainers"]]


def _oom_events(pod: Obj, process: str, restarts: int, now: datetime) -> list[Obj]:
    meta, node = pod["metadata"], pod["spec"]["nodeName"]
    container = pod["spec"]["containers"][0]["name"]
    limit = parse_bytes(pod["spec"]["containers"][0]["resources"]["limits"]["memory"]) // 1024
    involved = {"apiVersion": "v1", "kind": "Pod", "namespace": meta["namespace"], "name": meta["name"],
                "fieldPath": f"spec.containers{{{container}}}"}
    common = {"type": "Warning", "involvedObject": involved, "source": {"component": "kubelet", "host": node},
              "reportingComponent": "kubelet", "reportingInstance": node,
              "firstTimestamp": _stamp(now - timedelta(days=3)),
              "lastTimestamp": _stamp(now - timedelta(hours=2, minutes=40))}
    # The kernel's OOM-killer line, as the kubelet/node-problem-detector relay it.
    oom_msg = (f"Memory cgroup out of memory: Killed process {4000 + restarts * 37} ({process}) "
               f"total-vm:{limit * 3}kB, "
               f"anon-rss:{limit}kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:{limit // 400}kB oom_score_adj:999")
    backoff_msg = f"Back-off restarting failed container {container} in pod {meta['name']}_{meta['namespace']}"
    return [{"apiVersion": "v1", "kind": "Event", **common, "reason": reason, "message": message, "count": count,
             "metadata": {"name": f"{meta['name']}.{_digest(reason, meta['name']).hex()[:16]}",
                          "namespace": meta["namespace"]}}
            for reason, message, count in (("OOMKilling", oom_msg, restarts), ("BackOff", backoff_msg, restarts * 4))]


def _replica_set(deploy: Obj, created: datetime) -> Obj:
    """The ReplicaSet the sandbox reconciler expects for this Deployment (same name, so it adopts it)."""
    meta, spec = deploy["metadata"], deploy["spec"]
    digest = template_hash(spec["template"])
    template = copy.deepcopy(spec["template"])
    labels = {**(template["metadata"].get("labels") or {}), "pod-template-hash": digest}
    template["metadata"]["labels"] = labels
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"], "uid": meta["uid"],
             "controller": True, "blockOwnerDeletion": True}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{meta['name']}-{digest}", "namespace": meta["namespace"], "labels": labels,
                         "uid": _uid(meta["uid"], digest), "creationTimestamp": _stamp(created),
                         "ownerReferences": [owner]},
            "spec": {"replicas": spec.get("replicas", 1), "template": template,
                     "selector": {"matchLabels": {**spec["selector"]["matchLabels"], "pod-template-hash": digest}}}}


Wanted = list[tuple[Obj, str, dict[str, str] | None, Obj | None]]  # owner, pod name, extra labels, fixed node


def _wanted_pods(workload: Obj, nodes: list[Obj], seed: int, replica_sets: list[Obj], created: datetime) -> Wanted:
    meta, kind = workload["metadata"], workload["kind"]
    ns, name, replicas = meta["namespace"], meta["name"], int(workload["spec"].get("replicas", 1))
    if kind == "Deployment":
        rs = _replica_set(workload, created)
        replica_sets.append(rs)
        return [(rs, f"{rs['metadata']['name']}-{_suffix(seed, ns, name, i)}", None, None) for i in range(replicas)]
    if kind == "StatefulSet":
        return [(workload, f"{name}-{i}", {"statefulset.kubernetes.io/pod-name": f"{name}-{i}"}, None)
                for i in range(replicas)]
    return [(workload, f"{name}-{_suffix(seed, ns, name, n['metadata']['name'])}", None, n) for n in nodes]


def cluster_objects(cluster: ClusterPlan, nodes: list[NodePlan], instance_ids: Mapping[str, str], *, seed: int,
                    now: datetime, volume_ids: Mapping[str, str] | None = None) -> list[Obj]:
    """All manifests of one cluster, pods placed; `volume_ids` maps hotel PVCs to EBS volume ids."""
    node_objs = [node_manifest(cluster, name=n.name, instance_id=instance_ids[n.name], instance_type=n.instance_type,
                               zone=n.zone, spot=n.capacity_type == "spot", group=n.group, private_ip=n.private_ip,
                               created=now - timedelta(days=n.age_days)) for n in nodes]
    workloads = kube_system() + [o for app in cluster.apps for o in load_app(app)]
    extra: list[Obj] = [*policies(cluster)]
    if any(a.namespace == "hotel" for a in cluster.apps):
        extra += persistent_volumes(volume_ids or {pvc: offline_volume_id(seed, pvc) for pvc in PVC_ZONES})
    placer = _Placer(node_objs)
    pods: list[Obj] = []
    replica_sets: list[Obj] = []
    events: list[Obj] = []
    pod_count = [0] * len(ZONES)
    for workload in workloads:
        meta, kind = workload["metadata"], workload["kind"]
        ns, name = meta["namespace"], meta["name"]
        if kind not in ("Deployment", "StatefulSet", "DaemonSet"):
            continue
        created = now - timedelta(days=3 + _digest(seed, ns, name)[0] % 40, minutes=_digest(seed, name)[1])
        meta["uid"] = _uid(seed, cluster.name, kind, ns, name)
        wanted = _wanted_pods(workload, node_objs, seed, replica_sets, created)
        mine: list[Obj] = []
        for i, (owner, pod_name, labels, only) in enumerate(wanted):
            pod = _make_pod(owner, pod_name, created, labels)
            node = placer.place(pod, only)
            if node is None:
                pod["status"] = {"phase": "Pending"}  # left to the reconciler's scheduler
            else:
                zone = ZONES.index(node["metadata"]["labels"]["topology.kubernetes.io/zone"])
                pod_count[zone] += 1
                oom = OOM_KILLED.get((ns, name)) if i == 0 else None
                _run_on(pod, node, created, now, f"10.0.{zone + 65}.{pod_count[zone] % 250 + 4}", oom)
                events += _oom_events(pod, oom[1], oom[0], now) if oom else []
            mine.append(pod)
        pods += mine
        _set_status(workload, mine, len(wanted))
    for pdb in (o for o in extra if o["kind"] == "PodDisruptionBudget"):
        ns_pods = [p for p in pods if p["metadata"]["namespace"] == pdb["metadata"]["namespace"]]
        pdb["status"] = pdb_status(pdb, ns_pods)
    return [*namespaces(cluster), *node_objs, *workloads, *extra, *replica_sets, *pods, *events]


def _set_status(workload: Obj, pods: list[Obj], wanted: int) -> None:
    n = len([p for p in pods if p["status"]["phase"] == "Running"])
    if workload["kind"] == "DaemonSet":
        workload["status"] = {"desiredNumberScheduled": wanted, "currentNumberScheduled": n, "numberMisscheduled": 0,
                              "numberReady": n, "numberAvailable": n, "updatedNumberScheduled": n}
    else:
        workload["status"] = {"replicas": n, "readyReplicas": n, "availableReplicas": n, "updatedReplicas": n}


def cluster_state(cluster: ClusterPlan, nodes: list[NodePlan], instance_ids: Mapping[str, str], *, seed: int,
                  now: datetime) -> ClusterState:
    """The cluster as the collector would see it, converted by the collector's own functions."""
    from app.collectors import k8s_workloads as kw  # only the offline path needs the app package
    from app.collectors.k8s_convert import node_from_api, pod_from_api, pv_zone, service_from_api

    objs = cluster_objects(cluster, nodes, instance_ids, seed=seed, now=now)
    by_kind: dict[str, list[Obj]] = {}
    for obj in objs:
        by_kind.setdefault(obj["kind"], []).append(obj)
    zones = {pv["metadata"]["name"]: z for pv in by_kind.get("PersistentVolume", []) if (z := pv_zone(pv))}
    pvc_zones = {(c["metadata"]["namespace"], c["metadata"]["name"]): zones[c["spec"]["volumeName"]]
                 for c in by_kind.get("PersistentVolumeClaim", []) if c["spec"].get("volumeName") in zones}
    replica_sets: list[Mapping[str, Any]] = list(by_kind.get("ReplicaSet", []))
    owners = kw.owner_map(replica_sets, [])
    kinds: tuple[kw.WorkloadKind, ...] = ("Deployment", "StatefulSet", "DaemonSet")
    return ClusterState(
        name=cluster.name, region=REGION,
        nodes=tuple(node_from_api(o, REGION) for o in by_kind["Node"]),
        pods=tuple(pod_from_api(o, owners, pvc_zones) for o in by_kind["Pod"]),
        workloads=tuple(kw.workload_from_api(k, o) for k in kinds for o in by_kind.get(k, [])),
        pdbs=tuple(kw.pdb_from_api(o) for o in by_kind.get("PodDisruptionBudget", [])),
        hpas=tuple(kw.hpa_from_api(o) for o in by_kind.get("HorizontalPodAutoscaler", [])),
        namespaces=tuple(kw.namespace_from_api(o) for o in by_kind["Namespace"]),
        events=tuple(e for o in by_kind.get("Event", []) if (e := kw.event_from_api(o)) is not None),
        services=tuple(service_from_api(o) for o in by_kind.get("Service", [])),
    )
