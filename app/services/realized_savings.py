"""The realized-savings check: measure what each applied execution saves now and record it.

Run by the worker every `settings.worker.realized_check_minutes` (`check_realized_savings`, a
scheduler job in background.worker). `app.services.execution_worker.finish` opens a
`cost_savings` row with the expected saving when an apply succeeds (and closes it on rollback);
this job fills in `realized_monthly_savings`, `measured_at` and a note saying how it was
measured, from the cluster's latest stored snapshot (the measures are pure: realized_measure for
nodes, realized_other for workloads and AWS). A row is looked at again only when a newer scan
exists; one without a newer scan says "not measured yet". Reads are two queries (open rows, then
the snapshots they need); the writes are one executemany in one short transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, update
from sqlmodel import Session, col, select

from app.db import session_scope
from app.db.models import Cluster, StoredSnapshot
from app.db.states import ExecutionState
from app.db.tables_recs import CostSaving, Execution
from app.pricing import load_price_book
from app.services.realized_measure import MEASURES as NODE_MEASURES
from app.services.realized_measure import Applied, Measured, stamp
from app.services.realized_other import MEASURES as OTHER_MEASURES
from app.settings import Settings
from engines.contract import PriceBook
from engines.snapshot_aws import Snapshot

log = logging.getLogger(__name__)
MEASURES = {**NODE_MEASURES, **OTHER_MEASURES}
MEASURED_MARK = "scan of "  # a note's "; scan of <time>: ..." part says a scan was measured


def measure(applied: Applied, snapshot: Snapshot | None, prices: PriceBook) -> Measured:
    """Measure one execution against its cluster's latest snapshot (pure)."""
    if snapshot is None:
        return Measured(None, "not measured yet: the cluster has no stored scan")
    if snapshot.collected_at <= applied.finished_at:
        return Measured(None, f"not measured yet: no scan since execution {applied.execution_id} finished at "
                              f"{stamp(applied.finished_at)} (last scan {stamp(snapshot.collected_at)})")  # fmt: skip
    how = MEASURES.get(applied.action_kind)
    if how is None:
        return Measured(None, f"not measured: no measurement of {applied.action_kind} yet "
                              f"(expected ${applied.expected}/month)")  # fmt: skip
    try:
        found = how(applied, snapshot, prices)
    except LookupError as exc:  # a price the book does not have: say which
        found = Measured(None, f"not measured: {exc}")
    return Measured(found.realized, f"{MEASURED_MARK}{stamp(snapshot.collected_at)}: {found.notes}")


@dataclass(frozen=True)
class _Open:
    row_id: int
    cluster_id: int | None
    measured_at: datetime
    notes: str
    applied: Applied


def _open_rows(db: Engine) -> list[_Open]:
    """Open ledger rows of succeeded applies, with what the measures need from the execution."""
    stmt = (
        select(CostSaving, Execution, Cluster.region)
        .join(Execution, col(Execution.id) == col(CostSaving.execution_id))
        .outerjoin(Cluster, col(Cluster.id) == col(CostSaving.cluster_id))
        .where(col(CostSaving.period_end).is_(None), col(Execution.state) == ExecutionState.SUCCEEDED)
        .order_by(col(CostSaving.id))
    )
    with Session(db) as session:
        rows = session.exec(stmt).all()
    out = []
    for saving, ex, region in rows:
        assert saving.id is not None and ex.id is not None
        applied = Applied(
            execution_id=ex.id, action_kind=ex.action_kind, action=ex.action or {}, pre_image=ex.pre_image or {},
            result=ex.result or {}, started_at=ex.started_at or saving.period_start,
            finished_at=ex.finished_at or saving.period_start, region=region or "", expected=saving.expected_monthly_savings,
        )  # fmt: skip
        out.append(_Open(saving.id, saving.cluster_id, saving.measured_at, saving.notes, applied))
    return out


def _snapshots(db: Engine, wanted: dict[int, datetime]) -> dict[int, Snapshot | datetime]:
    """Per cluster: its latest snapshot, parsed only when it is newer than `wanted[cluster]` (the
    oldest measurement of that cluster's rows); otherwise just its collection time."""
    if not wanted:
        return {}
    with Session(db) as session:
        times = session.exec(select(StoredSnapshot.id, StoredSnapshot.cluster_id, StoredSnapshot.collected_at)
                             .where(col(StoredSnapshot.cluster_id).in_(list(wanted)))).all()  # fmt: skip
        newer = [sid for sid, cid, at in times if at > wanted[cid]]
        data = dict(session.exec(select(StoredSnapshot.id, StoredSnapshot.data).where(col(StoredSnapshot.id).in_(newer)))
                    .all()) if newer else {}  # fmt: skip
    out: dict[int, Snapshot | datetime] = {}
    for sid, cid, at in times:
        out[cid] = Snapshot.model_validate({**data[sid], "collected_at": at}) if sid in data else at
    return out


def _note(row: _Open, found: Measured) -> str:
    return f"applied by execution {row.applied.execution_id}; {found.notes}"


def _last_measured(row: _Open) -> datetime | None:
    # measured_at holds the collection time of the scan a measurement used (see below); a row
    # never measured yet holds its creation time, which says nothing about scans.
    return row.measured_at if f"; {MEASURED_MARK}" in row.notes else None


def _gap(row: _Open, latest: datetime | None) -> Measured | None:
    """Why this row cannot be measured now, or None when a newer scan is there to measure it."""
    if row.cluster_id is None:
        return Measured(None, "not measured: the cluster is no longer registered")
    if latest is None:
        return Measured(None, "not measured yet: the cluster has no stored scan")
    if latest <= row.applied.finished_at:
        return Measured(None, f"not measured yet: no scan since execution {row.applied.execution_id} finished at "
                              f"{stamp(row.applied.finished_at)} (last scan {stamp(latest)})")  # fmt: skip
    return None


def check_realized_savings(settings: Settings, engine: Engine) -> int:
    """Measure every open ledger row that has a scan newer than its last measurement.

    Returns how many rows got a realized saving in this pass. A row whose last measurement stands
    (no newer scan, or the cluster is gone) keeps it; one never measured gets a note saying why.
    `measured_at` is set to the collection time of the scan measured, so a scan collected before
    a check but stored after it is still measured by the next check.
    """
    rows = _open_rows(engine)
    if not rows:
        return 0
    wanted: dict[int, datetime] = {}
    for row in rows:
        if row.cluster_id is not None:
            since = _last_measured(row) or row.applied.finished_at
            wanted[row.cluster_id] = min(since, wanted.get(row.cluster_id, since))
    snapshots = _snapshots(engine, wanted)
    prices = load_price_book(settings.pricing_dir)
    changes: list[dict[str, Any]] = []
    measured = 0
    for row in rows:
        latest = snapshots.get(row.cluster_id) if row.cluster_id is not None else None
        latest_at = latest.collected_at if isinstance(latest, Snapshot) else latest
        last = _last_measured(row)
        if last is not None and (latest_at is None or latest_at <= last):
            continue  # the last measurement stands: no newer scan (or none at all any more)
        gap = _gap(row, latest_at)
        if gap is not None:
            if _note(row, gap) != row.notes:
                changes.append(
                    {"row_id": row.row_id, "realized": None, "notes": _note(row, gap), "at": row.measured_at}
                )
            continue
        assert isinstance(latest, Snapshot)  # newer than this row's last measurement: parsed above
        found = measure(row.applied, latest, prices)
        measured += found.realized is not None
        changes.append({"row_id": row.row_id, "realized": found.realized, "notes": _note(row, found),
                        "at": latest.collected_at})  # fmt: skip
    if changes:
        # Only rows still open: a rollback finishing meanwhile closed its row and wrote its note.
        table = CostSaving.__table__  # type: ignore[attr-defined]
        stmt = (update(table).where(table.c.id == bindparam("row_id"), table.c.period_end.is_(None))
                .values(realized_monthly_savings=bindparam("realized"), notes=bindparam("notes"),
                        measured_at=bindparam("at")))  # fmt: skip
        with session_scope(engine) as session:
            session.connection().execute(stmt, changes)
    log.info("realized savings: %d of %d open ledger row(s) measured", measured, len(rows))
    return measured
