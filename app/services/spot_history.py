"""The account's own Spot record per pool (instance type + zone): interruptions and exposure hours.

Called by the scan pipeline to fill `Snapshot.spot_history`, which the Spot optimizer's scorer uses
to update the Advisor prior per pool. Interruptions are the `spot_warnings` rows of one region in the
window whose detail type is the EC2 Spot Instance Interruption Warning and whose status is not
`ignored` (duplicates and instances of no registered cluster); rebalance recommendations do not
count. A warning's pool is the one the handler recorded when it cordoned the node (`detail.pool`),
else the `nodes` row of its instance; a warning whose pool is unknown is left out.

Exposure (Spot instance-hours) is an estimate, a LOWER bound: only the current record is kept (the
`nodes` table and the last stored snapshot per cluster), so it counts, for every Spot node of the
region's clusters present now, the hours from max(window start, the node's creationTimestamp in the
stored snapshot) to `now`. Nodes gone before the last collection (interrupted or scaled in) and
nodes whose creation time is unknown add nothing, so the observed rate errs on the high, safe side.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db.models import Cluster, Node, SpotWarning, StoredSnapshot
from app.db.states import SpotWarningStatus
from engines.snapshot_aws import SpotPoolHistory

INTERRUPTION = "EC2 Spot Instance Interruption Warning"

Pool = tuple[str, str]


def as_utc(value: datetime) -> datetime:
    """Stored times are UTC; a naive one (a JSON string without offset) is read as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _created(data: Mapping[str, Any]) -> dict[str, datetime]:
    """Node name -> creationTimestamp from one stored snapshot's JSON."""
    cluster = data.get("cluster")
    nodes = cluster.get("nodes") if isinstance(cluster, dict) else None
    out: dict[str, datetime] = {}
    for node in nodes if isinstance(nodes, list) else []:
        if isinstance(node, dict) and node.get("name") and node.get("created_at"):
            try:
                out[str(node["name"])] = as_utc(datetime.fromisoformat(str(node["created_at"])))
            except ValueError:
                continue
    return out


def _interruptions(session: Session, region: str, start: datetime, now: datetime) -> Counter[Pool]:
    rows = session.exec(
        select(SpotWarning.instance_id, SpotWarning.event_time, SpotWarning.received_at, SpotWarning.detail).where(
            SpotWarning.region == region,
            SpotWarning.detail_type == INTERRUPTION,
            SpotWarning.status != SpotWarningStatus.IGNORED.value,
            col(SpotWarning.received_at) >= start - timedelta(days=1),  # event_time may precede receipt
        )
    ).all()
    unknown = {r[0] for r in rows if not ((r[3] or {}).get("pool") or {}).get("instance_type")}
    by_instance: dict[str, Pool] = {}
    if unknown:
        for iid, itype, zone in session.exec(
            select(Node.instance_id, Node.instance_type, Node.zone).where(col(Node.instance_id).in_(sorted(unknown)))
        ).all():
            if iid and itype and zone:
                by_instance[iid] = (itype, zone)
    counts: Counter[Pool] = Counter()
    for iid, event_time, received_at, detail in rows:
        at = as_utc(event_time or received_at)
        if not start <= at <= now:
            continue
        pool = (detail or {}).get("pool") or {}
        key = (str(pool["instance_type"]), str(pool["zone"])) if pool.get("instance_type") and pool.get("zone") else (
            by_instance.get(iid)
        )  # fmt: skip
        if key is not None:
            counts[key] += 1
    return counts


def _exposure(session: Session, region: str, start: datetime, now: datetime) -> dict[Pool, float]:
    clusters = session.exec(select(Cluster.id).where(Cluster.region == region)).all()
    if not clusters:
        return {}
    nodes = session.exec(
        select(Node.cluster_id, Node.name, Node.instance_type, Node.zone).where(
            col(Node.cluster_id).in_(clusters), Node.capacity_type == "spot"
        )
    ).all()
    created: dict[int, dict[str, datetime]] = {}
    for cid, data in session.exec(
        select(StoredSnapshot.cluster_id, StoredSnapshot.data).where(col(StoredSnapshot.cluster_id).in_(clusters))
    ).all():
        created.setdefault(cid, {}).update(_created(data or {}))
    hours: dict[Pool, float] = {}
    for cid, name, itype, zone in nodes:
        began = created.get(cid, {}).get(name)
        if not itype or not zone or began is None:
            continue
        span = (now - max(start, began)).total_seconds() / 3600
        if span > 0:
            hours[(itype, zone)] = hours.get((itype, zone), 0.0) + span
    return hours


def spot_pool_history(db: Engine, region: str, now: datetime, window_days: float = 30) -> tuple[SpotPoolHistory, ...]:
    """Every pool of `region` with an interruption or exposure in the window ending at `now`, sorted."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    if window_days <= 0:
        raise ValueError("window_days must be positive")
    start = now - timedelta(days=window_days)
    with Session(db) as session:
        counts = _interruptions(session, region, start, now)
        hours = _exposure(session, region, start, now)
    return tuple(
        SpotPoolHistory(
            instance_type=t,
            zone=z,
            interruptions=counts.get((t, z), 0),
            instance_hours=round(hours.get((t, z), 0.0), 3),
            window_days=window_days,
        )  # fmt: skip
        for t, z in sorted(set(counts) | set(hours))
    )
