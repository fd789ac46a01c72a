"""Worker jobs: scheduled scans of every registered cluster, and scans the UI asked for.

The UI never scans in its own process: "Scan now" inserts a scan_runs row with status
`requested`, and `run_requested_scans` (polled every few seconds) picks it up. Collection keeps
one SnapshotCache per worker so a failing source falls back to the last good data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.collectors.snapshot import SnapshotCache
from app.db import session_scope
from app.db.models import Cluster
from app.db.tables_recs import ScanRun
from app.db.types import utcnow
from app.pricing import load_price_book
from app.services.collect import collect_cluster
from app.services.scans import scan_and_store
from app.settings import Settings
from engines.registry import default_registry

log = logging.getLogger(__name__)


@dataclass
class JobContext:
    settings: Settings
    db: Engine
    cache: SnapshotCache = field(default_factory=SnapshotCache)


def scan_cluster(ctx: JobContext, cluster: Cluster, *, trigger: str, run_id: int | None = None) -> None:
    """Collect and scan one cluster; any failure is logged and recorded, never raised."""
    try:
        prices = load_price_book(ctx.settings.pricing_dir)
        snapshot = collect_cluster(ctx.db, ctx.settings, cluster, prices, ctx.cache)
        scan_and_store(ctx.db, snapshot, default_registry(), prices, cluster_id=cluster.id,
                       trigger=trigger, run_id=run_id)  # fmt: skip
        log.info("scanned %s (%s)", cluster.name, trigger)
    except Exception as exc:  # the scheduler thread must survive anything a cluster throws at it
        log.exception("scan of %s failed", cluster.name)
        if run_id is not None:
            with session_scope(ctx.db) as session:
                run = session.get_one(ScanRun, run_id)
                run.status, run.error, run.finished_at = "failed", f"{type(exc).__name__}: {exc}", utcnow()
                session.add(run)


def scan_all_clusters(ctx: JobContext) -> None:
    with Session(ctx.db) as session:
        clusters = list(session.exec(select(Cluster).order_by(Cluster.name)))
    for cluster in clusters:
        scan_cluster(ctx, cluster, trigger="schedule")


def run_requested_scans(ctx: JobContext) -> None:
    """Pick up scans requested from the UI (oldest first) and run them."""
    with session_scope(ctx.db) as session:
        requested = list(session.exec(
            select(ScanRun).where(ScanRun.status == "requested").order_by(col(ScanRun.started_at))
        ))  # fmt: skip
        for run in requested:
            run.status = "running"
            session.add(run)
    for run in requested:
        with Session(ctx.db) as session:
            targets = [session.get(Cluster, run.cluster_id)] if run.cluster_id else list(session.exec(select(Cluster)))
        for cluster in targets:
            if cluster is not None:
                scan_cluster(ctx, cluster, trigger=run.trigger, run_id=run.id if run.cluster_id else None)
        if run.cluster_id is None:
            with session_scope(ctx.db) as session:
                row = session.get_one(ScanRun, run.id)
                row.status, row.finished_at = "succeeded", utcnow()
                session.add(row)

