"""Overview use-case: one row per registered cluster with its nodes, monthly cost and open savings.

Read by pages/overview.py and `cloudoptim status`; reads the DB only. Open savings count each
target once where recommendations of different engines conflict (see `app.services.conflicts`),
and leave out recommendations snoozed until a later date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Engine, String, cast, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.db.models import Cluster, Node
from app.db.states import RecPurpose, RecStatus
from app.db.tables_recs import Recommendation
from app.db.types import utcnow
from app.services.conflicts import Overlap, SavingRow, SavingsTotal, overlap
from engines.money import ZERO

# JSON text of an empty link list as the store writes it (json.dumps) and as the column defaults to.
_NO_LINKS = ("[]", "null")


@dataclass(frozen=True)
class ClusterSummary:
    name: str
    region: str
    is_sandbox: bool
    nodes: int
    monthly_cost: Decimal | None
    savings: SavingsTotal
    last_scan_at: datetime | None
    last_error: str | None

    @property
    def open_savings(self) -> Decimal:
        """Open monthly savings, each conflicting target counted once at its largest saving."""
        return self.savings.counted


def open_savings_total(summaries: list[ClusterSummary]) -> SavingsTotal:
    """The Overview headline: every cluster's open savings (conflicts never cross clusters)."""
    return sum((s.savings for s in summaries), SavingsTotal())


def _awake() -> ColumnElement[bool]:
    """Not snoozed (or snoozed until a moment that has passed): snoozed rows are not on offer."""
    return or_(col(Recommendation.snoozed_until).is_(None), col(Recommendation.snoozed_until) <= utcnow())


def _overlaps(session: Session) -> dict[int | None, Overlap]:
    """Per cluster, what the plain sum counts twice. Only open rows that have a link are loaded, and
    only the three columns the groups need: a row without links is its own group."""
    linked = session.exec(
        select(col(Recommendation.cluster_id), col(Recommendation.fingerprint), col(Recommendation.monthly_savings),
               col(Recommendation.conflicts_with))
        .where(Recommendation.status == RecStatus.OPEN, _awake())
        .where(Recommendation.purpose == RecPurpose.SAVING)
        .where(cast(Recommendation.conflicts_with, String).not_in(_NO_LINKS))
    ).all()  # fmt: skip
    rows: dict[int | None, list[SavingRow]] = {}
    for cid, fp, saving, links in linked:
        rows.setdefault(cid, []).append(SavingRow(fp, Decimal(str(saving)), list(links or [])))
    return {cid: overlap(group) for cid, group in rows.items()}


def cluster_summaries(engine: Engine) -> list[ClusterSummary]:
    with Session(engine) as session:
        node_counts: dict[int | None, int] = {
            cid: n for cid, n in session.exec(select(col(Node.cluster_id), func.count()).group_by(col(Node.cluster_id)))
        }
        savings: dict[int | None, Decimal] = {
            cid: total
            for cid, total in session.exec(
                select(col(Recommendation.cluster_id), func.sum(Recommendation.monthly_savings))
                .where(Recommendation.status == RecStatus.OPEN, _awake())
                .where(Recommendation.purpose == RecPurpose.SAVING)
                .group_by(col(Recommendation.cluster_id))
            )
        }
        # Reliability rows (memory raises after OOM kills) cost money to prevent failures: apart.
        reliability: dict[int | None, tuple[int, Decimal]] = {
            cid: (int(n), Decimal(str(cost or ZERO)))
            for cid, n, cost in session.exec(
                select(col(Recommendation.cluster_id), func.count(), func.sum(Recommendation.monthly_savings))
                .where(Recommendation.status == RecStatus.OPEN, _awake())
                .where(Recommendation.purpose == RecPurpose.RELIABILITY)
                .group_by(col(Recommendation.cluster_id))
            )
        }
        overlaps = _overlaps(session)
        clusters = session.exec(select(Cluster).order_by(Cluster.name)).all()
        return [
            ClusterSummary(
                name=c.name,
                region=c.region,
                is_sandbox=c.is_sandbox,
                nodes=int(node_counts.get(c.id, 0)),
                monthly_cost=c.monthly_cost,
                savings=SavingsTotal(Decimal(str(savings.get(c.id) or ZERO)), overlaps.get(c.id, Overlap()),
                                     reliability.get(c.id, (0, ZERO))[0], -reliability.get(c.id, (0, ZERO))[1]),
                last_scan_at=c.last_scan_at,
                last_error=c.last_error,
            )
            for c in clusters
        ]


def cluster_ids(engine: Engine) -> dict[str, int]:
    """Registered cluster names and their ids, by name."""
    with Session(engine) as session:
        return {c.name: c.id for c in session.exec(select(Cluster).order_by(Cluster.name)) if c.id is not None}


def node_cost_breakdown(engine: Engine) -> list[dict[str, object]]:
    """Monthly cost per cluster, instance type and capacity type, from the stored node list."""
    with Session(engine) as session:
        # Five columns: beyond sqlmodel.select's typed overloads, so plain SQLAlchemy Core.
        rows = session.execute(
            sa_select(col(Cluster.name), col(Node.instance_type), col(Node.capacity_type), func.count(),
                      func.sum(Node.monthly_cost))
            .join(Cluster, col(Node.cluster_id) == Cluster.id)
            .group_by(Cluster.name, col(Node.instance_type), col(Node.capacity_type))
            .order_by(Cluster.name, col(Node.instance_type))
        ).all()
    return [
        {"cluster": name, "instance_type": itype or "unknown", "capacity_type": ctype, "nodes": int(count),
         "monthly_cost": Decimal(str(total or 0))}  # fmt: skip
        for name, itype, ctype, count, total in rows
    ]
