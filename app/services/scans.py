"""Scan use-case: run engines over a Snapshot and store the outcome.

Called by `cloudoptim scan`, the worker's scheduled scans and the UI's "scan now" (through the
worker). Each engine runs in isolation: one that raises or has invalid settings is recorded in the
scan run and the others still run. Recommendations are de-duplicated by fingerprint: one that
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
from sqlmodel import col, select

from app.db import session_scope
from app.db.models import Cluster
from app.db.tables_recs import Recommendation as RecRow
from app.db.tables_recs import ScanRun
from app.db.types import utcnow
from app.services.engine_settings import EngineSettingsError, load_engine_settings
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


def scan_and_store(
    db: Engine,
    snapshot: Snapshot,
    registry: EngineRegistry,
    prices: PriceBook,
    *,
    cluster_id: int | None,
    engine_names: list[str] | None = None,
    trigger: str = "cli",
    run_id: int | None = None,
) -> ScanOutcome:
    """Run engines over `snapshot` and store the results; `run_id` continues a requested run."""
    started = time.perf_counter()
    with session_scope(db) as session:
        run = session.get(ScanRun, run_id) if run_id is not None else None
        run = run or ScanRun(cluster_id=cluster_id, trigger=trigger)
        run.status, run.started_at = "running", utcnow()
        run.engines = [e.name for e in registry.select(engine_names)]
        session.add(run)
        session.flush()
        run_id = run.id
    outcomes = run_engines(
        snapshot, registry, prices, now=snapshot.collected_at, engine_names=engine_names,
        settings_for=lambda eng: load_engine_settings(db, cluster_id, eng),
    )  # fmt: skip
    with session_scope(db) as session:
        for outcome in outcomes:
            if outcome.error is None:
                _store_recommendations(session, outcome, cluster_id, run_id)
        run = session.get_one(ScanRun, run_id)
        run.finished_at = utcnow()
        run.duration_s = round(time.perf_counter() - started, 3)
        run.status = "failed" if all(o.error for o in outcomes) and outcomes else "succeeded"
        run.counts = {
            o.engine: {
                "recommendations": len(o.result.recommendations),
                "skipped": len(o.result.skipped),
                "monthly_savings": str(sum((r.monthly_savings for r in o.result.recommendations), start=0)),
                "seconds": round(o.seconds, 3),
                "error": o.error,
            }
            for o in outcomes
        }
        run.skipped = [{"engine": o.engine, "target": s.target, "reason": s.reason}
                       for o in outcomes for s in o.result.skipped]  # fmt: skip
        errors = [f"{o.engine}: {o.error}" for o in outcomes if o.error]
        run.error = "; ".join(errors) or None
        session.add(run)
        if cluster_id is not None:
            cluster_row = session.get_one(Cluster, cluster_id)
            cluster_row.last_scan_at = run.finished_at
            session.add(cluster_row)
    cluster = snapshot.cluster.name if snapshot.cluster else None
    return ScanOutcome(scan_run_id=run_id, cluster=cluster, outcomes=outcomes)


def _store_recommendations(session: Any, outcome: EngineOutcome, cluster_id: int | None, run_id: int | None) -> None:
    now = utcnow()
    seen = set()
    for rec in outcome.result.recommendations:
        seen.add(rec.fingerprint)
        row = session.exec(select(RecRow).where(RecRow.fingerprint == rec.fingerprint)).first()
        if row is None:
            row = RecRow(fingerprint=rec.fingerprint, engine=rec.engine, cluster_id=cluster_id, created_at=now,
                         current_monthly_cost=rec.current_monthly_cost, projected_monthly_cost=rec.projected_monthly_cost,
                         monthly_savings=rec.monthly_savings, target=rec.target, action_kind=rec.action.kind)  # fmt: skip
        elif row.status == "obsolete":
            row.status = "open"  # it came back: show it again
        row.target, row.action_kind = rec.target, rec.action.kind
        row.action = rec.action.model_dump(mode="json")
        row.current_monthly_cost = rec.current_monthly_cost
        row.projected_monthly_cost = rec.projected_monthly_cost
        row.monthly_savings = rec.monthly_savings
        row.risk, row.confidence, row.rationale = rec.risk, rec.confidence, rec.rationale
        row.evidence = rec.model_dump(mode="json")["evidence"]  # Decimals and dates as JSON strings
        row.scan_run_id, row.updated_at, row.last_seen_at = run_id, now, now
        session.add(row)
    stale = session.exec(
        select(RecRow).where(
            RecRow.engine == outcome.engine,
            RecRow.cluster_id == cluster_id if cluster_id is not None else col(RecRow.cluster_id).is_(None),
            RecRow.status == "open",
        )
    ).all()
    for row in stale:
        if row.fingerprint not in seen:
            row.status, row.updated_at = "obsolete", now
            session.add(row)


def request_scan(db: Engine, cluster_id: int | None, trigger: str = "ui") -> int:
    """Ask the worker to scan one cluster (or all when None); returns the scan run id.

    The UI calls this instead of scanning in its own process; the worker's `run_requested_scans`
    job picks the row up within a few seconds.
    """
    with session_scope(db) as session:
        run = ScanRun(cluster_id=cluster_id, trigger=trigger, status="requested")
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id
