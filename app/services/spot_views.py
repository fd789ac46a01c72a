"""Read-only views of the Spot interruption pipeline for the Spot events page: each warning with
its timeline (event, received, cordoned, replacement launched, drained, deadline) and whether it
was handled inside the notice, the quarantined queue messages, and the sandbox's Spot nodes an
analyst may interrupt on purpose.

The worker's Spot poller writes `spot_warnings` and `quarantined_messages`
(`app.services.spot_events`); this module only reads them. Called by pages/spot_events.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db.models import Cluster, Node, QuarantinedMessage, SpotWarning
from app.db.states import SpotWarningStatus

INTERRUPTION = "EC2 Spot Instance Interruption Warning"
REBALANCE = "EC2 Instance Rebalance Recommendation"


@dataclass(frozen=True)
class TimelineStep:
    step: str
    at: datetime | None
    after_event_s: float | None  # seconds after the event time (AWS's clock)
    before_deadline_s: float | None  # seconds left before AWS takes the instance


@dataclass(frozen=True)
class SpotWarningView:
    id: int
    event_id: str
    kind: str  # "interruption", "rebalance" or the detail type as received
    instance_id: str
    cluster: str | None
    node: str | None
    status: SpotWarningStatus
    event_time: datetime | None
    received_at: datetime
    cordoned_at: datetime | None
    replacement_launched_at: datetime | None
    replacement_instance_id: str | None
    drained_at: datetime | None
    deadline_at: datetime | None
    handled_in_notice: bool | None
    feasibility: str | None
    message: str

    @property
    def timeline(self) -> list[TimelineStep]:
        """The handling steps in order; a step not reached yet has no time."""
        origin = self.event_time or self.received_at

        def step(name: str, at: datetime | None) -> TimelineStep:
            after = round((at - origin).total_seconds(), 2) if at else None
            left = round((self.deadline_at - at).total_seconds(), 2) if at and self.deadline_at else None
            return TimelineStep(name, at, after, left)

        return [
            step("event time", self.event_time), step("received", self.received_at),
            step("cordoned", self.cordoned_at), step("replacement launched", self.replacement_launched_at),
            step("drained", self.drained_at), step("deadline", self.deadline_at),
        ]  # fmt: skip

    def seconds_to(self, at: datetime | None) -> float | None:
        origin = self.event_time or self.received_at
        return round((at - origin).total_seconds(), 2) if at else None

    @property
    def in_notice(self) -> str:
        """One of yes, no, "not yet" (still handling) or "n/a" (a rebalance only recorded, or ignored)."""
        if self.handled_in_notice is not None:
            return "yes" if self.handled_in_notice else "no"
        if self.status in (SpotWarningStatus.RECEIVED, SpotWarningStatus.HANDLING):
            return "not yet"
        if self.status is SpotWarningStatus.FAILED:
            return "no"
        return "n/a"


def _kind(detail_type: str) -> str:
    return {INTERRUPTION: "interruption", REBALANCE: "rebalance"}.get(detail_type, detail_type)


def _status(value: str) -> SpotWarningStatus:
    try:
        return SpotWarningStatus(value)
    except ValueError:  # a status a newer worker wrote: show it as received rather than fail the page
        return SpotWarningStatus.RECEIVED


def spot_warnings(db: Engine, *, limit: int = 200) -> list[SpotWarningView]:
    """Interruption warnings and rebalance recommendations, newest first."""
    stmt = (
        select(SpotWarning, Cluster.name)
        .join(Cluster, col(SpotWarning.cluster_id) == Cluster.id, isouter=True)
        .order_by(col(SpotWarning.received_at).desc(), col(SpotWarning.id).desc())
        .limit(limit)
    )
    with Session(db) as session:
        return [
            SpotWarningView(
                id=int(w.id or 0),
                event_id=w.event_id,
                kind=_kind(w.detail_type),
                instance_id=w.instance_id,
                cluster=name,
                node=w.node_name,
                status=_status(w.status),
                event_time=w.event_time,
                received_at=w.received_at,
                cordoned_at=w.cordoned_at,
                replacement_launched_at=w.replacement_launched_at,
                replacement_instance_id=w.replacement_instance_id,
                drained_at=w.drained_at,
                deadline_at=w.deadline_at,
                handled_in_notice=w.handled_in_notice,
                feasibility=w.feasibility,
                message=w.message,
            )  # fmt: skip
            for w, name in session.exec(stmt)
        ]


@dataclass(frozen=True)
class QuarantinedView:
    id: int
    received_at: datetime
    message_id: str
    reason: str
    body: str


def quarantined(db: Engine, *, limit: int = 200) -> list[QuarantinedView]:
    """Queue messages that were no readable Spot warning, newest first, with the reason."""
    stmt = select(QuarantinedMessage).order_by(col(QuarantinedMessage.received_at).desc()).limit(limit)
    with Session(db) as session:
        return [QuarantinedView(int(q.id or 0), q.received_at, q.message_id, q.reason, q.body)
                for q in session.exec(stmt)]  # fmt: skip


@dataclass(frozen=True)
class SpotNodeView:
    cluster: str
    node: str
    instance_id: str
    instance_type: str | None
    zone: str | None

    @property
    def label(self) -> str:
        return f"{self.cluster} · {self.node} · {self.instance_id} ({self.instance_type or 'unknown type'})"


def sandbox_spot_nodes(db: Engine) -> list[SpotNodeView]:
    """Spot nodes of sandbox clusters as the latest scan saw them (what the page may interrupt)."""
    stmt = (
        select(Node, Cluster.name)
        .join(Cluster, col(Node.cluster_id) == Cluster.id)
        .where(col(Cluster.is_sandbox).is_(True), Node.capacity_type == "spot", col(Node.instance_id).is_not(None))
        .order_by(col(Cluster.name), col(Node.name))
    )
    with Session(db) as session:
        return [
            SpotNodeView(name, n.name, str(n.instance_id), n.instance_type, n.zone) for n, name in session.exec(stmt)
        ]
