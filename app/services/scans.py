"""Scan use-case: run engines over a Snapshot and store the outcome.

Called through `app.services.pipeline` (collect, then scan, then store) by `cloudoptim scan`,
`cloudoptim demo` and the worker; tests call `scan_and_store` with a ready snapshot. Each engine
runs in isolation: one that raises or has invalid settings is recorded in the scan run and the
others still run. Recommendations are de-duplicated by fingerprint: one that
persists is updated, one that disappeared since the last scan of that cluster and engine is marked
obsolete.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from app.db import session_scope
from app.db.models import Cluster
from app.db.states import ScanStatus, ScanTrigger
from app.db.tables_recs import ScanRun
from app.db.types import utcnow
from app.services.engine_settings import EngineSettingsError, load_engine_settings
from app.services.rec_store import store_recommendations
from engines.contract import PriceBook, Recommendation, ScanContext, ScanResult, Skipped
from engines.registry import EngineRegistry
from engines.snapshot_aws import Snapshot

log = logging.getLogger(__name__)


@dataclass
class EngineOutcome:
    engine: str
    result: ScanResult = field(default_factory=ScanResult)
    seconds: float = 0.0
    error: str | None = None


@dataclass
class ScanOutcome:
    scan_run_id: int | None
    cluster: str | None
    outcomes: list[EngineOutcome]
    status: ScanStatus = ScanStatus.SUCCEEDED
    error: str | None = None

    @property
    def recommendations(self) -> list[Recommendation]:
        return [r for o in self.outcomes for r in o.result.recommendations]

    @property
    def skipped(self) -> list[tuple[str, Skipped]]:
        return [(o.engine, s) for o in self.outcomes for s in o.result.skipped]


def run_engines(
    snapshot: Snapshot,
    registry: EngineRegistry,
    prices: PriceBook,
    *,
    now: datetime,
    engine_names: list[str] | None = None,
    settings_for: Any = None,
) -> list[EngineOutcome]:
    """Run the selected engines; `settings_for(engine)` returns its Settings (defaults if None)."""
    outcomes = []
    for engine in registry.select(engine_names):
        outcome = EngineOutcome(engine.name)
        started = time.perf_counter()
        try:
            settings = settings_for(engine) if settings_for else engine.Settings()
            outcome.result = engine.scan(snapshot, ScanContext(prices=prices, now=now, settings=settings))
        except EngineSettingsError as exc:
            outcome.error = str(exc)
        except Exception as exc:  # an engine bug must not stop the other engines or the worker
            log.exception("engine %s failed", engine.name)
            outcome.error = f"{type(exc).__name__}: {exc}"
        outcome.seconds = time.perf_counter() - started
        outcomes.append(outcome)
    return outcomes


def snapshot_status(snapshot: Snapshot) -> tuple[ScanStatus, str | None]:
    """What the collection alone says about a scan: failed when nothing at all could be read."""
    failed = [e for e in snapshot.errors if not e.degraded]
    if snapshot.cluster is None and snapshot.account is None:
        reasons = "; ".join(f"{e.source}: {e.message}" for e in failed) or "no source configured"
        return ScanStatus.FAILED, f"every source failed: {reasons}"
    if snapshot.errors:
        return ScanStatus.PARTIAL, "; ".join(f"{e.source}: {e.message}" for e in snapshot.errors)
    return ScanStatus.SUCCEEDED, None


def start_run(db: Engine, *, cluster_id: int | None, engines: list[str], trigger: str, run_id: int | None = None) -> int:
    """Create (or continue a requested) scan run in state running; return its id."""
    with session_scope(db) as session:
        run = session.get(ScanRun, run_id) if run_id is not None else None
        if run is None:
            run = ScanRun(cluster_id=cluster_id, trigger=trigger, started_at=utcnow())
        elif run.status != ScanStatus.RUNNING:
            run.started_at = utcnow()  # a requested run starts now; a running one keeps its start
        run.status, run.engines = ScanStatus.RUNNING, engines
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


def fail_run(db: Engine, run_id: int, error: str, *, collect_s: float | None = None) -> None:
    with session_scope(db) as session:
        run = session.get_one(ScanRun, run_id)
        run.status, run.error, run.finished_at = ScanStatus.FAILED, error, utcnow()
        run.duration_s = round((run.finished_at - run.started_at).total_seconds(), 3)
        run.collect_s = collect_s
        session.add(run)


def scan_and_store(
    db: Engine,
    snapshot: Snapshot,
    registry: EngineRegistry,
    prices: PriceBook,
    *,
    cluster_id: int | None,
    engine_names: list[str] | None = None,
    trigger: str = ScanTrigger.CLI,
    run_id: int | None = None,
    collect_s: float | None = None,
) -> ScanOutcome:
    """Run engines over `snapshot` and store the results; `run_id` continues a started run.

    A snapshot in which every source failed runs no engine (it would make every open
    recommendation look obsolete) and ends `failed`; one with failed sources ends `partial`
    and marks nothing obsolete, since a missing source is no evidence that a saving is gone.
    """
    started = time.perf_counter()
    names = [e.name for e in registry.select(engine_names)]
    run_id = start_run(db, cluster_id=cluster_id, engines=names, trigger=trigger, run_id=run_id)
    status, source_problem = snapshot_status(snapshot)
    cluster = snapshot.cluster.name if snapshot.cluster else None
    if status is ScanStatus.FAILED:
        fail_run(db, run_id, source_problem or "every source failed", collect_s=collect_s)
        return ScanOutcome(run_id, cluster, [], ScanStatus.FAILED, source_problem)
    outcomes = run_engines(
        snapshot, registry, prices, now=snapshot.collected_at, engine_names=engine_names,
        settings_for=lambda eng: load_engine_settings(db, cluster_id, eng),
    )  # fmt: skip
    engine_s = sum(o.seconds for o in outcomes)
    complete = not any(not e.degraded for e in snapshot.errors)
    now = utcnow()
    with session_scope(db) as session:
        stored = {
            o.engine: store_recommendations(
                session, o.engine, o.result.recommendations, cluster_id=cluster_id, run_id=run_id, now=now,
                mark_obsolete=complete,
            )
            for o in outcomes
            if o.error is None
        }  # fmt: skip
        run = session.get_one(ScanRun, run_id)
        errors = [f"{o.engine}: {o.error}" for o in outcomes if o.error]
        if outcomes and all(o.error for o in outcomes):
            status = ScanStatus.FAILED
        elif errors:
            status = ScanStatus.PARTIAL
        run.status, run.finished_at = status, utcnow()
        run.collect_s = None if collect_s is None else round(collect_s, 3)
        run.engine_s = round(engine_s, 3)
        run.duration_s = round(time.perf_counter() - started + (collect_s or 0.0), 3)
        run.counts = {
            o.engine: {
                "recommendations": len(o.result.recommendations),
                "skipped": len(o.result.skipped),
                "monthly_savings": str(sum((r.monthly_savings for r in o.result.recommendations), start=0)),
                "seconds": round(o.seconds, 3),
                "error": o.error,
                **stored.get(o.engine, {}),
            }
            for o in outcomes
        }
        run.skipped = [{"engine": o.engine, "target": s.target, "reason": s.reason}
                       for o in outcomes for s in o.result.skipped]  # fmt: skip
        if not complete:
            errors.insert(0, f"sources failed, nothing marked obsolete: {source_problem}")
        run.error = "; ".join(errors) or None
        session.add(run)
        if cluster_id is not None:
            cluster_row = session.get_one(Cluster, cluster_id)
            cluster_row.last_scan_at = run.finished_at
            session.add(cluster_row)
    return ScanOutcome(run_id, cluster, outcomes, status, run.error)
