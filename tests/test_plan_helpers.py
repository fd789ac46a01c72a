"""A seeded estate for the plan tests: the wasteful four-node cluster with two weeks of usage for
its `web` pods, scanned (so bin packing and rightsizing both recommend) and its snapshot stored
(without the usage, as every real scan stores it). No tests here; the plan tests import it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db.models import Cluster
from app.db.tables_recs import Recommendation
from app.pricing import load_price_book
from app.services.collect import store_snapshot
from app.services.scans import scan_and_store
from engines.registry import default_registry
from engines.snapshot_aws import Snapshot
from tests.engines.test_rightsizing_helpers import steady, usage
from tests.framework.estate import NOW, wasteful_snapshot


def snapshot_with_usage() -> Snapshot:
    """Both `web` pods request 0.5 CPU and 1 GiB but use about 0.2 CPU and 600 MiB."""
    base = wasteful_snapshot()
    end = NOW
    cpu, mem = steady(0.2, 600, 14)
    return base.model_copy(update={"usage": (usage("web-1", cpu, mem, end=end), usage("web-2", cpu, mem, end=end))})


@dataclass(frozen=True)
class Seeded:
    cluster_id: int
    rightsizing: list[str]
    removals: list[str]
    others: list[str]


def seed_estate(db: Engine, name: str = "prod-east") -> Seeded:
    """Register the cluster, scan the snapshot with usage and store the snapshot as a scan does."""
    with Session(db) as s:
        cluster = Cluster(name=name, region="us-east-1")
        s.add(cluster)
        s.commit()
        s.refresh(cluster)
    assert cluster.id is not None
    snap = snapshot_with_usage()
    prices = load_price_book()
    scan_and_store(db, snap, default_registry(), prices, cluster_id=cluster.id)
    store_snapshot(db, cluster, snap, prices)
    with Session(db) as s:
        rows = s.exec(select(Recommendation).where(col(Recommendation.cluster_id) == cluster.id)
                      .order_by(col(Recommendation.monthly_savings).desc())).all()  # fmt: skip
    return Seeded(
        cluster.id,
        [r.fingerprint for r in rows if r.engine == "rightsizing"],
        [r.fingerprint for r in rows if r.action_kind == "drain-and-remove-node"],
        [r.fingerprint for r in rows if r.engine != "rightsizing" and r.action_kind != "drain-and-remove-node"],
    )
