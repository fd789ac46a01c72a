"""Recommendation queries and exports for the Recommendations page and `cloudoptim scan`.

Turns stored rows (or fresh engine output) into flat records with the columns analysts export:
engine, cluster, target, action, costs, savings, risk, confidence, rationale, fingerprint. The
pages get typed views (`RecView`, `ScanRunView`); `render` takes records (`RecView.record()` or
`record_from_recommendation`). Totals count each target once where recommendations of different
engines conflict (`status_totals`, see `app.services.conflicts`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db.models import Cluster
from app.db.states import RecStatus, ScanStatus
from app.db.tables_recs import Recommendation as RecRow
from app.db.tables_recs import ScanRun
from app.services.conflicts import SavingRow, SavingsTotal, savings_total

if TYPE_CHECKING:  # the engine contract (pydantic models of the whole snapshot) is not needed to read rows
    from engines.contract import Recommendation

EXPORT_COLUMNS = [
    "engine", "cluster", "target", "action", "current_monthly_cost", "projected_monthly_cost",
    "monthly_savings", "risk", "confidence", "rationale", "fingerprint",
]  # fmt: skip
MONEY_COLUMNS = ("current_monthly_cost", "projected_monthly_cost", "monthly_savings")
CENT = Decimal("0.01")


def record_from_recommendation(rec: Recommendation) -> dict[str, Any]:
    return {
        "engine": rec.engine, "cluster": rec.cluster, "target": rec.target, "action": rec.action.kind,
        "current_monthly_cost": rec.current_monthly_cost, "projected_monthly_cost": rec.projected_monthly_cost,
        "monthly_savings": rec.monthly_savings, "risk": rec.risk, "confidence": rec.confidence,
        "rationale": rec.rationale, "fingerprint": rec.fingerprint,
        "action_spec": rec.action.model_dump(mode="json"), "evidence": rec.model_dump(mode="json")["evidence"],
        "conflicts_with": list(rec.conflicts_with), "purpose": rec.purpose,
    }  # fmt: skip


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _cents(value: Any) -> Any:
    """Money as exactly two decimals ("70.10"): spreadsheets and diffs then line up."""
    if value is None or value == "":
        return value
    return str(Decimal(str(value)).quantize(CENT))


def render(records: list[dict[str, Any]], fmt: str, *, full: bool = False) -> str:
    """Render records as json, yaml or csv (money as decimal strings, never floats)."""
    cols = [*EXPORT_COLUMNS, "purpose", "action_spec", "evidence", "conflicts_with"] if full else EXPORT_COLUMNS
    rows = [{k: _jsonable(r.get(k)) for k in cols} for r in records]
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(rows, sort_keys=False, allow_unicode=True)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows({**row, **{k: _cents(row.get(k)) for k in MONEY_COLUMNS}} for row in rows)
        return out.getvalue()
    raise ValueError(f"unknown format {fmt!r}: use table, json, csv or yaml")


@dataclass(frozen=True)
class RecFilter:
    cluster: str | None = None
    engine: str | None = None
    status: str | None = RecStatus.OPEN
    risk: str | None = None


@dataclass(frozen=True)
class RecView:
    """One stored recommendation as the Recommendations page shows it."""

    id: int | None
    engine: str
    cluster: str | None
    target: str
    action: str
    current_monthly_cost: Decimal
    projected_monthly_cost: Decimal
    monthly_savings: Decimal
    risk: str
    confidence: float
    rationale: str
    fingerprint: str
    status: RecStatus
    action_spec: dict[str, Any]
    evidence: dict[str, Any]
    last_seen_at: datetime
    depends_on: list[str] = field(default_factory=list)
    related: list[str] = field(default_factory=list)
    conflicts_with: list[str] = field(default_factory=list)
    purpose: str = "saving"

    @property
    def reliability(self) -> bool:
        """Applied to prevent failures (it may cost more); left out of savings totals."""
        return self.purpose == "reliability"

    def record(self) -> dict[str, Any]:
        """The flat record `render` exports."""
        return {
            "engine": self.engine, "cluster": self.cluster, "target": self.target, "action": self.action,
            "current_monthly_cost": self.current_monthly_cost, "projected_monthly_cost": self.projected_monthly_cost,
            "monthly_savings": self.monthly_savings, "risk": self.risk, "confidence": self.confidence,
            "rationale": self.rationale, "fingerprint": self.fingerprint, "action_spec": self.action_spec,
            "evidence": self.evidence, "conflicts_with": self.conflicts_with, "purpose": self.purpose,
        }  # fmt: skip


def _view(row: RecRow, cluster: str | None) -> RecView:
    return RecView(
        id=row.id, engine=row.engine, cluster=cluster, target=row.target, action=row.action_kind,
        current_monthly_cost=row.current_monthly_cost, projected_monthly_cost=row.projected_monthly_cost,
        monthly_savings=row.monthly_savings, risk=row.risk, confidence=row.confidence, rationale=row.rationale,
        fingerprint=row.fingerprint, status=RecStatus(row.status), action_spec=row.action or {},
        evidence=row.evidence or {}, last_seen_at=row.last_seen_at,
        depends_on=list(row.depends_on or []), related=list(row.related or []),
        conflicts_with=list(row.conflicts_with or []), purpose=row.purpose,
    )  # fmt: skip


def query(db: Engine, flt: RecFilter = RecFilter()) -> list[RecView]:
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
        return [_view(row, name) for row, name in session.exec(stmt)]


@dataclass(frozen=True)
class StatusTotal:
    count: int
    savings: SavingsTotal

    @property
    def monthly_savings(self) -> Decimal:
        """Each conflicting target counted once, at its largest saving."""
        return self.savings.counted

    @property
    def note(self) -> str | None:
        """Why the total is lower than the sum of the rows, or None."""
        return self.savings.note


def status_totals(rows: Iterable[RecView]) -> dict[RecStatus, StatusTotal]:
    """Count and monthly savings per status, in RecStatus order, statuses without rows left out.

    Conflict groups are formed among the rows of one status only, from the rows the page already
    loaded (no further query): a link to a row the filters hide does not lower the total.
    """
    by_status: dict[RecStatus, list[SavingRow]] = {}
    for row in rows:
        by_status.setdefault(row.status, []).append(SavingRow(row.fingerprint, row.monthly_savings, row.conflicts_with,
                                                                    row.purpose))
    return {s: StatusTotal(len(by_status[s]), savings_total(by_status[s])) for s in RecStatus if s in by_status}


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
