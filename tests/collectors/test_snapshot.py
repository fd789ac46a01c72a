"""build_snapshot: all sources into one serialisable Snapshot; failures reported, last good data kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from kubernetes.client import CoreV1Api

from app.collectors.aws import AwsCollector
from app.collectors.errors import Collected
from app.collectors.k8s import KubernetesCollector
from app.collectors.snapshot import SnapshotCache, build_snapshot
from app.collectors.traffic import FileTrafficSource
from app.collectors.usage_file import FileUsageSource
from app.collectors.usage_prometheus import PrometheusUsageSource
from engines.snapshot import ClusterState
from engines.snapshot_aws import Snapshot
from sandbox.aws import LocalAws
from sandbox.k8s_emulator import LocalKubernetes
from tests.collectors.conftest import CONTEXT, StubFactory
from tests.collectors.k8s_objects import deployment, node

NOW = datetime.now(UTC).replace(microsecond=0)


def seed(k8s: LocalKubernetes, aws: LocalAws, data: Path) -> str:
    k8s.put_many([node("node-a"), node("node-b"), deployment("checkout", "shop", replicas=2)])
    k8s.wait_reconciled(passes=2)
    reply = aws.client("ec2").run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="m5.large")
    pods = [str(p.metadata.name) for p in CoreV1Api(k8s.api_client()).list_namespaced_pod("shop").items if p.metadata]
    rows = ["timestamp,namespace,pod,container,cpu_cores,memory_bytes"]
    for minutes in range(5, 60, 5):
        ts = (NOW - timedelta(minutes=minutes)).isoformat()
        rows += [f"{ts},shop,{pod},checkout,0.2,300000000" for pod in pods]
    (data / "usage.csv").write_text("\n".join(rows) + "\n")
    (data / "traffic.csv").write_text("namespace,source,destination,bytes_per_day\nshop,checkout,payments,5e9\n")
    return str(reply["Instances"][0]["InstanceId"])


def test_all_sources_make_one_serialisable_snapshot_with_usage_linked_to_workloads(
    k8s: LocalKubernetes, kubeconfig: Path, aws_env: LocalAws, tmp_path: Path
) -> None:
    instance = seed(k8s, aws_env, tmp_path)
    snapshot = build_snapshot(
        cluster=KubernetesCollector(kubeconfig, CONTEXT, "prod-east", "us-east-1"),
        aws=AwsCollector("us-east-1"),
        usage=FileUsageSource(tmp_path),
        traffic=FileTrafficSource(tmp_path),
        usage_days=1,
        now=NOW,
    )
    assert snapshot.errors == ()
    assert snapshot.cluster is not None and len(snapshot.cluster.nodes) == 2
    assert snapshot.account is not None and [i.instance_id for i in snapshot.account.instances] == [instance]
    assert len(snapshot.usage) == 2
    assert all((u.workload_kind, u.workload_name) == ("Deployment", "checkout") for u in snapshot.usage)
    assert all(sum(v is not None for v in u.cpu_cores) == 11 for u in snapshot.usage)
    assert snapshot.traffic[0].bytes_per_day == 5e9
    assert Snapshot.model_validate_json(snapshot.model_dump_json()) == snapshot


def test_a_failing_source_is_reported_and_its_last_good_data_kept(
    k8s: LocalKubernetes, kubeconfig: Path, aws_env: LocalAws, tmp_path: Path, closed_port: int
) -> None:
    seed(k8s, aws_env, tmp_path)
    cache = SnapshotCache()
    good = build_snapshot(
        cluster=KubernetesCollector(kubeconfig, CONTEXT, "prod-east", "us-east-1"),
        usage=FileUsageSource(tmp_path / "usage.csv"),
        cache=cache,
        usage_days=1,
        now=NOW,
    )
    assert good.errors == () and good.cluster is not None

    # The API server moves away and the usage file gets corrupted: same cluster, same source names.
    config = yaml.safe_load(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{closed_port}"
    kubeconfig.write_text(yaml.safe_dump(config))
    with (tmp_path / "usage.csv").open("a") as handle:
        handle.write("not-a-time,shop,x,y,1,1\n")
    later = NOW + timedelta(hours=1)
    snapshot = build_snapshot(
        cluster=KubernetesCollector(kubeconfig, CONTEXT, "prod-east", "us-east-1", timeout=2),
        usage=FileUsageSource(tmp_path / "usage.csv"),
        cache=cache,
        usage_days=1,
        now=later,
    )
    assert snapshot.cluster == good.cluster and snapshot.usage == good.usage
    sources = {e.source: e.message for e in snapshot.errors}
    assert set(sources) == {f"kubernetes:{CONTEXT}", f"file:{tmp_path / 'usage.csv'}"}
    assert "connection refused" in sources[f"kubernetes:{CONTEXT}"]
    assert "line 24" in sources[f"file:{tmp_path / 'usage.csv'}"]
    assert all(f"kept the last good data from {NOW.isoformat()}" in m for m in sources.values())


def test_a_failure_with_nothing_cached_leaves_that_part_empty(
    aws_env: LocalAws, monkeypatch: pytest.MonkeyPatch, http_stub: StubFactory, closed_port: int
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port}")
    stub = http_stub(status=500, body=b'{"status":"error","error":"overloaded"}')
    snapshot = build_snapshot(usage=PrometheusUsageSource(stub.url), aws=AwsCollector("us-east-1"), now=NOW)
    assert snapshot.usage == () and snapshot.account is None and snapshot.cluster is None
    assert [e.source for e in snapshot.errors] == ["aws:us-east-1:sts", f"prometheus:{stub.url}"]
    assert "HTTP 500" in snapshot.errors[1].message and "overloaded" in snapshot.errors[1].message


class _Exploding:
    source = "kubernetes:buggy"
    cluster_name = "buggy"

    def collect(self) -> Collected[ClusterState]:
        raise RuntimeError("a bug in a client library")


def test_an_unexpected_exception_in_a_collector_never_escapes_build_snapshot() -> None:
    snapshot = build_snapshot(cluster=_Exploding(), now=NOW)
    assert snapshot.cluster is None
    assert snapshot.errors[0].source == "kubernetes:buggy"
    assert "unexpected error: RuntimeError('a bug in a client library')" in snapshot.errors[0].message


def test_warnings_about_skipped_objects_reach_the_snapshot(k8s: LocalKubernetes, kubeconfig: Path) -> None:
    from tests.collectors.k8s_objects import container, pod

    k8s.put_many([node("node-a"), pod("bad", containers=[container(memory="12 GB")])])
    snapshot = build_snapshot(cluster=KubernetesCollector(kubeconfig, CONTEXT, "prod-east", "us-east-1"), now=NOW)
    assert snapshot.cluster is not None and snapshot.cluster.pods == ()
    assert [e.source for e in snapshot.errors] == [f"kubernetes:{CONTEXT}"]
    assert "skipped Pod default/bad" in snapshot.errors[0].message
