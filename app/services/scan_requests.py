"""Scan requests between the UI and the worker, and the recovery of scans a dead worker left.

The UI never scans in its own process: "Scan now" calls `request_scan`, which queues one
`requested` scan_runs row per cluster unless that cluster already has one requested or running
(three clicks queue one scan). The worker claims requested rows with `claim_next_requested`, and at
start-up `recover_interrupted` marks runs left `running` by a worker that died as failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import col, select

from app.db import session_scope
from app.db.models import Cluster
from app.db.states import ScanStatus, ScanTrigger
from app.db.tables_recs import ScanRun
from app.db.types import utcnow

PENDING = (ScanStatus.REQUESTED, ScanStatus.RUNNING)
STALE_FOREIGN_RUN = timedelta(hours=1)


@dataclass
class ScanRequest:
    """Run ids queued by this request, and those already pending for the other clusters."""

    queued: list[int] = field(default_factory=list)
    already_pending: list[int] = field(default_factory=list)


def request_scan(db: Engine, cluster_id: int | None, trigger: str = ScanTrigger.UI) -> ScanRequest:
    """Queue a scan of one cluster (or of every cluster when None), skipping pending ones."""
    out = ScanRequest()
    with session_scope(db) as session:
        if cluster_id is None:
            ids = [c for c in session.exec(select(Cluster.id).order_by(Cluster.name)) if c is not None]
        else:
            ids = [cluster_id]
        pending = {
            run.cluster_id: run.id
            for run in session.exec(select(ScanRun).where(col(ScanRun.status).in_(PENDING)))
        }
        for cid in ids:
            if cid in pending and pending[cid] is not None:
                out.already_pending.append(pending[cid])  # type: ignore[arg-type]
                continue
            run = ScanRun(cluster_id=cid, trigger=trigger, status=ScanStatus.REQUESTED)
            session.add(run)
            session.flush()
            assert run.id is not None
            out.queued.append(run.id)
    return out


def recover_interrupted(db: Engine, reason: str = "the worker stopped before this scan finished") -> int:
    """Mark runs left `running` by a worker that died as failed; return how many.

    Only the worker calls this, right after it took the single-worker lock, so no other worker
    can be running the scans it owns (requested and scheduled ones). A `cloudoptim scan` may be
    running in another process right now, so CLI and demo runs count as abandoned only when they
    started more than `STALE_FOREIGN_RUN` ago.
    """
    now = utcnow()
    worker_owned = (ScanTrigger.UI, ScanTrigger.SCHEDULE)
    with session_scope(db) as session:
        rows = [
            run
            for run in session.exec(select(ScanRun).where(ScanRun.status == ScanStatus.RUNNING))
            if run.trigger in worker_owned or now - run.started_at > STALE_FOREIGN_RUN
        ]
        for run in rows:
            run.status, run.finished_at, run.error = ScanStatus.FAILED, now, reason
            session.add(run)
        return len(rows)


def claim_next_requested(db: Engine) -> ScanRun | None:
    """The oldest requested run, moved to running (only the single worker claims runs)."""
    with session_scope(db) as session:
        run = session.exec(
            select(ScanRun).where(ScanRun.status == ScanStatus.REQUESTED).order_by(col(ScanRun.id)).limit(1)
        ).first()
        if run is None:
            return None
        run.status, run.started_at = ScanStatus.RUNNING, utcnow()
        session.add(run)
        return run
