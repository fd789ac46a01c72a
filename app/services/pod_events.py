"""Container terminations remembered across scans, in `pod_events`.

A pod shows only its containers' last termination, and Kubernetes forgets events after about an
hour, so the OOMKilled engine (`engines.oom`) could count one kill per container at best. The
collection pipeline (`app.services.enrich`) calls `record_terminations` after each collection:
it stores every container's last non-Completed termination and every OOM/eviction event of a pod
that is not stored yet, then `termination_history` reads the window back (oldest first, owner
filled from the current pods) into `ClusterState.terminations`.

Dedupe key: cluster, namespace, pod, container, reason, occurred_at. The existing keys are read
with one select over the candidates' time window (no per-row queries), and new rows go in one
executemany INSERT. The table has no unique index on that key, so two scans of one cluster at the
very same moment could both insert a row; collection of one cluster is serialised by the worker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from app.db.models import PodEvent
from engines.snapshot import ClusterState, Pod, TerminationRecord

# Event reasons kept: kernel OOM kills and evictions (the collector already keeps only OOM-related events).
EVENT_REASONS = frozenset({"OOMKilling", "OOMKilled", "SystemOOM", "Evicted"})
_EXIT = re.compile(r"^exit code (-?\d+)")
Key = tuple[str, str, str, str, datetime]


def _utc(when: datetime) -> datetime:
    # Collectors write aware UTC; a naive time from a foreign snapshot is read as UTC, as engines do.
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _candidates(state: ClusterState) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for pod in state.pods:
        for c in (*pod.containers, *pod.init_containers):
            reason, at = c.last_termination_reason, c.last_termination_at
            if not reason or reason == "Completed" or at is None:
                continue  # a clean exit is no failure; without a time there is no dedupe key
            code = c.last_termination_exit_code
            rows.append({"namespace": pod.namespace, "pod": pod.name, "container": c.name, "reason": reason[:100],
                         "message": "" if code is None else f"exit code {code}", "restart_count": c.restart_count,
                         "occurred_at": _utc(at)})  # fmt: skip
    for event in state.events:
        if event.reason not in EVENT_REASONS or event.involved_kind != "Pod" or event.last_seen is None:
            continue
        rows.append({"namespace": event.namespace, "pod": event.involved_name, "container": None,
                     "reason": event.reason, "message": event.message, "restart_count": 0,
                     "occurred_at": _utc(event.last_seen)})  # fmt: skip
    return rows


def _key(row: dict[str, Any]) -> Key:
    return (row["namespace"], row["pod"], row["container"] or "", row["reason"], row["occurred_at"])


def record_terminations(session: Session, cluster_id: int, state: ClusterState) -> int:
    """Insert the terminations and OOM/eviction events of `state` not stored yet; returns rows added."""
    candidates = _candidates(state)
    if not candidates:
        return 0
    oldest = min(r["occurred_at"] for r in candidates)
    query = select(PodEvent).where(PodEvent.cluster_id == cluster_id, col(PodEvent.occurred_at) >= oldest)
    seen: set[Key] = {(r.namespace, r.pod, r.container or "", r.reason, _utc(r.occurred_at)) for r in session.exec(query)}
    new: list[dict[str, Any]] = []
    for row in sorted(candidates, key=lambda r: (r["occurred_at"], r["namespace"], r["pod"], r["container"] or "")):
        key = _key(row)
        if key not in seen:
            seen.add(key)
            new.append({"cluster_id": cluster_id, **row})
    if new:
        session.execute(insert(PodEvent), new)
    return len(new)


def _owners(pods: Iterable[Pod]) -> tuple[dict[tuple[str, str], tuple[str, str]], dict[tuple[str, str], tuple[str, str]]]:
    """(namespace, pod) -> owner for current pods; (namespace, controller) -> owner for pods gone since."""
    by_pod: dict[tuple[str, str], tuple[str, str]] = {}
    by_controller: dict[tuple[str, str], tuple[str, str]] = {}
    for pod in pods:
        if pod.owner_kind and pod.owner_name:
            owner = (pod.owner_kind, pod.owner_name)
            by_pod[(pod.namespace, pod.name)] = owner
            by_controller[(pod.namespace, pod.controller_name or pod.owner_name)] = owner
    return by_pod, by_controller


def _owner_of(ns: str, pod: str, by_pod: dict[tuple[str, str], tuple[str, str]],
              by_controller: dict[tuple[str, str], tuple[str, str]]) -> tuple[str | None, str | None]:
    if (ns, pod) in by_pod:
        return by_pod[(ns, pod)]
    # An evicted or replaced pod is gone; its name is its controller's plus a generated suffix
    # (ReplicaSet "web-7d9f8" -> pod "web-7d9f8-x2x4z"; StatefulSet "db" -> "db-0").
    controller = pod.rsplit("-", 1)[0]
    return by_controller.get((ns, controller), (None, None))


def termination_history(session: Session, cluster_id: int, since: datetime, *,
                        pods: Iterable[Pod] = ()) -> tuple[TerminationRecord, ...]:
    """Stored terminations since `since`, oldest first; owners from `pods` (the current pods) where known."""
    if since.tzinfo is None:
        raise ValueError("since must be timezone-aware UTC")
    by_pod, by_controller = _owners(pods)
    query = (select(PodEvent).where(PodEvent.cluster_id == cluster_id, col(PodEvent.occurred_at) >= since)
             .order_by(col(PodEvent.occurred_at), col(PodEvent.id)))
    out = []
    for row in session.exec(query):
        kind, name = _owner_of(row.namespace, row.pod, by_pod, by_controller)
        code = _EXIT.match(row.message or "")
        out.append(TerminationRecord(
            namespace=row.namespace, pod=row.pod, container=row.container or "", reason=row.reason,
            exit_code=int(code.group(1)) if code else None, restart_count=row.restart_count,
            occurred_at=_utc(row.occurred_at), owner_kind=kind, owner_name=name, message=row.message or "",
        ))  # fmt: skip
    return tuple(out)
