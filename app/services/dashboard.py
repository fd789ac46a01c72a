"""The Overview dashboard's figures: stat cards, the savings trend, savings by engine and cluster,
the estate's cost breakdown and the top open recommendations.

Called by pages/overview.py (through `app.ui.overview`) and `python -m bench ui`. Everything is
aggregated in SQL (GROUP BY day, engine, cluster, capacity type): with 10,000 recommendations
and 90 days of ledger rows the page loads a few hundred numbers, never the rows. Money is
Decimal; a cost that was not collected is None (the page says "not collected"), never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.db.models import Cluster, Node, StoredSnapshot
from app.db.states import ExecutionKind, ExecutionState, RecPurpose, RecStatus
from app.db.tables_recs import CostSaving, Execution, Recommendation
from app.db.types import utcnow
from app.services.recommendations import RecFilter, RecView, narrow, page
from engines.money import ZERO

TREND_DAYS = 90
CROSS_AZ, IDLE = "cross-az", "ghost-probe"


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _day(db: Engine, column: Any) -> Any:
    """The UTC calendar day of a timestamp column, the same on SQLite (naive UTC text) and PostgreSQL."""
    if db.dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@dataclass(frozen=True)
class AppliedThisMonth:
    """Executions that succeeded this calendar month (UTC), and their recommendations' savings."""

    executions: int
    monthly_savings: Decimal


def applied_this_month(db: Engine, now: datetime | None = None) -> AppliedThisMonth:
    since = month_start(now or utcnow())
    with Session(db) as session:
        n, total = session.exec(
            select(func.count(), func.sum(Recommendation.monthly_savings))
            .select_from(Execution)
            .join(Recommendation, col(Execution.recommendation_id) == Recommendation.id, isouter=True)
            .where(Execution.state == ExecutionState.SUCCEEDED, Execution.kind == ExecutionKind.APPLY,
                   col(Execution.dry_run).is_(False), col(Execution.finished_at) >= since)
        ).one()  # fmt: skip
    return AppliedThisMonth(int(n), Decimal(str(total or ZERO)))


@dataclass(frozen=True)
class Realized:
    """The ledger: changes still in place, how many of them were measured, and what they save."""

    changes: int
    measured: int
    monthly_savings: Decimal
    expected_monthly_savings: Decimal


def realized(db: Engine) -> Realized:
    with Session(db) as session:
        n, measured, total, expected = session.exec(
            select(func.count(), func.count(col(CostSaving.realized_monthly_savings)),
                   func.sum(CostSaving.realized_monthly_savings), func.sum(CostSaving.expected_monthly_savings))
            .where(col(CostSaving.period_end).is_(None))
        ).one()  # fmt: skip
    return Realized(int(n), int(measured), Decimal(str(total or ZERO)), Decimal(str(expected or ZERO)))


@dataclass(frozen=True)
class TrendPoint:
    day: date
    identified: Decimal
    applied: Decimal
    realized: Decimal


def _daily(session: Session, stmt: Any) -> dict[date, Decimal]:
    return {_as_date(day): Decimal(str(total or ZERO)) for day, total in session.execute(stmt) if day is not None}


def savings_trend(db: Engine, days: int = TREND_DAYS, now: datetime | None = None) -> list[TrendPoint]:
    """Cumulative monthly savings per UTC day over the last `days`: identified (recommendations
    first proposed that day), applied (their executions that succeeded that day), realized (what
    the ledger measured that day). Three GROUP BY day queries; the running sums walk `days` points."""
    end = (now or utcnow()).date()
    start_day = end - timedelta(days=days - 1)
    since = datetime.combine(start_day, datetime.min.time(), tzinfo=(now or utcnow()).tzinfo)
    rec_day = _day(db, col(Recommendation.created_at))
    exe_day = _day(db, col(Execution.finished_at))
    led_day = _day(db, col(CostSaving.measured_at))
    with Session(db) as session:
        identified = _daily(session, sa_select(rec_day, func.sum(Recommendation.monthly_savings))
                            .where(col(Recommendation.created_at) >= since,
                                   col(Recommendation.purpose) == RecPurpose.SAVING).group_by(rec_day))  # fmt: skip
        applied = _daily(session, sa_select(exe_day, func.sum(Recommendation.monthly_savings)).select_from(Execution)
                         .join(Recommendation, col(Execution.recommendation_id) == Recommendation.id)
                         .where(col(Execution.state) == ExecutionState.SUCCEEDED, col(Execution.dry_run).is_(False),
                                col(Execution.kind) == ExecutionKind.APPLY, col(Execution.finished_at) >= since)
                         .group_by(exe_day))  # fmt: skip
        measured = _daily(session, sa_select(led_day, func.sum(CostSaving.realized_monthly_savings))
                          .where(col(CostSaving.measured_at) >= since,
                                 col(CostSaving.realized_monthly_savings).is_not(None)).group_by(led_day))  # fmt: skip
    points: list[TrendPoint] = []
    run = [ZERO, ZERO, ZERO]
    for i in range(days):
        day = start_day + timedelta(days=i)
        run = [run[0] + identified.get(day, ZERO), run[1] + applied.get(day, ZERO), run[2] + measured.get(day, ZERO)]
        points.append(TrendPoint(day, run[0], run[1], run[2]))
    return points if any(identified) or any(applied) or any(measured) else []


@dataclass(frozen=True)
class SavingsSlice:
    engine: str
    cluster: str
    monthly_savings: Decimal
    recommendations: int


def open_savings_by(db: Engine, flt: RecFilter = RecFilter(), now: datetime | None = None) -> list[SavingsSlice]:
    """Saving recommendations matching `flt` (default: open, not snoozed) per engine and cluster,
    summed in SQL. A filter of every status charts the open ones (what is on offer)."""
    moment = now or utcnow()
    if flt.status is None:
        flt = replace(flt, status=RecStatus.OPEN)
    stmt = (sa_select(col(Recommendation.engine), col(Cluster.name), func.sum(Recommendation.monthly_savings),
                      func.count())
            .select_from(Recommendation).join(Cluster, col(Recommendation.cluster_id) == Cluster.id, isouter=True)
            .where(col(Recommendation.purpose) == RecPurpose.SAVING))  # fmt: skip
    stmt = narrow(stmt, flt, moment).group_by(col(Recommendation.engine), col(Cluster.name))  # type: ignore[arg-type]
    with Session(db) as session:
        rows = session.execute(stmt.order_by(col(Recommendation.engine), col(Cluster.name))).all()
    return [SavingsSlice(e, c or "(account)", Decimal(str(s or ZERO)), int(n)) for e, c, s, n in rows]


@dataclass(frozen=True)
class CostLine:
    """One line of the cost breakdown; `monthly_cost` None means not collected (with `note` saying why)."""

    category: str
    monthly_cost: Decimal | None
    note: str


def _compute(session: Session) -> list[CostLine]:
    rows = session.exec(
        select(col(Node.capacity_type), func.count(), func.count(col(Node.monthly_cost)), func.sum(Node.monthly_cost))
        .group_by(col(Node.capacity_type))
    ).all()  # fmt: skip
    by_type = {str(t or "on-demand").lower(): (int(n), int(priced), total) for t, n, priced, total in rows}
    lines = []
    for key, label in (("on-demand", "Compute (on-demand)"), ("spot", "Compute (Spot)")):
        n, priced, total = by_type.get(key, (0, 0, None))
        if n == 0:
            lines.append(CostLine(label, ZERO, "no such nodes"))
            continue
        unpriced = f"; {n - priced} without a price are not in the sum" if priced < n else ""
        lines.append(CostLine(label, Decimal(str(total)) if priced else None, f"{n} node(s){unpriced}"))
    return lines


def _recs_cost(session: Session, engine: str, label: str) -> CostLine:
    n, total = session.exec(
        select(func.count(), func.sum(Recommendation.current_monthly_cost))
        .where(Recommendation.engine == engine, Recommendation.status == RecStatus.OPEN)
    ).one()  # fmt: skip
    if not n:
        return CostLine(label, None, f"not collected: no open {engine} recommendation")
    return CostLine(label, Decimal(str(total or ZERO)), f"current cost of {n} open {engine} recommendation(s)")


# (database URL, snapshot id, collected_at) -> (priced volume ids and costs, unpriced volume ids).
# A stored snapshot never changes (a new collection inserts a new row), so its volumes are priced
# once per process instead of reading its whole JSON document on every Overview run.
_PRICED: dict[tuple[str, int, datetime], tuple[dict[str, Decimal], set[str]]] = {}


def _price_snapshot(session: Session, sid: int) -> tuple[dict[str, Decimal], set[str]]:
    from app.pricing import load_price_book
    from engines.ebs.pricing import price_volume

    data = session.exec(select(StoredSnapshot.data).where(StoredSnapshot.id == sid)).one() or {}
    prices, priced, unpriced = load_price_book(), {}, set()
    for vol in (data.get("account") or {}).get("volumes") or []:
        vid = str(vol.get("volume_id"))
        try:
            priced[vid] = price_volume(prices, vol["region"], vol["volume_type"], int(vol["size_gb"]), vol.get("iops"),
                                       vol.get("throughput")).monthly  # fmt: skip
        except (LookupError, KeyError, TypeError, ValueError):
            unpriced.add(vid)
    return priced, unpriced


def _storage(session: Session, url: str) -> CostLine:
    """EBS: every volume of each cluster's latest stored snapshot, priced from the price book."""
    latest = session.exec(select(StoredSnapshot.id, StoredSnapshot.cluster_id, StoredSnapshot.collected_at)
                          .order_by(col(StoredSnapshot.collected_at).desc())).all()  # fmt: skip
    newest: dict[int, tuple[int, datetime]] = {}
    for sid, cid, at in latest:
        if sid is not None:
            newest.setdefault(cid, (sid, at))
    if not newest:
        return CostLine("Storage (EBS)", None, "not collected: no stored snapshot")
    priced: dict[str, Decimal] = {}  # by volume id: an account's volume seen by two clusters counts once
    unpriced: set[str] = set()
    for sid, at in newest.values():
        key = (url, sid, at)
        if key not in _PRICED:
            if len(_PRICED) > 256:
                _PRICED.clear()
            _PRICED[key] = _price_snapshot(session, sid)
        priced.update(_PRICED[key][0])
        unpriced |= _PRICED[key][1]
    unpriced -= set(priced)
    if not priced and not unpriced:
        return CostLine("Storage (EBS)", None, "not collected: the snapshots list no EBS volume")
    extra = f"; {len(unpriced)} without a price are not in the sum" if unpriced else ""
    return CostLine("Storage (EBS)", sum(priced.values(), ZERO), f"{len(priced)} volume(s){extra}")


def cost_breakdown(db: Engine) -> list[CostLine]:
    """Compute on-demand / Spot (node rows), storage (snapshot volumes), cross-AZ traffic and idle
    instances (the current cost their engines' open recommendations name)."""
    with Session(db) as session:
        return [*_compute(session), _storage(session, str(db.url)), _recs_cost(session, CROSS_AZ, "Cross-AZ traffic"),
                _recs_cost(session, IDLE, "Idle instances")]  # fmt: skip


def top_open(db: Engine, n: int = 10) -> list[RecView]:
    """The `n` open recommendations with the biggest monthly saving (one LIMIT query)."""
    return page(db, RecFilter(), number=1, page_size=n).rows

