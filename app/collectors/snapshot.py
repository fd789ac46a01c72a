"""Build one Snapshot from the collectors, keeping the last good data of every failed source.

Called by the worker's scan job and by the demo. Each source (cluster, AWS account, usage,
traffic) is collected independently: a failure becomes a `SourceError` in `Snapshot.errors`
and, when `SnapshotCache` holds an earlier good result for that source, that result is used
instead, so one unreachable endpoint never empties a scan and never crashes the worker.
The cache is in memory; the lead's DB persistence can subclass it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, Protocol, TypeVar

from app.collectors.errors import Collected, CollectorError
from app.collectors.traffic import TrafficSource
from app.collectors.usage import UsageSource
from engines.snapshot import ClusterState
from engines.snapshot_aws import AccountState, ContainerUsage, Snapshot, SourceError, TrafficEdge

log = logging.getLogger(__name__)
T = TypeVar("T")


class ClusterCollector(Protocol):
    source: str
    cluster_name: str

    def collect(self) -> Collected[ClusterState]: ...


class AccountCollector(Protocol):
    region: str

    def collect(self) -> Collected[AccountState]: ...


@dataclass(frozen=True)
class Cached(Generic[T]):
    value: T
    collected_at: datetime


class SnapshotCache:
    """Last good result per source, keyed by cluster name, account key or source name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], Cached[object]] = {}

    def put(self, kind: str, key: str, value: object, collected_at: datetime) -> None:
        with self._lock:
            self._entries[(kind, key)] = Cached(value, collected_at)

    def get(self, kind: str, key: str) -> Cached[object] | None:
        with self._lock:
            return self._entries.get((kind, key))


def _collect(
    *,
    kind: str,
    key: str,
    source: str,
    fn: Callable[[], Collected[T]],
    expected: type,
    cache: SnapshotCache,
    now: datetime,
    errors: list[SourceError],
) -> T | None:
    """Run one source; on failure record why and fall back to the cached value, if any."""
    try:
        result = fn()
    except CollectorError as exc:
        log.warning("%s failed: %s", exc.source, exc.message)
        failure = exc.as_source_error()
    except Exception as exc:  # the worker must survive any bug in a client library or collector
        log.exception("%s failed unexpectedly", source)
        failure = SourceError(source=source, message=f"unexpected error: {exc!r}")
    else:
        errors.extend(result.warnings)
        cache.put(kind, key, result.value, now)
        return result.value
    previous = cache.get(kind, key)
    if previous is not None and isinstance(previous.value, expected):
        stamp = previous.collected_at.isoformat(timespec="seconds")
        failure = SourceError(
            source=failure.source, message=f"{failure.message} (kept the last good data from {stamp})"
        )
        errors.append(failure)
        return previous.value  # type: ignore[return-value]  # isinstance-checked above
    errors.append(failure)
    return None


def build_snapshot(
    *,
    cluster: ClusterCollector | None = None,
    aws: AccountCollector | None = None,
    usage: UsageSource | None = None,
    traffic: TrafficSource | None = None,
    cache: SnapshotCache | None = None,
    account_key: str | None = None,
    usage_days: float = 14,
    usage_step_seconds: int = 300,
    now: datetime | None = None,
) -> Snapshot:
    """Collect every configured source into one Snapshot; never raises for a source failure."""
    cache = cache if cache is not None else SnapshotCache()
    now = now or datetime.now(UTC)
    errors: list[SourceError] = []

    cluster_state = None
    if cluster is not None:
        cluster_state = _collect(
            kind="cluster",
            key=cluster.cluster_name,
            source=cluster.source,
            fn=cluster.collect,
            expected=ClusterState,
            cache=cache,
            now=now,
            errors=errors,
        )
    account = None
    if aws is not None:
        key = account_key or f"aws:{aws.region}"
        account = _collect(
            kind="account",
            key=key,
            source=key,
            fn=aws.collect,
            expected=AccountState,
            cache=cache,
            now=now,
            errors=errors,
        )

    usage_rows: tuple[ContainerUsage, ...] = ()
    if usage is not None:
        # Align to the step so consecutive scans ask Prometheus for the same (cacheable) grid.
        end = datetime.fromtimestamp(now.timestamp() // usage_step_seconds * usage_step_seconds, UTC)
        start = end - timedelta(days=usage_days)

        def fetch_usage() -> Collected[tuple[ContainerUsage, ...]]:
            rows = usage.fetch(None, start, end, usage_step_seconds)
            return Collected(tuple(_with_workloads(rows, cluster_state)))

        usage_rows = (
            _collect(
                kind="usage",
                key=usage.name,
                source=usage.name,
                fn=fetch_usage,
                expected=tuple,
                cache=cache,
                now=now,
                errors=errors,
            )
            or ()
        )

    edges: tuple[TrafficEdge, ...] = ()
    if traffic is not None:

        def fetch_traffic() -> Collected[tuple[TrafficEdge, ...]]:
            return Collected(tuple(traffic.fetch()))

        edges = (
            _collect(
                kind="traffic",
                key=traffic.name,
                source=traffic.name,
                fn=fetch_traffic,
                expected=tuple,
                cache=cache,
                now=now,
                errors=errors,
            )
            or ()
        )

    return Snapshot(
        collected_at=now,
        cluster=cluster_state,
        account=account,
        usage=usage_rows,
        traffic=edges,
        errors=tuple(errors),
    )


def _with_workloads(rows: list[ContainerUsage], cluster: ClusterState | None) -> list[ContainerUsage]:
    """Fill workload kind/name from the live pods when the usage source does not know them."""
    if cluster is None:
        return rows
    owners = {(p.namespace, p.name): (p.owner_kind, p.owner_name) for p in cluster.pods if p.owner_kind}
    out = []
    for row in rows:
        owner = owners.get((row.namespace, row.pod))
        if row.workload_name is None and owner is not None:
            out.append(row.model_copy(update={"workload_kind": owner[0], "workload_name": owner[1]}))
        else:
            out.append(row)
    return out
