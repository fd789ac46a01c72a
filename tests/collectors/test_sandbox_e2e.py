"""End to end: the collectors against the full seeded sandbox (both clusters, moto, usage files)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.collectors.aws import AwsCollector
from app.collectors.k8s import KubernetesCollector
from app.collectors.snapshot import SnapshotCache, build_snapshot
from app.collectors.traffic import FileTrafficSource
from app.collectors.usage_file import FileUsageSource
from sandbox.sandbox import Sandbox
from tests.collectors.conftest import isolate_aws_env

pytestmark = pytest.mark.slow  # starts the whole seeded estate (two clusters + moto)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("sandbox")) as sb:
        yield sb


@pytest.fixture
def sandbox_env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Sandbox:
    isolate_aws_env(monkeypatch, tmp_path)
    for key, value in sandbox.aws_env.items():
        monkeypatch.setenv(key, value)
    return sandbox


def test_every_sandbox_cluster_becomes_a_complete_snapshot_without_errors(sandbox_env: Sandbox) -> None:
    sb = sandbox_env
    assert set(sb.clusters) == {"prod-east", "staging-east"}
    cache = SnapshotCache()
    for name in sb.clusters:
        snapshot = build_snapshot(
            cluster=KubernetesCollector(sb.kubeconfig_path, name, name, "us-east-1"),
            aws=AwsCollector("us-east-1"),
            usage=FileUsageSource(sb.usage_path(name)),
            traffic=FileTrafficSource(sb.traffic_path(name)),
            cache=cache,
            now=sb.now,
        )
        assert snapshot.errors == (), snapshot.errors
        cluster, account = snapshot.cluster, snapshot.account
        assert cluster is not None and account is not None
        assert cluster.nodes and cluster.pods and cluster.workloads and cluster.namespaces
        # Every node is an EC2 instance of the account, tagged as a member of this cluster.
        instances = {i.instance_id: i for i in account.instances}
        for node in cluster.nodes:
            assert node.instance_id in instances, node.name
            assert instances[node.instance_id].cluster == name
            assert node.instance_type == instances[node.instance_id].instance_type
            assert node.capacity_type == instances[node.instance_id].lifecycle
        assert account.spot_queue is not None and account.spot_queue.queue_url == sb.spot_queue_url
        # Usage rows are about this cluster's pods and are linked to their workloads.
        live = {(p.namespace, p.name) for p in cluster.pods}
        assert snapshot.usage and all((u.namespace, u.pod) in live for u in snapshot.usage)
        assert all(u.workload_name for u in snapshot.usage)
        assert snapshot.traffic


def test_a_small_page_size_reads_the_same_sandbox_cluster_as_one_big_page(sandbox: Sandbox) -> None:
    small = KubernetesCollector(sandbox.kubeconfig_path, "prod-east", "prod-east", "us-east-1", page_size=7).collect()
    big = KubernetesCollector(sandbox.kubeconfig_path, "prod-east", "prod-east", "us-east-1", page_size=5000).collect()
    assert len(small.value.pods) > 7 and len(small.value.nodes) == len(big.value.nodes)
    # Names and owners, not whole objects: the sandbox's controllers may touch a status in between.
    assert {(p.namespace, p.name, p.owner_kind, p.owner_name) for p in small.value.pods} == {
        (p.namespace, p.name, p.owner_kind, p.owner_name) for p in big.value.pods
    }
