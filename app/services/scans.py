"""Scan use-case: run engines over a Snapshot and store the outcome.

Called through `app.services.pipeline` (collect, then scan, then store) by `cloudoptim scan`,
`cloudoptim demo` and the worker; tests call `scan_and_store` with a ready snapshot. Each engine
runs in isolation: one that raises or has invalid settings is recorded in the scan run and the
others still run. Recommendations of different engines on the same node, instance, volume, workload
or Service are linked (`conflicts_with`, see `app.services.conflicts`) before they are stored.
Recommendations are de-duplicated by fingerprint: one that persists is updated, one that
disappeared since the last scan of that cluster and engine is marked obsolete.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from app.db import session_scope
from app.db.models import Cluster
from app.db.states import ScanStatus, ScanTrigger
from app.db.tables_recs import ScanRun
from app.db.types import utcnow
from app.services.conflicts import link_conflicts, node_instances
from app.services.engine_settings import EngineSettingsError, load_engine_settings
from app.services.engine_toggles import engines_to_run
from app.services.engine_uploads import run_uploaded_engines
from app.services.rec_store import store_recommendations
from app.services.spot_predictions import scorer_for_scan, store_predictions
from engines.contract import PriceBook, Recommendation, ScanContext, ScanResult, Skipped
from engines.registry import EngineRegistry
from engines.snapshot_aws import Snapshot
from engines.spot.scorer import SPOT_RISK_MODEL

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
    models: Mapping[str, Any] | None = None,
) -> list[EngineOutcome]:
    """Run the selected engines; `settings_for(engine)` returns its Settings (defaults if None);
    `models` are the trained models engines may use (ScanContext.models)."""
    outcomes = []
    for engine in registry.select(engine_names):
        outcome = EngineOutcome(engine.name)
        started = time.perf_counter()
        try:
            settings = settings_for(engine) if settings_for else engine.Settings()
            outcome.result = engine.scan(snapshot, ScanContext(prices=prices, now=now, settings=settings,
                                                                models=models or {}))
        except EngineSettingsError as exc:
            outcome.error = str(exc)
        except Exception as exc:  # an engine bug must not stop the other engines or the worker
            log.exception("engine %s failed", engine.name)
            outcome.error = f"{type(exc).__name__}: {exc}"
        outcome.seconds = time.perf_counter() - started
        outcomes.append(outcome)
    return outcomes


def link_outcomes(outcomes: list[EngineOutcome], snapshot: Snapshot) -> None:
    """Fill `conflicts_with` across the engines of this scan, in place (callers, the CLI among them,
    then see the linked recommendations). Only this scan's: links to another cluster's scan are out
    of scope, a node or workload belongs to one cluster."""
    linked = iter(link_conflicts([r for o in outcomes for r in o.result.recommendations], node_instances(snapshot)))
    for o in outcomes:
        o.result.recommendations = [next(linked) for _ in o.result.recommendations]


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
    # Engines switched off for this cluster on the Engines page do not run (unless named).
    explicit = bool(engine_names)
    engine_names = engines_to_run(db, cluster_id, registry.names(), engine_names)
    names = [e.name for e in registry.select(engine_names)] if engine_names else []
    run_id = start_run(db, cluster_id=cluster_id, engines=names, trigger=trigger, run_id=run_id)
    if not names:  # an empty selection would mean "all" to the registry
        fail_run(db, run_id, "every engine is switched off for this cluster (Engines page)", collect_s=collect_s)
        return ScanOutcome(run_id, snapshot.cluster.name if snapshot.cluster else None, [], ScanStatus.FAILED,
                           "every engine is switched off for this cluster")  # fmt: skip
    status, source_problem = snapshot_status(snapshot)
    cluster = snapshot.cluster.name if snapshot.cluster else None
    if status is ScanStatus.FAILED:
        fail_run(db, run_id, source_problem or "every source failed", collect_s=collect_s)
        return ScanOutcome(run_id, cluster, [], ScanStatus.FAILED, source_problem)
    # The active uploaded Spot risk model (or the Advisor prior), recording what it predicts.
    spot_scorer, model_id = scorer_for_scan(db)
    outcomes = run_engines(
        snapshot, registry, prices, now=snapshot.collected_at, engine_names=engine_names,
        settings_for=lambda eng: load_engine_settings(db, cluster_id, eng),
        models={SPOT_RISK_MODEL: spot_scorer},
    )  # fmt: skip
    if not explicit:  # an explicit --engine list runs only those; uploads run sandboxed, never here
        outcomes += [EngineOutcome(o.engine, o.result, o.seconds, o.error)
                     for o in run_uploaded_engines(db, snapshot, prices, snapshot.collected_at)]  # fmt: skip
    engine_s = sum(o.seconds for o in outcomes)
    link_outcomes(outcomes, snapshot)
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
                "conflicting": sum(1 for r in o.result.recommendations if r.conflicts_with),
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
    try:
        store_predictions(db, spot_scorer, scan_run_id=run_id, model_id=model_id, now=now)
    except Exception:  # predictions are for later comparison; the scan itself is stored
        log.exception("could not store the Spot predictions of run %s", run_id)
    return ScanOutcome(run_id, cluster, outcomes, status, run.error)
