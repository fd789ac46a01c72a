"""The clients one execution acts through, for the cluster it was approved on.

Called by the worker's execution runner (`background.execution_runner`) for each execution and
for the crash recovery. The Kubernetes ApiClient comes from the collector's own builder (the
cluster row's kubeconfig and context, never the process-wide config, one retry), so the executor
reaches a cluster exactly as the scans do; EC2 is a boto3 client for the cluster's region on the
standard credential chain (`AWS_ENDPOINT_URL` points it at the sandbox).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from kubernetes import client
from sqlalchemy import Engine
from sqlmodel import Session

from app.collectors.errors import CollectorError
from app.collectors.k8s import KubernetesCollector
from app.db.models import Cluster
from app.settings import Settings
from executor.base import ExecContext, StepRecord


class ClusterUnavailable(RuntimeError):
    """The execution's cluster is no longer registered, or its kubeconfig cannot be used."""


def cluster_row(db: Engine, cluster_id: int | None, cluster_name: str) -> Cluster:
    with Session(db) as session:
        row = session.get(Cluster, cluster_id) if cluster_id is not None else None
    if row is None:
        raise ClusterUnavailable(f"cluster {cluster_name or '(unknown)'} is no longer registered")
    return row


def kubernetes_api_client(settings: Settings, cluster: Cluster) -> Any:
    """An ApiClient for the cluster's kubeconfig context (the one the collector scans through)."""
    kubeconfig = cluster.kubeconfig_path or settings.k8s.kubeconfig
    collector = KubernetesCollector(Path(kubeconfig) if kubeconfig else None, cluster.context, cluster.name,
                                    cluster.region, timeout=settings.k8s.request_timeout_s)  # fmt: skip
    try:
        # One builder for both sides; the collector keeps it as a method, this is its one other caller.
        return collector.api_client()
    except CollectorError as exc:
        raise ClusterUnavailable(f"cluster {cluster.name}: {exc.message}") from exc


def ec2_client(region: str) -> Any:
    # Standard retries (throttling is common on EC2 writes), short timeouts: a dead endpoint fails
    # the step in seconds instead of holding the worker for the whole default minute.
    config = Config(region_name=region, connect_timeout=5, read_timeout=30, retries={"max_attempts": 5, "mode": "standard"})
    return boto3.Session().client("ec2", config=config)


@contextmanager
def exec_context(
    settings: Settings, cluster: Cluster, *, record: Callable[[StepRecord], None] = lambda _s: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[ExecContext]:
    """An ExecContext with live clients for `cluster`; the Kubernetes connection pool is closed after."""
    api = kubernetes_api_client(settings, cluster)
    try:
        yield ExecContext(
            cluster=cluster.name, region=cluster.region, core=client.CoreV1Api(api), apps=client.AppsV1Api(api),
            policy=client.PolicyV1Api(api), ec2=ec2_client(cluster.region), record=record, should_stop=should_stop,
            drain_timeout_s=float(settings.executor.drain_timeout_s),
            aws_wait_timeout_s=settings.executor.aws_wait_timeout_s,
            node_join_timeout_s=settings.executor.node_join_timeout_s,
        )  # fmt: skip
    finally:
        api.close()
