"""Collectors: read clusters (Kubernetes API), accounts (boto3) and usage/traffic sources into a Snapshot.

Read-only by construction: only list/describe/get calls. `build_snapshot` in `snapshot.py` is the
entry point for the worker and the demo; every failure is a `CollectorError` naming its source.
"""

from app.collectors.aws import AwsCollector
from app.collectors.errors import Collected, CollectorError
from app.collectors.k8s import KubernetesCollector
from app.collectors.snapshot import SnapshotCache, build_snapshot
from app.collectors.traffic import FileTrafficSource, TrafficSource
from app.collectors.usage import UsageSource
from app.collectors.usage_file import FileUsageSource
from app.collectors.usage_prometheus import PrometheusUsageSource

__all__ = [
    "AwsCollector",
    "Collected",
    "CollectorError",
    "FileTrafficSource",
    "FileUsageSource",
    "KubernetesCollector",
    "PrometheusUsageSource",
    "SnapshotCache",
    "TrafficSource",
    "UsageSource",
    "build_snapshot",
]
