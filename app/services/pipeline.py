"""The one collect -> scan -> store pipeline for a registered cluster.

`cloudoptim scan`, `cloudoptim demo` (its first scan) and the worker (scheduled and requested
scans) all call `scan_cluster`, so a scan means the same thing everywhere: a scan run row that
is `running` from before collection starts, collection and engine time recorded apart, and an
honest end state (`failed` when every source failed, `partial` when some did). It never raises:
any failure ends up in the run row and in the returned `ClusterScan`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine

from app.collectors.snapshot import SnapshotCache
from app.db.models import Cluster
from app.db.states import ScanStatus, ScanTrigger
from app.services.collect import collect_cluster
from app.services.scans import EngineOutcome, ScanOutcome, fail_run, scan_and_store, start_run
from app.settings import Settings
from engines.contract import PriceBook
from engines.registry import EngineRegistry
from engines.snapshot_aws import Snapshot, SourceError

log = logging.getLogger(__name__)


@dataclass
class ClusterScan:
    """What one pipeline run did for one cluster."""

    cluster: str
    scan_run_id: int
    status: ScanStatus
    error: str | None = None
    snapshot: Snapshot | None = None
    outcomes: list[EngineOutcome] = field(default_factory=list)
    collect_s: float = 0.0

    @property
    def source_errors(self) -> tuple[SourceError, ...]:
        return self.snapshot.errors if self.snapshot is not None else ()

    @property
    def ok(self) -> bool:
        return self.status is not ScanStatus.FAILED


def scan_cluster(
    db: Engine,
    settings: Settings,
    cluster: Cluster,
    *,
    prices: PriceBook,
    registry: EngineRegistry,
    cache: SnapshotCache | None = None,
    engine_names: list[str] | None = None,
    trigger: str = ScanTrigger.CLI,
    run_id: int | None = None,
) -> ClusterScan:
    """Collect `cluster`, run the engines, store everything; `run_id` continues a requested run."""
    assert cluster.id is not None
    names = [e.name for e in registry.select(engine_names)]
    run_id = start_run(db, cluster_id=cluster.id, engines=names, trigger=trigger, run_id=run_id)
    started = time.perf_counter()
    try:
        snapshot = collect_cluster(db, settings, cluster, prices, cache)
    except Exception as exc:  # a bug or a DB outage while collecting: record it, never crash the caller
        log.exception("collecting %s failed", cluster.name)
        error = f"collection failed: {type(exc).__name__}: {exc}"
        _fail_quietly(db, run_id, error, time.perf_counter() - started)
        return ClusterScan(cluster.name, run_id, ScanStatus.FAILED, error, collect_s=time.perf_counter() - started)
    collect_s = time.perf_counter() - started
    try:
        outcome: ScanOutcome = scan_and_store(
            db, snapshot, registry, prices, cluster_id=cluster.id, engine_names=engine_names,
            trigger=trigger, run_id=run_id, collect_s=collect_s,
        )  # fmt: skip
    except Exception as exc:
        log.exception("scanning %s failed", cluster.name)
        error = f"scan failed: {type(exc).__name__}: {exc}"
        _fail_quietly(db, run_id, error, collect_s)
        return ClusterScan(cluster.name, run_id, ScanStatus.FAILED, error, snapshot, collect_s=collect_s)
    log.info("scanned %s (%s): %s", cluster.name, trigger, outcome.status)
    return ClusterScan(cluster.name, run_id, outcome.status, outcome.error, snapshot, outcome.outcomes, collect_s)


def _fail_quietly(db: Engine, run_id: int, error: str, collect_s: float) -> None:
    try:
        fail_run(db, run_id, error, collect_s=round(collect_s, 3))
    except Exception:  # the database itself is gone; the log line above is all we can do
        log.exception("could not record the failure of scan run %s", run_id)
