"""Wake-up leases ("keep staging up until 22:00 today") and the list of scheduled workloads.

Called by the Schedules page (pages/schedules.py through app.ui.schedules). A lease is one
annotation, `cloudoptim.io/schedule-lease-until`, patched on the workload through the Kubernetes
API: the worker's enforcer (app.services.schedules) wakes the workload within a minute if it is
down, scales nothing down until the lease ends, and removes the annotation once it is over.
Ending a lease early sets it to now, so the enforcer treats the end as the scale-down it is.
Every grant and end is an audit event naming the analyst. `list_scheduled` is the page's table:
every scheduled workload of every cluster with its schedule, state, next change and lease.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes.client.exceptions import ApiException
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db import session_scope
from app.db.models import Cluster
from app.db.tables_recs import AuditEvent
from app.db.types import utcnow
from app.services.access import Actor, Permission, require
from app.services.execution_clients import kubernetes_api_client
from app.services.schedule_targets import Clients, Target, patch, scheduled_targets
from app.services.schedules import failure_text, protected_namespaces
from app.settings import Settings
from engines import schedules
from executor import k8s_util as k

MAX_LEASE = timedelta(days=7)  # longer than a week is a schedule change, not a lease


class LeaseError(ValueError):
    """A lease that cannot be granted or ended; the message says why."""


@dataclass(frozen=True)
class ScheduledWorkload:
    """One row of the Schedules page."""

    cluster: str
    kind: str
    namespace: str
    name: str
    source: str  # the schedule is the workload's own, or its namespace's
    schedule: str
    timezone: str
    replicas: int
    state: str  # "up" or "down" (scaled down or suspended by the schedule)
    wants_up: bool | None  # what the schedule (and a lease) wants now; None = unusable schedule
    next_change: datetime | None
    lease_until: datetime | None
    note: str  # excluded, or why the schedule cannot be used

    @property
    def target(self) -> str:
        return f"{self.kind.lower()} {self.namespace}/{self.name}"


@dataclass
class ScheduleListing:
    workloads: list[ScheduledWorkload] = field(default_factory=list)
    failed_clusters: dict[str, str] = field(default_factory=dict)


def list_scheduled(settings: Settings, db: Engine, now: datetime | None = None) -> ScheduleListing:
    """Every scheduled workload of every registered cluster; an unreachable cluster is named."""
    now = now or utcnow()
    listing = ScheduleListing()
    for cluster in _clusters(db):
        try:
            targets = _targets(settings, cluster)
        except Exception as exc:  # unreachable, bad kubeconfig, RBAC: shown, the other clusters still listed
            listing.failed_clusters[cluster.name] = failure_text(exc)
            continue
        listing.workloads += [_row(cluster.name, t, now) for t in targets]
    return listing


def _row(cluster: str, t: Target, now: datetime) -> ScheduledWorkload:
    st = schedules.status(t.annotations, now)
    down = schedules.restore_replicas(t.annotations) is not None or (t.kind == "CronJob" and t.current == 0)
    return ScheduledWorkload(cluster, t.kind, t.namespace, t.name, t.source, st.text, st.timezone, t.current,
                             "down" if down else "up", st.wants_up, st.next_change, st.lease_until,
                             t.excluded or st.problem or "")  # fmt: skip


def grant_lease(settings: Settings, db: Engine, cluster: str, namespace: str, kind: str, name: str,
                until: datetime, actor: Actor, now: datetime | None = None) -> str:  # fmt: skip
    """Keep the workload up until `until`; returns what was done. Raises LeaseError for a time in
    the past or more than MAX_LEASE ahead, an unknown cluster or workload, or one with no schedule."""
    actor = require(actor, Permission.LEASE)
    now = now or utcnow()
    if until.tzinfo is None:
        raise LeaseError(f"lease end {until.isoformat()} has no timezone")
    if until <= now:
        raise LeaseError(
            f"lease end {until.isoformat()} is not in the future (now {now.astimezone(until.tzinfo):%Y-%m-%d %H:%M %Z})"
        )
    if until > now + MAX_LEASE:
        raise LeaseError(f"lease end {until.isoformat()} is more than {MAX_LEASE.days} days ahead: "
                         "change the schedule instead")  # fmt: skip
    value = until.astimezone(UTC).isoformat()
    _write(settings, db, cluster, namespace, kind, name, value, actor, "schedule lease granted")
    return f"{kind} {namespace}/{name} in cluster {cluster} stays up until {until:%a %Y-%m-%d %H:%M %Z}."


def end_lease(settings: Settings, db: Engine, cluster: str, namespace: str, kind: str, name: str, actor: Actor,
              now: datetime | None = None) -> str:  # fmt: skip
    """End the workload's lease now: the enforcer scales it down within a minute if off-hours."""
    actor = require(actor, Permission.LEASE)
    now = now or utcnow()
    _write(settings, db, cluster, namespace, kind, name, now.astimezone(UTC).isoformat(), actor,
           "schedule lease ended", need_lease=True)  # fmt: skip
    return f"Lease of {kind} {namespace}/{name} in cluster {cluster} ended; its schedule applies again."


def _write(settings: Settings, db: Engine, cluster_name: str, namespace: str, kind: str, name: str, value: str,
           actor: str, action: str, need_lease: bool = False) -> None:  # fmt: skip
    cluster = next((c for c in _clusters(db) if c.name == cluster_name), None)
    if cluster is None:
        raise LeaseError(f"cluster {cluster_name!r} is not registered")
    api = kubernetes_api_client(settings, cluster)
    try:
        clients = Clients.of(api)
        target = next((t for t in scheduled_targets(clients, protected_namespaces(settings), settings.k8s.request_timeout_s)
                       if (t.kind, t.namespace, t.name) == (kind, namespace, name)), None)  # fmt: skip
        what = f"{kind} {namespace}/{name} in cluster {cluster_name}"
        if target is None:
            raise LeaseError(f"{what} has no schedule (or is gone): a lease only keeps a scheduled workload up")
        if target.excluded:
            raise LeaseError(f"{what} is excluded from schedules ({target.excluded})")
        previous = target.annotations.get(schedules.LEASE_UNTIL)
        if need_lease and not previous:
            raise LeaseError(f"{what} has no lease to end")
        try:
            patch(clients, kind, namespace, name, {"metadata": {"annotations": {schedules.LEASE_UNTIL: value}}})
        except ApiException as exc:
            raise LeaseError(str(k.api_error(f"annotate {what}", exc))) from exc
    finally:
        api.close()
    details: dict[str, Any] = {"cluster": cluster_name, "lease_until": value, "previous": previous}
    with session_scope(db) as session:
        session.add(
            AuditEvent(actor=actor, action=action, target=f"{kind.lower()} {namespace}/{name}", details=details)
        )


def _clusters(db: Engine) -> list[Cluster]:
    with Session(db) as session:
        return list(session.exec(select(Cluster).order_by(Cluster.name)))


def _targets(settings: Settings, cluster: Cluster) -> list[Target]:
    api = kubernetes_api_client(settings, cluster)
    try:
        return scheduled_targets(Clients.of(api), protected_namespaces(settings), settings.k8s.request_timeout_s)
    finally:
        api.close()
