"""kmock stays behind one adapter module, and what it still serves (discovery) works."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest

from sandbox.k8s_emulator import LocalKubernetes

SANDBOX = Path(__file__).resolve().parents[2] / "sandbox"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}


def test_only_the_adapter_module_imports_kmock() -> None:
    users = sorted(path.name for path in SANDBOX.glob("*.py")
                   if any(name == "kmock" or name.startswith("kmock.") for name in imported_modules(path)))
    assert users == ["k8s_kmock_adapter.py"]


@pytest.fixture
def api() -> Iterator[kubernetes.client.ApiClient]:
    with LocalKubernetes() as k8s:
        yield k8s.api_client()


def test_discovery_lists_api_groups_and_resources_with_their_subresources(api: kubernetes.client.ApiClient) -> None:
    groups: Any = kubernetes.client.ApisApi(api).get_api_versions()
    assert {"apps", "policy", "autoscaling"} <= {g.name for g in groups.groups}
    apps: Any = kubernetes.client.AppsV1Api(api).get_api_resources()
    assert {"deployments", "deployments/scale", "deployments/status"} <= {r.name for r in apps.resources}
    core: Any = kubernetes.client.CoreV1Api(api).get_api_resources()
    assert {"nodes", "pods/eviction", "namespaces"} <= {r.name for r in core.resources}
    version: Any = kubernetes.client.VersionApi(api).get_code()
    assert version.major == "1"
