"""Overview use-case: one row per registered cluster with its nodes and monthly cost.

Read by pages/overview.py and `cloudoptim status`; reads the DB only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.db.models import Cluster, Node
from app.db.states import RecStatus
from app.db.tables_recs import Recommendation
from engines.money import ZERO


@dataclass(frozen=True)
class ClusterSummary:
    name: str
    region: str
    is_sandbox: bool
    nodes: int
    monthly_cost: Decimal | None
    open_savings: Decimal
    last_scan_at: datetime | None
    last_error: str | None


def cluster_summaries(engine: Engine) -> list[ClusterSummary]:
    with Session(engine) as session:
        node_counts: dict[int | None, int] = {
            cid: n for cid, n in session.exec(select(col(Node.cluster_id), func.count()).group_by(col(Node.cluster_id)))
        }
        savings: dict[int | None, Decimal] = {
            cid: total
            for cid, total in session.exec(
                select(col(Recommendation.cluster_id), func.sum(Recommendation.monthly_savings))
                .where(Recommendation.status == RecStatus.OPEN)
                .group_by(col(Recommendation.cluster_id))
            )
        }
        clusters = session.exec(select(Cluster).order_by(Cluster.name)).all()
        return [
            ClusterSummary(
                name=c.name,
                region=c.region,
                is_sandbox=c.is_sandbox,
                nodes=int(node_counts.get(c.id, 0)),
                monthly_cost=c.monthly_cost,
                open_savings=Decimal(str(savings.get(c.id) or ZERO)),
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
