"""The termination history on SQLite and PostgreSQL: what is stored, dedupe across scans, the
window read back oldest first with owners filled, and the round trip into the OOM engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, select

from app.db import session_scope
from app.db.models import Cluster, PodEvent
from app.services.pod_events import record_terminations, termination_history
from engines.snapshot import ClusterState, Container, KubeEvent, Pod

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def container(name: str = "app", reason: str | None = "OOMKilled", at: datetime | None = T0, restarts: int = 3,
              code: int | None = 137) -> Container:
    return Container(name=name, memory_limit=512 * 2**20, restart_count=restarts, last_termination_reason=reason,
                     last_termination_exit_code=code, last_termination_at=at)


def pod(name: str, *containers: Container, owner: tuple[str, str] | None = ("Deployment", "web")) -> Pod:
    return Pod(name=name, namespace="shop", owner_kind=owner[0] if owner else None,
               owner_name=owner[1] if owner else None, controller_kind="ReplicaSet" if owner else None,
               controller_name="web-7d9f8b6c4" if owner else None, containers=containers)


def state(*pods: Pod, events: tuple[KubeEvent, ...] = ()) -> ClusterState:
    return ClusterState(name="prod-east", region="us-east-1", pods=pods, events=events)


@pytest.fixture
def cluster_id(engine: Engine) -> int:
    with session_scope(engine) as session:
        row = Cluster(name="prod-east", region="us-east-1")
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def record(engine: Engine, cid: int, st: ClusterState) -> int:
    with session_scope(engine) as session:
        return record_terminations(session, cid, st)


def rows(engine: Engine) -> list[PodEvent]:
    with Session(engine) as session:
        return list(session.exec(select(PodEvent).order_by(PodEvent.occurred_at, PodEvent.id)))  # type: ignore[arg-type]


def test_oom_kills_failures_and_oom_events_are_stored_but_clean_exits_are_not(engine: Engine, cluster_id: int) -> None:
    evicted = KubeEvent(namespace="shop", involved_kind="Pod", involved_name="web-7d9f8b6c4-b", reason="Evicted",
                        message="The node was low on resource: memory.", last_seen=T0 + HOUR)
    node_oom = KubeEvent(namespace="", involved_kind="Node", involved_name="ip-10-0-1-10", reason="SystemOOM",
                         last_seen=T0)
    st = state(pod("web-7d9f8b6c4-a", container(), container("sidecar", "Completed", code=0)),
               pod("web-7d9f8b6c4-c", container(reason="Error", code=1, at=T0 - HOUR)),
               pod("web-7d9f8b6c4-d", container(reason=None, at=None)),
               events=(evicted, node_oom))
    assert record(engine, cluster_id, st) == 3
    got = [(r.pod, r.container, r.reason, r.message, r.restart_count, r.occurred_at) for r in rows(engine)]
    assert got == [("web-7d9f8b6c4-c", "app", "Error", "exit code 1", 3, T0 - HOUR),
                   ("web-7d9f8b6c4-a", "app", "OOMKilled", "exit code 137", 3, T0),
                   ("web-7d9f8b6c4-b", None, "Evicted", "The node was low on resource: memory.", 0, T0 + HOUR)]


def test_a_later_scan_adds_only_the_new_kill(engine: Engine, cluster_id: int) -> None:
    assert record(engine, cluster_id, state(pod("web-7d9f8b6c4-a", container()))) == 1
    assert record(engine, cluster_id, state(pod("web-7d9f8b6c4-a", container()))) == 0
    later = state(pod("web-7d9f8b6c4-a", container(at=T0 + 5 * HOUR, restarts=4)))
    assert record(engine, cluster_id, later) == 1
    assert [r.restart_count for r in rows(engine)] == [3, 4]


def test_the_same_termination_twice_in_one_scan_is_stored_once(engine: Engine, cluster_id: int) -> None:
    again = KubeEvent(namespace="shop", involved_kind="Pod", involved_name="p", reason="OOMKilling", last_seen=T0)
    assert record(engine, cluster_id, state(events=(again, again))) == 1


def test_another_cluster_does_not_dedupe_against_this_one(engine: Engine, cluster_id: int) -> None:
    with session_scope(engine) as session:
        other = Cluster(name="prod-west", region="us-west-2")
        session.add(other)
        session.flush()
        other_id = other.id
    assert other_id is not None
    st = state(pod("web-7d9f8b6c4-a", container()))
    assert record(engine, cluster_id, st) == 1 and record(engine, other_id, st) == 1


def test_the_existing_keys_are_read_with_one_select_and_written_with_one_insert(engine: Engine, cluster_id: int) -> None:
    many = state(*(pod(f"web-7d9f8b6c4-{i}", container(at=T0 + i * HOUR)) for i in range(40)))
    record(engine, cluster_id, many)
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement.split(maxsplit=1)[0].upper())

    more = state(*(pod(f"web-7d9f8b6c4-{i}", container(at=T0 + i * HOUR)) for i in range(80)))
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert record(engine, cluster_id, more) == 40
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert statements.count("SELECT") == 1 and statements.count("INSERT") == 1


def test_the_history_is_oldest_first_in_the_window_with_owners_from_the_current_pods(engine: Engine,
                                                                                     cluster_id: int) -> None:
    record(engine, cluster_id, state(pod("web-7d9f8b6c4-a", container(at=T0 - 30 * 24 * HOUR))))
    record(engine, cluster_id, state(pod("web-7d9f8b6c4-a", container(at=T0 + 2 * HOUR)),
                                     pod("web-7d9f8b6c4-gone", container(at=T0)),
                                     pod("debug", container(at=T0 + HOUR), owner=None)))
    current = [pod("web-7d9f8b6c4-a", container())]  # the -gone pod was replaced since
    with Session(engine) as session:
        history = termination_history(session, cluster_id, T0 - 24 * HOUR, pods=current)
    assert [(h.pod, h.owner_kind, h.owner_name, h.exit_code) for h in history] == [
        ("web-7d9f8b6c4-gone", "Deployment", "web", 137),  # owner from its ReplicaSet's name
        ("debug", None, None, 137),
        ("web-7d9f8b6c4-a", "Deployment", "web", 137)]
    assert all(h.occurred_at.tzinfo is not None for h in history)


def test_a_naive_window_start_is_refused(engine: Engine, cluster_id: int) -> None:
    with Session(engine) as session, pytest.raises(ValueError, match="timezone-aware"):
        termination_history(session, cluster_id, datetime(2026, 11, 1))


def test_the_history_feeds_the_engine_a_kill_count_the_pod_alone_cannot_show(engine: Engine, cluster_id: int) -> None:
    from app.pricing import load_price_book
    from engines.contract import ScanContext
    from engines.oom import OomRemediationEngine, OomRemediationSettings
    from engines.snapshot import Node, Resources
    from engines.snapshot_aws import Snapshot

    for i in range(3):
        record(engine, cluster_id, state(pod("web-7d9f8b6c4-a", container(at=T0 + i * HOUR, restarts=i + 1))))
    live = pod("web-7d9f8b6c4-a", container(at=T0 + 2 * HOUR, restarts=3)).model_copy(update={"node_name": "n1"})
    with Session(engine) as session:
        history = termination_history(session, cluster_id, T0 - 24 * HOUR, pods=[live])
    node = Node(name="n1", instance_type="m5.large", region="us-east-1", capacity=Resources(cpu=2, memory=8 * 2**30))
    snap = Snapshot(collected_at=T0 + 3 * HOUR, cluster=state(live).model_copy(
        update={"nodes": (node,), "terminations": history}))
    ctx = ScanContext(prices=load_price_book(), now=T0 + 3 * HOUR, settings=OomRemediationSettings())
    rec = OomRemediationEngine().scan(snap, ctx).recommendations[0]
    assert rec.evidence["oom_kills"] == 3


def test_naive_times_are_stored_as_utc_and_event_rows_read_back_without_a_container(engine: Engine,
                                                                                     cluster_id: int) -> None:
    naive = T0.replace(tzinfo=None)
    evicted = KubeEvent(namespace="shop", involved_kind="Pod", involved_name="web-7d9f8b6c4-a", reason="Evicted",
                        last_seen=naive + HOUR)
    assert record(engine, cluster_id, state(pod("web-7d9f8b6c4-a", container(at=naive)), events=(evicted,))) == 2
    assert record(engine, cluster_id, state(pod("web-7d9f8b6c4-a", container(at=T0)))) == 0
    with Session(engine) as session:
        history = termination_history(session, cluster_id, T0 - HOUR)
    assert [(h.reason, h.container, h.occurred_at, h.owner_kind) for h in history] == [
        ("OOMKilled", "app", T0, None), ("Evicted", "", T0 + HOUR, None)]
