"""Store one engine's recommendations for one cluster, de-duplicated by fingerprint, in batches.

Called by `app.services.scans.scan_and_store` inside its write transaction. Existing rows are read
with one `IN` query per 500 fingerprints (never one SELECT per recommendation), new rows are
bulk-inserted, known ones bulk-updated, and, when the scan saw every source, open rows the engine
no longer proposes are marked obsolete.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from app.db.states import RecStatus
from app.db.tables_recs import Recommendation as RecRow
from engines.contract import Recommendation

# SQLite allows 32,766 bound parameters and PostgreSQL 65,535; 500 keeps each IN list small.
_CHUNK = 500


def _chunks(items: list[str], size: int = _CHUNK) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def existing_rows(session: Session, fingerprints: list[str]) -> dict[str, tuple[int, str]]:
    """(id, status) of the stored rows of these fingerprints, in len/500 light queries."""
    found: dict[str, tuple[int, str]] = {}
    for chunk in _chunks(fingerprints):
        stmt = select(RecRow.fingerprint, RecRow.id, RecRow.status).where(col(RecRow.fingerprint).in_(chunk))
        for fp, rid, status in session.exec(stmt):
            found[fp] = (int(rid), status)  # type: ignore[arg-type]  # a stored row has an id
    return found


def _values(rec: Recommendation, run_id: int | None, now: datetime) -> dict[str, Any]:
    # Decimals and dates as JSON strings; only the nested fields (the computed ones cost a hash each).
    dumped: dict[str, Any] = rec.model_dump(
        mode="json", include={"action", "evidence", "depends_on", "related", "conflicts_with"}
    )
    return {
        "target": rec.target, "action_kind": rec.action.kind, "action": dumped["action"],
        "current_monthly_cost": rec.current_monthly_cost, "projected_monthly_cost": rec.projected_monthly_cost,
        "monthly_savings": rec.monthly_savings, "risk": rec.risk, "purpose": rec.purpose, "confidence": rec.confidence,
        "rationale": rec.rationale, "evidence": dumped["evidence"],
        "depends_on": list(dumped.get("depends_on") or []), "related": list(dumped.get("related") or []),
        "conflicts_with": list(dumped.get("conflicts_with") or []),
        "scan_run_id": run_id, "updated_at": now, "last_seen_at": now, "namespace": namespace_of(rec),
    }  # fmt: skip


def namespace_of(rec: Recommendation) -> str | None:
    """The namespace a recommendation changes: its action's, else a workload target's; None for
    nodes, instances and volumes."""
    ns = getattr(rec.action, "namespace", None)
    if isinstance(ns, str) and ns:
        return ns[:253]
    parts = rec.target.split("/")
    return parts[1][:253] if len(parts) == 3 and parts[0] == "workload" else None


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
    """Insert or update `recs`; return counts of new, updated, reopened and obsoleted rows.

    Rows go through SQLAlchemy's bulk INSERT / UPDATE-by-primary-key with plain dicts: building
    one SQLModel object per row costs milliseconds each (pydantic validation of every default).
    """
    counts = {"new": 0, "updated": 0, "reopened": 0, "obsoleted": 0}
    by_fp = {r.fingerprint: r for r in recs}  # an engine repeating a fingerprint: the last one wins
    stored = existing_rows(session, list(by_fp))
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for fp, rec in by_fp.items():
        values = _values(rec, run_id, now)
        if fp not in stored:
            inserts.append({**values, "fingerprint": fp, "engine": rec.engine, "cluster_id": cluster_id,
                            "status": RecStatus.OPEN.value, "created_at": now})  # fmt: skip
            continue
        rid, status = stored[fp]
        if status == RecStatus.OBSOLETE:
            values["status"] = RecStatus.OPEN.value  # it came back: show it again
            counts["reopened"] += 1
        else:
            counts["updated"] += 1
        updates.append({**values, "id": rid})
    counts["new"] = len(inserts)
    if inserts:
        session.execute(insert(RecRow), inserts)
    if updates:
        session.execute(update(RecRow), updates)
    if not mark_obsolete:
        return counts
    scope = col(RecRow.cluster_id) == cluster_id if cluster_id is not None else col(RecRow.cluster_id).is_(None)
    open_rows = session.exec(
        select(RecRow.id, RecRow.fingerprint).where(RecRow.engine == engine, scope, RecRow.status == RecStatus.OPEN)
    ).all()
    gone = [{"id": rid, "status": RecStatus.OBSOLETE.value, "updated_at": now} for rid, fp in open_rows if fp not in by_fp]
    if gone:
        session.execute(update(RecRow), gone)
    counts["obsoleted"] = len(gone)
    return counts
