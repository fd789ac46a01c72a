"""Scan-run views for the Overview, the Recommendations page's "skipped" list and the Engines
page: who asked, how it went, where the time went. Read-only queries over `scan_runs`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db.models import Cluster
from app.db.states import ScanStatus
from app.db.tables_recs import ScanRun


@dataclass(frozen=True)
class ScanRunView:
    """One scan run: who asked, how it went, where the time went (collect vs engines)."""

    id: int | None
    cluster_id: int | None
    cluster: str | None
    trigger: str
    status: ScanStatus
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    collect_s: float | None
    engine_s: float | None
    counts: dict[str, Any]
    skipped: list[dict[str, str]]
    error: str | None

    @property
    def pending(self) -> bool:
        return not self.status.finished

    @property
    def recommendations(self) -> int | None:
        """Recommendations of every engine, None while the run has not finished."""
        if self.pending:
            return None
        return sum(int(c.get("recommendations", 0)) for c in self.counts.values() if isinstance(c, dict))

    @property
    def engine_seconds(self) -> float | None:
        """engine_s, or for runs stored before it existed the sum of the per-engine seconds."""
        if self.engine_s is not None:
            return self.engine_s
        seconds = [c["seconds"] for c in self.counts.values() if isinstance(c, dict) and c.get("seconds") is not None]
        return round(sum(seconds), 3) if seconds else None


def _scan_view(run: ScanRun, cluster: str | None) -> ScanRunView:
    return ScanRunView(
        id=run.id, cluster_id=run.cluster_id, cluster=cluster, trigger=run.trigger, status=ScanStatus(run.status),
        started_at=run.started_at, finished_at=run.finished_at, duration_s=run.duration_s,
        collect_s=run.collect_s, engine_s=run.engine_s, counts=run.counts or {}, skipped=run.skipped or [],
        error=run.error,
    )  # fmt: skip


def latest_scan_runs(db: Engine, limit: int = 20) -> list[ScanRunView]:
    """Recent scan runs with their cluster name, newest first."""
    with Session(db) as session:
        stmt = (
            select(ScanRun, Cluster.name)
            .join(Cluster, col(ScanRun.cluster_id) == Cluster.id, isouter=True)
            .order_by(col(ScanRun.started_at).desc(), col(ScanRun.id).desc())
            .limit(limit)
        )
        return [_scan_view(run, name) for run, name in session.exec(stmt)]


def pending_scan_runs(db: Engine) -> list[ScanRunView]:
    """Runs requested or running now (the Overview refreshes while there are any)."""
    with Session(db) as session:
        stmt = (
            select(ScanRun, Cluster.name)
            .join(Cluster, col(ScanRun.cluster_id) == Cluster.id, isouter=True)
            .where(col(ScanRun.status).in_([s.value for s in ScanStatus if not s.finished]))
            .order_by(col(ScanRun.id))
        )
        return [_scan_view(run, name) for run, name in session.exec(stmt)]
