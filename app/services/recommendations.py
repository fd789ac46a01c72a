"""Recommendation queries and exports for the Recommendations page and `cloudoptim scan`.

Turns stored rows (or fresh engine output) into flat records with the columns analysts export:
engine, cluster, target, action, costs, savings, risk, confidence, rationale, fingerprint.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import yaml
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db.models import Cluster
from app.db.tables_recs import Recommendation as RecRow
from app.db.tables_recs import ScanRun
from engines.contract import Recommendation

EXPORT_COLUMNS = [
    "engine", "cluster", "target", "action", "current_monthly_cost", "projected_monthly_cost",
    "monthly_savings", "risk", "confidence", "rationale", "fingerprint",
]  # fmt: skip


def record_from_recommendation(rec: Recommendation) -> dict[str, Any]:
    return {
        "engine": rec.engine, "cluster": rec.cluster, "target": rec.target, "action": rec.action.kind,
        "current_monthly_cost": rec.current_monthly_cost, "projected_monthly_cost": rec.projected_monthly_cost,
        "monthly_savings": rec.monthly_savings, "risk": rec.risk, "confidence": rec.confidence,
        "rationale": rec.rationale, "fingerprint": rec.fingerprint,
        "action_spec": rec.action.model_dump(mode="json"), "evidence": rec.model_dump(mode="json")["evidence"],
    }  # fmt: skip


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def render(records: list[dict[str, Any]], fmt: str, *, full: bool = False) -> str:
    """Render records as json, yaml or csv (money as decimal strings, never floats)."""
    cols = [*EXPORT_COLUMNS, "action_spec", "evidence"] if full else EXPORT_COLUMNS
    rows = [{k: _jsonable(r.get(k)) for k in cols} for r in records]
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "yaml":
        return yaml.safe_dump(rows, sort_keys=False, allow_unicode=True)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    raise ValueError(f"unknown format {fmt!r}: use table, json, csv or yaml")


@dataclass(frozen=True)
class RecFilter:
    cluster: str | None = None
    engine: str | None = None
    status: str | None = "open"
    risk: str | None = None


def query(db: Engine, flt: RecFilter = RecFilter()) -> list[dict[str, Any]]:
    """Stored recommendations matching the filter, biggest savings first."""
    with Session(db) as session:
        stmt = select(RecRow, Cluster.name).join(Cluster, col(RecRow.cluster_id) == Cluster.id, isouter=True)
        if flt.cluster:
            stmt = stmt.where(Cluster.name == flt.cluster)
        if flt.engine:
            stmt = stmt.where(RecRow.engine == flt.engine)
        if flt.status:
            stmt = stmt.where(RecRow.status == flt.status)
        if flt.risk:
            stmt = stmt.where(RecRow.risk == flt.risk)
        stmt = stmt.order_by(col(RecRow.monthly_savings).desc(), col(RecRow.id))
        return [
            {
                "id": row.id, "engine": row.engine, "cluster": name, "target": row.target,
                "action": row.action_kind, "current_monthly_cost": row.current_monthly_cost,
                "projected_monthly_cost": row.projected_monthly_cost, "monthly_savings": row.monthly_savings,
                "risk": row.risk, "confidence": row.confidence, "rationale": row.rationale,
                "fingerprint": row.fingerprint, "status": row.status, "action_spec": row.action,
                "evidence": row.evidence, "last_seen_at": row.last_seen_at,
            }  # fmt: skip
            for row, name in session.exec(stmt)
        ]


def latest_scan_runs(db: Engine, limit: int = 20) -> list[dict[str, Any]]:
    """Recent scan runs with their cluster name, newest first."""
    with Session(db) as session:
        stmt = (
            select(ScanRun, Cluster.name)
            .join(Cluster, col(ScanRun.cluster_id) == Cluster.id, isouter=True)
            .order_by(col(ScanRun.started_at).desc(), col(ScanRun.id).desc())
            .limit(limit)
        )
        return [
            {"id": run.id, "cluster": name, "status": run.status, "started_at": run.started_at,
             "duration_s": run.duration_s, "counts": run.counts, "skipped": run.skipped, "error": run.error}  # fmt: skip
            for run, name in session.exec(stmt)
        ]
