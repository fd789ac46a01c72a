"""Small builders of Kubernetes API objects (plain manifests) and collector helpers for the tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from app.collectors.k8s import KubernetesCollector
from tests.collectors.conftest import CONTEXT

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(text: str) -> dict[str, Any]:
    """YAML -> the JSON the API server would hold (YAML turns RFC 3339 strings into datetimes)."""
    obj = yaml.safe_load(text)
    result: dict[str, Any] = json.loads(json.dumps(obj, default=lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")))
    return result


def collector(kubeconfig: Path, **kwargs: Any) -> KubernetesCollector:
    """The collector for the test cluster's context, as prod-east in us-east-1."""
    return KubernetesCollector(kubeconfig, CONTEXT, "prod-east", "us-east-1", **kwargs)


def node(
    name: str,
    *,
    instance_type: str = "m5.large",
    zone: str = "us-east-1a",
    capacity_label: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    allocatable: dict[str, str] | None = None,
    instance_id: str | None = None,
) -> dict[str, Any]:
    labels = {
        "kubernetes.io/hostname": name,
        "node.kubernetes.io/instance-type": instance_type,
        "topology.kubernetes.io/zone": zone,
        "topology.kubernetes.io/region": zone[:-1],
        **(capacity_label or {}),
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "providerID": f"aws:///{zone}/{instance_id or 'i-0' + name.encode().hex()[:16]}",
            "taints": taints or [],
        },
        "status": {
            "allocatable": allocatable
            or {"cpu": "1930m", "memory": "7134Mi", "pods": "29", "ephemeral-storage": "18Gi"},
            "capacity": {"cpu": "2", "memory": "7934Mi", "pods": "29"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def container(
    name: str = "app",
    *,
    cpu: str | None = "100m",
    memory: str | None = "128Mi",
    cpu_limit: str | None = None,
    memory_limit: str | None = None,
) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    limits = {k: v for k, v in (("cpu", cpu_limit), ("memory", memory_limit)) if v is not None}
    return {"name": name, "image": f"registry.example/{name}:1", "resources": {"requests": requests, "limits": limits}}


def pod(
    name: str,
    namespace: str = "default",
    *,
    node_name: str | None = "node-a",
    containers: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    conts = containers or [container()]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}, "annotations": annotations or {}},
        "spec": {"nodeName": node_name, "containers": conts, **(spec or {})},
        "status": status
        or {
            "phase": "Running",
            "containerStatuses": [
                {"name": c["name"], "restartCount": 0, "ready": True, "state": {"running": {}}} for c in conts
            ],
        },
    }


def deployment(name: str, namespace: str = "default", *, replicas: int = 2, **labels: str) -> dict[str, Any]:
    match = {"app": name, **labels}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": match, "annotations": {"team": "payments"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": match},
            "template": {
                "metadata": {"labels": match},
                "spec": {"containers": [container(name, cpu="250m", memory="256Mi", memory_limit="512Mi")]},
            },
        },
    }
