"""Fixtures of the emulator tests: one local Kubernetes API per test, reconciling fast, and its
typed clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kubernetes.client
import pytest

from sandbox.k8s_emulator import LocalKubernetes

Api = Any  # the client's models declare every field Optional; the tests assert the shape


@pytest.fixture
def cluster() -> Iterator[LocalKubernetes]:
    with LocalKubernetes(reconcile_interval=0.1, node_join_delay=0.3) as k8s:
        yield k8s


@pytest.fixture
def core(cluster: LocalKubernetes) -> Api:
    return kubernetes.client.CoreV1Api(cluster.api_client())


@pytest.fixture
def apps(cluster: LocalKubernetes) -> Api:
    return kubernetes.client.AppsV1Api(cluster.api_client())
