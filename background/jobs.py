"""Worker jobs: scheduled scans of every registered cluster, and scans the UI asked for.

Both go through the one pipeline (`app.services.pipeline.scan_cluster`). The UI never scans in
its own process: "Scan now" queues `requested` scan_runs rows (`app.services.scan_requests`),
which `run_requested_scans` claims one at a time. One SnapshotCache per worker lets a failing
source fall back to its last good data. These functions run on the worker's scan thread
(`background.scan_runner`), never on the scheduler's threads.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.collectors.snapshot import SnapshotCache
from app.db.models import Cluster
from app.db.states import ScanTrigger
from app.db.tables_recs import ScanRun
from app.db.types import utcnow
from app.pricing import load_price_book
from app.services.pipeline import ClusterScan, scan_cluster
from app.services.scan_requests import PENDING, claim_next_requested
from app.services.scans import fail_run
from app.settings import Settings
from background.logs import log_context
from engines.registry import EngineRegistry, default_registry

log = logging.getLogger(__name__)


@dataclass
class JobContext:
    settings: Settings
    db: Engine
    cache: SnapshotCache = field(default_factory=SnapshotCache)
    registry: EngineRegistry = field(default_factory=default_registry)
    stop: threading.Event = field(default_factory=threading.Event)


def scan_one(ctx: JobContext, cluster: Cluster, *, trigger: str, run_id: int | None = None) -> ClusterScan:
    # Every line the scan logs (collectors, engines, the store) names the cluster it is about.
    with log_context(cluster_id=cluster.id, cluster=cluster.name, scan_run_id=run_id):
        prices = load_price_book(ctx.settings.pricing_dir)
        done = scan_cluster(ctx.db, ctx.settings, cluster, prices=prices, registry=ctx.registry, cache=ctx.cache,
                            trigger=trigger, run_id=run_id)  # fmt: skip
        log.info("%s scan of %s %s (scan run %s)%s", trigger, cluster.name, done.status, done.scan_run_id,
                 f": {done.error}" if done.error else "", extra={"scan_run_id": done.scan_run_id})  # fmt: skip
        return done


def scan_all_clusters(ctx: JobContext) -> list[ClusterScan]:
    """Scan every cluster that has no requested or running scan already; stop early on shutdown."""
    with Session(ctx.db) as session:
        clusters = list(session.exec(select(Cluster).order_by(Cluster.name)))
        busy = set(session.exec(select(ScanRun.cluster_id).where(col(ScanRun.status).in_(PENDING))))
    done = []
    for cluster in clusters:
        if ctx.stop.is_set():
            break
        if cluster.id in busy:
            continue  # a requested scan of this cluster is queued: it will cover it
        try:
            done.append(scan_one(ctx, cluster, trigger=ScanTrigger.SCHEDULE))
        except Exception:  # the price files vanished...: this cluster fails, the others still run
            log.exception("scheduled scan of %s failed", cluster.name,
                          extra={"cluster_id": cluster.id, "cluster": cluster.name})  # fmt: skip
    return done


def run_requested_scans(ctx: JobContext) -> list[ClusterScan]:
    """Claim and run requested scans, oldest first, until none is left or the worker stops."""
    done = []
    while not ctx.stop.is_set():
        run = claim_next_requested(ctx.db)
        if run is None:
            break
        assert run.id is not None
        with Session(ctx.db) as session:
            cluster = session.get(Cluster, run.cluster_id) if run.cluster_id is not None else None
        if cluster is None:
            fail_run(ctx.db, run.id, "the cluster was removed before the scan started")
            continue
        try:
            done.append(scan_one(ctx, cluster, trigger=run.trigger, run_id=run.id))
        except Exception as exc:
            log.exception("requested scan %s failed", run.id,
                          extra={"cluster_id": cluster.id, "cluster": cluster.name, "scan_run_id": run.id})  # fmt: skip
            fail_run(ctx.db, run.id, f"{type(exc).__name__}: {exc}")
    return done


def first_scheduled_scan(db: Engine, interval: timedelta, now: datetime | None = None) -> datetime:
    """When the first scheduled scan is due: right away, unless every cluster was scanned recently.

    `cloudoptim demo` scans every cluster just before it starts the worker; scanning them all
    again ten seconds later would only repeat that work.
    """
    now = now or utcnow()
    with Session(db) as session:
        last = [c.last_scan_at for c in session.exec(select(Cluster))]
    if not last or any(t is None for t in last):
        return now
    return max(now, min(t for t in last if t is not None) + interval)
