"""Collection use-case: build a registered cluster's Snapshot from its sources and store it.

Called by `app.services.pipeline` (scans from the CLI, the demo and the worker) and by
`cloudoptim inventory`. Sources
(Kubernetes context, the AWS region's account, usage and traffic) come from the cluster row and
Settings. A failing source never raises: the snapshot carries the error, the last good data is
reused (from memory, or from the DB after a restart), and the cluster row shows the error.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, insert
from sqlmodel import Session, col, select

from app.collectors.aws import AwsCollector
from app.collectors.k8s import KubernetesCollector
from app.collectors.snapshot import SnapshotCache, build_snapshot
from app.collectors.traffic import FileTrafficSource, TrafficSource
from app.collectors.traffic_prometheus import PrometheusTrafficSource
from app.collectors.usage import UsageSource
from app.collectors.usage_file import FileUsageSource
from app.collectors.usage_prometheus import PrometheusUsageSource
from app.db import session_scope
from app.db.models import Cluster, Node, StoredSnapshot
from app.db.types import RawJson, utcnow
from app.services.costing import cluster_cost
from app.services.enrich import enrich_snapshot
from app.settings import Settings, TrafficSettings
from engines.contract import PriceBook
from engines.costs import node_hourly
from engines.money import monthly_from_hourly
from engines.snapshot import ClusterState
from engines.snapshot_aws import AccountState, Snapshot

# The sandbox writes each resource's intended create date here (its moto stamps everything "now");
# read only for sandbox clusters, never for a real account.
SANDBOX_CREATED_TAG = "cloudoptim.io/sandbox-created"


def usage_source(spec: str) -> UsageSource | None:
    """`http(s)://…` is a Prometheus server; anything else a usage CSV file or directory."""
    if not spec:
        return None
    if spec.startswith(("http://", "https://")):
        return PrometheusUsageSource(spec)
    return FileUsageSource(Path(spec))


def traffic_source(spec: str, settings: TrafficSettings | None = None) -> TrafficSource | None:
    """`http(s)://…` is a Prometheus server (service-mesh metrics); anything else traffic.csv or its directory."""
    if not spec:
        return None
    if spec.startswith(("http://", "https://")):
        t = settings or TrafficSettings()
        labels = (t.source_label, t.source_namespace_label, t.destination_label, t.destination_namespace_label)
        return PrometheusTrafficSource(spec, t.promql, t.window, labels=labels, timeout=t.timeout_s)
    return FileTrafficSource(Path(spec))


def account_key(region: str) -> str:
    return f"aws:{region}"


def prime_cache(db: Engine, cluster: Cluster, cache: SnapshotCache) -> None:
    """Load the last stored good state into the cache, so a restart still has a fallback."""
    if cache.get("cluster", cluster.name) is not None or cluster.id is None:
        return
    with Session(db) as session:
        stored = session.exec(
            select(StoredSnapshot)
            .where(StoredSnapshot.cluster_id == cluster.id)
            .order_by(col(StoredSnapshot.collected_at).desc())
        ).first()
    if stored is None:
        return
    if stored.data.get("cluster"):
        cache.put("cluster", cluster.name, ClusterState.model_validate(stored.data["cluster"]), stored.collected_at)
    if stored.data.get("account"):
        cache.put("account", account_key(cluster.region), AccountState.model_validate(stored.data["account"]),
                  stored.collected_at)  # fmt: skip


def collect_cluster(
    db: Engine, settings: Settings, cluster: Cluster, prices: PriceBook, cache: SnapshotCache | None = None
) -> Snapshot:
    cache = cache if cache is not None else SnapshotCache()
    prime_cache(db, cluster, cache)
    kubeconfig = cluster.kubeconfig_path or settings.k8s.kubeconfig
    snapshot = build_snapshot(
        cluster=KubernetesCollector(
            Path(kubeconfig) if kubeconfig else None, cluster.context, cluster.name, cluster.region,
            page_size=settings.k8s.page_size, timeout=settings.k8s.request_timeout_s,
        ),
        aws=AwsCollector(cluster.region, created_tag=SANDBOX_CREATED_TAG if cluster.is_sandbox else None),
        usage=usage_source(cluster.usage_source),
        traffic=traffic_source(cluster.traffic_source, settings.traffic),
        cache=cache,
        account_key=account_key(cluster.region),
    )  # fmt: skip
    snapshot = enrich_snapshot(db, snapshot, sandbox=cluster.is_sandbox, cluster_id=cluster.id)
    store_snapshot(db, cluster, snapshot, prices)
    return snapshot


def node_rows(cluster_id: int, state: ClusterState, prices: PriceBook) -> list[dict[str, Any]]:
    """One `nodes` row per node, pods counted in one pass (linear in nodes + pods)."""
    pods_per_node = Counter(p.node_name for p in state.pods if p.node_name)
    rows = []
    for node in state.nodes:
        try:
            hourly: Decimal | None = node_hourly(prices, node.region or state.region, node).hourly
        except LookupError:
            hourly = None
        rows.append({
            "cluster_id": cluster_id, "name": node.name, "instance_id": node.instance_id,
            "instance_type": node.instance_type, "zone": node.zone, "capacity_type": node.capacity_type,
            "cpu_cores": node.allocatable.cpu, "memory_bytes": node.allocatable.memory,
            "pods": pods_per_node.get(node.name, 0), "hourly_cost": hourly,
            "monthly_cost": None if hourly is None else monthly_from_hourly(hourly), "seen_at": utcnow(),
        })  # fmt: skip
    return rows


def store_snapshot(db: Engine, cluster: Cluster, snapshot: Snapshot, prices: PriceBook) -> None:
    """Keep the latest snapshot (without bulky usage history), the node list and the cluster cost.

    Everything is computed before the write transaction opens, which then only deletes and
    bulk-inserts, so the UI and the worker never wait on a long lock.
    """
    cid = cluster.id
    assert cid is not None
    errors = [{"source": e.source, "message": e.message} for e in snapshot.errors]
    state = snapshot.cluster
    nodes = node_rows(cid, state, prices) if state is not None else []
    monthly = cluster_cost(prices, state).monthly if state is not None else None
    # pydantic's own JSON writer is ten times faster than model_dump + json.dumps at 100k pods.
    data = RawJson(snapshot.model_dump_json(exclude={"usage"})) if state is not None else None
    with session_scope(db) as session:
        row = session.get_one(Cluster, cid)
        row.last_error = "; ".join(f"{e['source']}: {e['message']}" for e in errors) or None
        if snapshot.account is not None and snapshot.account.account_id:
            row.account_id = snapshot.account.account_id
        if state is not None:
            row.monthly_cost = monthly
            session.exec(delete(Node).where(col(Node.cluster_id) == cid))  # type: ignore[call-overload]
            if nodes:
                session.exec(insert(Node), params=nodes)  # type: ignore[call-overload]
            session.exec(delete(StoredSnapshot).where(col(StoredSnapshot.cluster_id) == cid))  # type: ignore[call-overload]
            session.exec(insert(StoredSnapshot), params=[  # type: ignore[call-overload]
                {"cluster_id": cid, "collected_at": snapshot.collected_at, "errors": errors, "data": data}
            ])
        session.add(row)
