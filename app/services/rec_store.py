"""Store one engine's recommendations for one cluster, de-duplicated by fingerprint, in batches.

Called by `app.services.scans.scan_and_store` inside its write transaction. Existing rows are read
with one `IN` query per chunk (never one SELECT per recommendation), new rows are inserted, known
ones updated, and, when the scan saw every source, open rows the engine no longer proposes are
marked obsolete.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from app.db.states import RecStatus
from app.db.tables_recs import Recommendation as RecRow
from engines.contract import Recommendation

# SQLite allows 32,766 bound parameters and PostgreSQL 65,535; 500 keeps each IN list small.
_CHUNK = 500


def _chunks(items: list[str], size: int = _CHUNK) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def existing_rows(session: Session, fingerprints: list[str]) -> dict[str, RecRow]:
    """The stored rows of these fingerprints, in len/500 queries."""
    found: dict[str, RecRow] = {}
    for chunk in _chunks(fingerprints):
        for row in session.exec(select(RecRow).where(col(RecRow.fingerprint).in_(chunk))):
            found[row.fingerprint] = row
    return found


def _fill(row: RecRow, rec: Recommendation, run_id: int | None, now: datetime) -> None:
    dumped: dict[str, Any] = rec.model_dump(mode="json")  # Decimals and dates as JSON strings
    row.target, row.action_kind = rec.target, rec.action.kind
    row.action = dumped["action"]
    row.current_monthly_cost = rec.current_monthly_cost
    row.projected_monthly_cost = rec.projected_monthly_cost
    row.monthly_savings = rec.monthly_savings
    row.risk, row.confidence, row.rationale = rec.risk, rec.confidence, rec.rationale
    row.evidence = dumped["evidence"]
    row.depends_on = list(dumped.get("depends_on") or [])
    row.related = list(dumped.get("related") or [])
    row.scan_run_id, row.updated_at, row.last_seen_at = run_id, now, now


def store_recommendations(
    session: Session,
    engine: str,
    recs: list[Recommendation],
    *,
    cluster_id: int | None,
    run_id: int | None,
    now: datetime,
    mark_obsolete: bool = True,
) -> dict[str, int]:
    """Insert or update `recs`; return counts of new, updated, reopened and obsoleted rows."""
    counts = {"new": 0, "updated": 0, "reopened": 0, "obsoleted": 0}
    by_fp = {r.fingerprint: r for r in recs}  # an engine repeating a fingerprint: the last one wins
    stored = existing_rows(session, list(by_fp))
    for fp, rec in by_fp.items():
        row = stored.get(fp)
        if row is None:
            row = RecRow(
                fingerprint=fp, engine=rec.engine, cluster_id=cluster_id, created_at=now, target=rec.target,
                action_kind=rec.action.kind, current_monthly_cost=rec.current_monthly_cost,
                projected_monthly_cost=rec.projected_monthly_cost, monthly_savings=rec.monthly_savings,
            )  # fmt: skip
            counts["new"] += 1
        elif row.status == RecStatus.OBSOLETE:
            row.status = RecStatus.OPEN  # it came back: show it again
            counts["reopened"] += 1
        else:
            counts["updated"] += 1
        _fill(row, rec, run_id, now)
        session.add(row)
    if not mark_obsolete:
        return counts
    scope = col(RecRow.cluster_id) == cluster_id if cluster_id is not None else col(RecRow.cluster_id).is_(None)
    open_rows = session.exec(
        select(RecRow).where(RecRow.engine == engine, scope, RecRow.status == RecStatus.OPEN)
    ).all()
    for row in open_rows:
        if row.fingerprint not in by_fp:
            row.status, row.updated_at = RecStatus.OBSOLETE, now
            session.add(row)
            counts["obsoleted"] += 1
    return counts
