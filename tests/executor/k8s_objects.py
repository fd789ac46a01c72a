"""Manifests for the executor's Kubernetes tests (drain, node removal, workload actions), and the
clients of a local cluster bundled with a recording ExecContext."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import kubernetes.client

from executor.base import ExecContext, StepRecord
from sandbox.k8s_emulator import LocalKubernetes
from tests.executor.conftest import FakeClock, make_ctx

Obj = dict[str, Any]


def node(name: str, *, instance_id: str | None = None, unschedulable: bool = False, cpu: str = "8") -> Obj:
    spec: Obj = {"unschedulable": unschedulable} if unschedulable else {}
    if instance_id:
        spec["providerID"] = f"aws:///us-east-1a/{instance_id}"
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": "us-east-1a"}},
            "spec": spec,
            "status": {"allocatable": {"cpu": cpu, "memory": "32Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(name: str, node_name: str, *, namespace: str = "default", labels: dict[str, str] | None = None,
        owner_kind: str | None = None, annotations: dict[str, str] | None = None, phase: str = "Running",
        grace: int | None = None, priority_class: str | None = None) -> Obj:
    """A pod already bound and running on `node_name` (the reconciler leaves such pods alone)."""
    meta: Obj = {"name": name, "namespace": namespace, "labels": labels or {"app": name}}
    if owner_kind:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner_kind, "name": f"{name}-owner",
                                    "uid": f"uid-{name}-owner", "controller": True}]
    if annotations:
        meta["annotations"] = annotations
    spec: Obj = {"nodeName": node_name, "containers": [{"name": "app", "image": "nginx"}]}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    if priority_class:
        spec["priorityClassName"] = priority_class
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True"}]}}


def pdb(name: str, *, namespace: str = "default", match: dict[str, str] | None = None, **spec: Any) -> Obj:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"matchLabels": match or {"app": name}}, **spec}}


def workload(kind: str, name: str, replicas: int, *, namespace: str = "default",
             containers: list[Obj] | None = None, annotations: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = annotations
    spec: Obj = {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": containers or [{"name": "app", "image": "nginx"}]}}}
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": spec}


def service(name: str, *, namespace: str = "default", **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec}}


@dataclass
class Kube:
    """A local cluster, its clients as used by the executor, and the steps an ExecContext recorded."""

    cluster: LocalKubernetes
    steps: list[StepRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        api = self.cluster.api_client()
        m = kubernetes.client
        self.core: Any = m.CoreV1Api(api)
        self.apps: Any = m.AppsV1Api(api)
        self.policy: Any = m.PolicyV1Api(api)

    def ctx(self, *, clock: FakeClock | None = None, ec2: Any = None, **knobs: Any) -> ExecContext:
        return make_ctx(self.steps, core=self.core, apps=self.apps, policy=self.policy, ec2=ec2, clock=clock, **knobs)

    def raw(self, fn: Any, *args: Any) -> Obj:
        return dict(json.loads(fn(*args, _preload_content=False).data))

    def pods_on(self, node_name: str) -> list[str]:
        page = self.raw(lambda **kw: self.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node_name}", **kw))
        return sorted(f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in page["items"])

    def node(self, name: str) -> Obj:
        return self.raw(self.core.read_node, name)

    def step_lines(self) -> list[str]:
        return [f"{s.name}: {s.status}" for s in self.steps]
