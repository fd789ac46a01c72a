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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Engine, String, and_, case, cast, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.db.models import Cluster
from app.db.states import RecPurpose, RecStatus
from app.db.tables_recs import Recommendation as RecRow
from app.db.types import utcnow
from app.services.access import Actor, Permission, require
from app.services.conflicts import SavingRow, SavingsTotal, overlap, savings_total
from app.services.rec_export import EXPORT_COLUMNS, MONEY_COLUMNS, cents, jsonable, record_from_recommendation, render
from app.services.scan_views import ScanRunView, latest_scan_runs, pending_scan_runs

__all__ = ["EXPORT_COLUMNS", "ScanRunView", "latest_scan_runs", "pending_scan_runs", "record_from_recommendation",
           "render"]  # re-exported: callers read them from here

if TYPE_CHECKING:  # the engine contract (pydantic models of the whole snapshot) is not needed to read rows
    pass

ACCOUNT = "(account)"  # RecFilter.cluster for account-level rows (instances, volumes): no cluster
SNOOZED = "snoozed"  # RecFilter.status: open rows hidden until their snoozed_until
STATUSES = (RecStatus.OPEN.value, SNOOZED, *(s.value for s in RecStatus if s is not RecStatus.OPEN))
SORTS = ("savings", "cost", "risk", "engine", "updated")
PAGE_SIZE = 50
_RISK_ORDER = case((col(RecRow.risk) == "high", 3), (col(RecRow.risk) == "medium", 2), (col(RecRow.risk) == "low", 1),
                   else_=0)
# JSON text of an empty link list as the store writes it (json.dumps) and as the column defaults to.
_NO_LINKS = ("[]", "null")


@dataclass(frozen=True)
class RecFilter:
    """What the Recommendations page filters on; every field becomes a WHERE clause."""

    cluster: str | None = None
    engine: str | None = None
    status: str | None = RecStatus.OPEN
    risk: str | None = None
    namespace: str | None = None
    min_savings: Decimal | None = None


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
    namespace: str | None = None
    snoozed_until: datetime | None = None

    @property
    def reliability(self) -> bool:
        """Applied to prevent failures (it may cost more); left out of savings totals."""
        return self.purpose == "reliability"

    def snoozed(self, now: datetime | None = None) -> bool:
        return self.snoozed_until is not None and self.snoozed_until > (now or utcnow())

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
        conflicts_with=list(row.conflicts_with or []), purpose=row.purpose, namespace=row.namespace,
        snoozed_until=row.snoozed_until,
    )  # fmt: skip


def _awake(now: datetime) -> ColumnElement[bool]:
    return or_(col(RecRow.snoozed_until).is_(None), col(RecRow.snoozed_until) <= now)


def _bucket(now: datetime) -> ColumnElement[str]:
    """The status a total groups by: an open row snoozed until later counts as "snoozed"."""
    snoozed = and_(col(RecRow.status) == RecStatus.OPEN, col(RecRow.snoozed_until) > now)
    return case((snoozed, SNOOZED), else_=col(RecRow.status))


def narrow(stmt: SelectOfScalar[Any], flt: RecFilter, now: datetime) -> SelectOfScalar[Any]:
    """`stmt` (over recommendations, clusters outer-joined) narrowed by every field of `flt`."""
    if flt.cluster == ACCOUNT:
        stmt = stmt.where(col(RecRow.cluster_id).is_(None))
    elif flt.cluster:
        stmt = stmt.where(Cluster.name == flt.cluster)
    if flt.engine:
        stmt = stmt.where(RecRow.engine == flt.engine)
    if flt.status == SNOOZED:
        stmt = stmt.where(RecRow.status == RecStatus.OPEN, col(RecRow.snoozed_until) > now)
    elif flt.status == RecStatus.OPEN:
        stmt = stmt.where(RecRow.status == RecStatus.OPEN, _awake(now))
    elif flt.status:
        stmt = stmt.where(RecRow.status == flt.status)
    if flt.risk:
        stmt = stmt.where(RecRow.risk == flt.risk)
    if flt.namespace:
        stmt = stmt.where(RecRow.namespace == flt.namespace)
    if flt.min_savings is not None:
        stmt = stmt.where(col(RecRow.monthly_savings) >= flt.min_savings)
    return stmt


def _rows(flt: RecFilter, sort: str, now: datetime) -> SelectOfScalar[Any]:
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}: use one of {', '.join(SORTS)}")
    stmt: SelectOfScalar[Any] = select(RecRow, Cluster.name).join(  # type: ignore[assignment]
        Cluster, col(RecRow.cluster_id) == Cluster.id, isouter=True)
    orders: dict[str, list[Any]] = {"savings": [col(RecRow.monthly_savings).desc()], "cost": [col(RecRow.current_monthly_cost).desc()],
             "risk": [_RISK_ORDER.desc(), col(RecRow.monthly_savings).desc()],
             "engine": [col(RecRow.engine), col(RecRow.monthly_savings).desc()],
             "updated": [col(RecRow.updated_at).desc()]}  # fmt: skip
    return narrow(stmt, flt, now).order_by(*orders[sort], col(RecRow.id))


def query(db: Engine, flt: RecFilter = RecFilter(), sort: str = "savings") -> list[RecView]:
    """Every stored recommendation matching the filter, biggest savings first (the CLI and scripts;
    the page reads one `page` at a time)."""
    with Session(db) as session:
        return [_view(row, name) for row, name in session.exec(_rows(flt, sort, utcnow()))]


@dataclass(frozen=True)
class RecPage:
    """One page of the filtered, sorted recommendations and how many match in all."""

    rows: list[RecView]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def first(self) -> int:
        """1-based position of the first row shown (0 when nothing matches)."""
        return (self.page - 1) * self.page_size + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


def count(db: Engine, flt: RecFilter) -> int:
    with Session(db) as session:
        stmt: SelectOfScalar[Any] = select(func.count()).select_from(RecRow).join(  # type: ignore[assignment]
            Cluster, col(RecRow.cluster_id) == Cluster.id, isouter=True)
        return int(session.exec(narrow(stmt, flt, utcnow())).one())


def page(db: Engine, flt: RecFilter, *, sort: str = "savings", number: int = 1, page_size: int = PAGE_SIZE) -> RecPage:
    """Page `number` (1-based, clamped to the last page) of the matching rows: LIMIT/OFFSET and a
    COUNT in the database, so only `page_size` rows are ever loaded."""
    total = count(db, flt)
    last = max(1, -(-total // page_size))
    number = min(max(1, number), last)
    with Session(db) as session:
        stmt = _rows(flt, sort, utcnow()).offset((number - 1) * page_size).limit(page_size)
        rows = [_view(row, name) for row, name in session.exec(stmt)]
    return RecPage(rows, total, number, page_size)


def by_fingerprints(db: Engine, fingerprints: Iterable[str]) -> dict[str, RecView]:
    """The stored recommendations among `fingerprints` (related and focused ones the page shows)."""
    wanted = sorted(set(fingerprints))
    if not wanted:
        return {}
    with Session(db) as session:
        stmt = (select(RecRow, Cluster.name).join(Cluster, col(RecRow.cluster_id) == Cluster.id, isouter=True)
                .where(col(RecRow.fingerprint).in_(wanted)))  # fmt: skip
        return {row.fingerprint: _view(row, name) for row, name in session.exec(stmt)}


@dataclass(frozen=True)
class FilterOptions:
    clusters: list[str]
    engines: list[str]
    namespaces: list[str]


def filter_options(db: Engine) -> FilterOptions:
    """The values the page's filters offer: DISTINCT in SQL, not from loaded rows."""
    with Session(db) as session:
        clusters = session.exec(
            select(Cluster.name).join(RecRow, col(RecRow.cluster_id) == Cluster.id).distinct()).all()
        accounts = session.exec(select(RecRow.id).where(col(RecRow.cluster_id).is_(None)).limit(1)).first()
        engines = session.exec(select(RecRow.engine).distinct()).all()
        namespaces = session.exec(select(RecRow.namespace).where(col(RecRow.namespace).is_not(None)).distinct()).all()
    return FilterOptions(sorted(clusters) + ([ACCOUNT] if accounts is not None else []), sorted(engines),
                         sorted(n for n in namespaces if n))  # fmt: skip


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
    """Count and monthly savings per status of rows already loaded, in RecStatus order (the page
    uses `filtered_totals`, which does the same in SQL)."""
    by_status: dict[RecStatus, list[SavingRow]] = {}
    for row in rows:
        by_status.setdefault(row.status, []).append(SavingRow(row.fingerprint, row.monthly_savings, row.conflicts_with,
                                                                    row.purpose))
    return {s: StatusTotal(len(by_status[s]), savings_total(by_status[s])) for s in RecStatus if s in by_status}


def filtered_totals(db: Engine, flt: RecFilter) -> dict[str, StatusTotal]:
    """Count and monthly savings per status (open, snoozed, ...) of every row matching `flt`.

    Sums and counts are GROUP BY in SQL; only rows that have a conflict link are loaded (three
    columns) to subtract what a plain sum counts twice. Conflict groups form among the rows of one
    status that the filter keeps: a link to a row the filters hide does not lower the total.
    """
    now = utcnow()
    bucket = _bucket(now).label("bucket")
    with Session(db) as session:
        base = (sa_select(bucket, col(RecRow.purpose), func.count(), func.sum(RecRow.monthly_savings))
                .select_from(RecRow).join(Cluster, col(RecRow.cluster_id) == Cluster.id, isouter=True))  # fmt: skip
        sums = session.execute(narrow(base, flt, now).group_by(bucket, col(RecRow.purpose))).all()  # type: ignore[arg-type]
        linked = (sa_select(bucket, col(RecRow.fingerprint), col(RecRow.monthly_savings), col(RecRow.conflicts_with))
                  .select_from(RecRow).join(Cluster, col(RecRow.cluster_id) == Cluster.id, isouter=True)
                  .where(col(RecRow.purpose) == RecPurpose.SAVING)
                  .where(cast(RecRow.conflicts_with, String).not_in(_NO_LINKS)))  # fmt: skip
        links = session.execute(narrow(linked, flt, now)).all()  # type: ignore[arg-type]
    groups: dict[str, list[SavingRow]] = {}
    for key, fp, saving, conflicts in links:
        groups.setdefault(key, []).append(SavingRow(fp, Decimal(str(saving)), list(conflicts or [])))
    counts: dict[str, int] = {}
    totals: dict[str, SavingsTotal] = {}
    for key, purpose, n, total in sums:
        money = Decimal(str(total or 0))
        part = (SavingsTotal(gross=money) if purpose == RecPurpose.SAVING
                else SavingsTotal(reliability=int(n), reliability_cost=-money))  # fmt: skip
        counts[key] = counts.get(key, 0) + int(n)
        totals[key] = totals.get(key, SavingsTotal()) + part
    return {
        key: StatusTotal(counts[key], totals[key] + SavingsTotal(overlap=overlap(groups.get(key, []))))
        for key in STATUSES if key in counts
    }


def export_chunks(db: Engine, flt: RecFilter, fmt: str, *, sort: str = "savings") -> Iterator[str]:
    """Every row matching `flt` (not just one page) as CSV or JSON text, read from the database in
    batches so the rows never sit in memory all at once; same columns and money format as `render`."""
    if fmt not in ("csv", "json"):
        raise ValueError(f"unknown export format {fmt!r}: use csv or json")
    with Session(db) as session:
        result = session.exec(_rows(flt, sort, utcnow()).execution_options(yield_per=500))
        if fmt == "csv":
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            yield out.getvalue()
        else:
            yield "["
        for i, (row, name) in enumerate(result):
            record = {k: jsonable(v) for k, v in _view(row, name).record().items() if k in EXPORT_COLUMNS}
            if fmt == "json":
                yield ("," if i else "") + "\n  " + json.dumps(record)
                continue
            out.seek(0)
            out.truncate()
            writer.writerow({**record, **{k: cents(record.get(k)) for k in MONEY_COLUMNS}})
            yield out.getvalue()
        if fmt == "json":
            yield "\n]\n"


def export(db: Engine, flt: RecFilter, fmt: str, *, actor: Actor, sort: str = "savings") -> str:
    """The whole filtered view as one CSV or JSON document (the download button's data)."""
    require(actor, Permission.EXPORT)
    return "".join(export_chunks(db, flt, fmt, sort=sort))
