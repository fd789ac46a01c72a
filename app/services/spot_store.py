"""The Spot pipeline's rows: one spot_warnings row per event id, quarantined messages, pool history.

Called by the Spot handler (`app.services.spot_handler` and `spot_actions`) and read by the
pages. Every write is its own short transaction: the handler records each step (cordoned,
replacement launched, drained) as soon as it happens, so the timeline survives a crash, and the
queue message is deleted only after its row is stored. The event id is unique in the table, so a
duplicate delivery (SQS is at-least-once) is recognised here, even when two inserts race.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.db import session_scope
from app.db.models import QuarantinedMessage, SpotWarning
from app.db.states import SpotWarningStatus
from app.services.spot_events import SpotEvent
from engines.spot import Pool

NOTICE = timedelta(seconds=120)  # AWS takes a Spot instance two minutes after the warning
BODY_LIMIT = 64_000  # a quarantined body is kept for reading, not for replay; SQS allows 256 KiB
UNFINISHED = (SpotWarningStatus.RECEIVED, SpotWarningStatus.HANDLING)


@dataclass(frozen=True)
class WarningRow:
    """The fields of a stored warning the handler acts on (a detached copy, no session)."""

    id: int
    event_id: str
    detail_type: str
    instance_id: str
    region: str
    event_time: datetime | None
    received_at: datetime
    deadline_at: datetime | None
    status: str
    detail: dict[str, Any]


def _view(row: SpotWarning) -> WarningRow:
    assert row.id is not None
    return WarningRow(
        row.id,
        row.event_id,
        row.detail_type,
        row.instance_id,
        row.region,
        row.event_time,
        row.received_at,
        row.deadline_at,
        row.status,
        dict(row.detail or {}),
    )


def record_event(db: Engine, event: SpotEvent, received_at: datetime, *, deadline: bool) -> WarningRow | None:
    """Store a new warning or rebalance row; None when this event id is already stored (a duplicate).

    `deadline`: the event carries the two-minute notice (a warning), counted from the event time
    or, when that is unreadable, from receipt.
    """
    start = event.event_time or received_at
    row = SpotWarning(
        event_id=event.event_id, detail_type=event.detail_type, instance_id=event.instance_id, region=event.region,
        instance_action=event.instance_action, event_time=event.event_time, received_at=received_at,
        status=SpotWarningStatus.RECEIVED, raw=event.raw, deadline_at=start + NOTICE if deadline else None,
        message="; ".join(event.notes), detail={"notes": list(event.notes)} if event.notes else {},
    )  # fmt: skip
    with Session(db, expire_on_commit=False) as session:
        if session.exec(select(SpotWarning.id).where(SpotWarning.event_id == event.event_id)).first() is not None:
            return None
        session.add(row)
        try:
            session.commit()
        except IntegrityError:  # another worker (or a redelivery on another thread) stored it first
            session.rollback()
            return None
        return _view(row)


def update(db: Engine, row_id: int, *, detail: dict[str, Any] | None = None, **fields: Any) -> None:
    """Set columns of one row; `detail` items are merged into the stored detail document."""
    with session_scope(db) as session:
        row = session.get(SpotWarning, row_id)
        if row is None:
            return
        for name, value in fields.items():
            setattr(row, name, value)
        if detail:
            row.detail = {**(row.detail or {}), **detail}  # a new dict: JSON columns track assignment only
        session.add(row)


def get(db: Engine, row_id: int) -> WarningRow | None:
    with Session(db) as session:
        row = session.get(SpotWarning, row_id)
        return _view(row) if row is not None else None


def record_state_change(db: Engine, event: SpotEvent) -> int | None:
    """Note an instance state change on the latest row of that instance; None when none exists.

    State changes of instances the pipeline never saw are not stored: the rule may send every
    instance of the account, and only the end of an interrupted one is part of its timeline.
    """
    with session_scope(db) as session:
        row = session.exec(select(SpotWarning).where(SpotWarning.instance_id == event.instance_id)
                           .order_by(col(SpotWarning.received_at).desc())).first()  # fmt: skip
        if row is None:
            return None
        changes = list((row.detail or {}).get("state_changes") or [])
        if any(c.get("event_id") == event.event_id for c in changes):
            return row.id  # a duplicate delivery of the same change
        when = event.event_time.isoformat() if event.event_time else None
        changes.append({"event_id": event.event_id, "state": event.state, "at": when})
        row.detail = {
            **(row.detail or {}),
            "state_changes": changes,
            "instance_state": event.state,
            "instance_state_at": when,
        }
        session.add(row)
        return row.id


def quarantine(db: Engine, *, queue_url: str, message_id: str, reason: str, body: str) -> int:
    with session_scope(db) as session:
        row = QuarantinedMessage(
            queue_url=queue_url[:1000], message_id=message_id[:200], reason=reason, body=body[:BODY_LIMIT]
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def recent_pools(db: Engine, since: datetime) -> list[Pool]:
    """The (type, zone) pools of the instances interrupted since `since` (from the rows' detail)."""
    with Session(db) as session:
        rows = session.exec(select(SpotWarning.detail).where(col(SpotWarning.received_at) >= since)).all()
    pools = set()
    for detail in rows:
        pool = (detail or {}).get("pool") or {}
        if pool.get("instance_type") and pool.get("zone"):
            pools.add(Pool(str(pool["instance_type"]), str(pool["zone"])))
    return sorted(pools, key=lambda p: (p.instance_type, p.zone))


def unfinished(db: Engine) -> Sequence[WarningRow]:
    """Rows a stopped worker left received or handling, oldest first."""
    with Session(db) as session:
        rows = session.exec(select(SpotWarning).where(col(SpotWarning.status).in_(UNFINISHED))
                            .order_by(col(SpotWarning.received_at))).all()  # fmt: skip
        return [_view(r) for r in rows]
