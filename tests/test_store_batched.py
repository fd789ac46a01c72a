"""Storing a scan is batched: recommendations are looked up with a few IN queries, not one SELECT
each; node rows count pods in one pass; a scan with failed sources marks nothing obsolete."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import Session, select

from app.db import session_scope
from app.db.models import Cluster, Node
from app.db.states import RecStatus, ScanStatus
from app.db.tables_recs import Recommendation as RecRow
from app.db.types import utcnow
from app.pricing import load_price_book
from app.services.collect import store_snapshot
from app.services.rec_store import store_recommendations
from app.services.scans import scan_and_store
from engines.actions import DrainAndRemoveNode
from engines.contract import Recommendation
from engines.registry import default_registry
from engines.snapshot_aws import SourceError
from tests.framework.estate import wasteful_snapshot


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _cluster(engine: Engine) -> Cluster:
    with session_scope(engine) as s:
        row = Cluster(name="prod-east", region="us-east-1")
        s.add(row)
        s.flush()
        s.refresh(row)
        return row


def _recs(n: int) -> list[Recommendation]:
    return [
        Recommendation(engine="binpack", cluster="prod-east", target=f"node/n{i}", action=DrainAndRemoveNode(node=f"n{i}"),
                       current_monthly_cost=Decimal("70.08"), projected_monthly_cost=Decimal("0"), rationale="r")
        for i in range(n)
    ]  # fmt: skip


def test_storing_1200_recommendations_reads_them_back_with_a_handful_of_queries(engine: Engine) -> None:
    cid = _cluster(engine).id
    recs = _recs(1200)
    with session_scope(engine) as s:
        store_recommendations(s, "binpack", recs, cluster_id=cid, run_id=None, now=utcnow())
    with statements(engine) as seen, session_scope(engine) as s:
        counts = store_recommendations(s, "binpack", recs, cluster_id=cid, run_id=None, now=utcnow())
    selects = [q for q in seen if q.lstrip().upper().startswith("SELECT")]
    assert counts["updated"] == 1200 and counts["new"] == 0
    assert len(selects) <= 4, f"{len(selects)} SELECTs for 1200 recommendations"


def test_a_second_store_without_a_recommendation_marks_it_obsolete_and_a_later_one_reopens_it(engine: Engine) -> None:
    cid = _cluster(engine).id
    recs = _recs(3)
    with session_scope(engine) as s:
        store_recommendations(s, "binpack", recs, cluster_id=cid, run_id=None, now=utcnow())
    with session_scope(engine) as s:
        assert store_recommendations(s, "binpack", recs[:2], cluster_id=cid, run_id=None, now=utcnow())["obsoleted"] == 1
    with session_scope(engine) as s:
        assert store_recommendations(s, "binpack", recs, cluster_id=cid, run_id=None, now=utcnow())["reopened"] == 1
    with Session(engine) as s:
        assert {r.status for r in s.exec(select(RecRow))} == {RecStatus.OPEN}


def test_node_rows_count_each_nodes_pods_including_nodes_without_pods(engine: Engine) -> None:
    cluster = _cluster(engine)
    snapshot = wasteful_snapshot()
    assert snapshot.cluster is not None
    extra = snapshot.cluster.nodes[0].model_copy(update={"name": "idle", "instance_id": "i-idle"})
    state = snapshot.cluster.model_copy(update={"nodes": (*snapshot.cluster.nodes, extra)})
    store_snapshot(engine, cluster, snapshot.model_copy(update={"cluster": state}), load_price_book())
    with Session(engine) as s:
        pods = {n.name: n.pods for n in s.exec(select(Node))}
    assert pods == {"node-0": 1, "node-1": 1, "node-2": 1, "node-3": 1, "idle": 0}


def test_a_scan_with_a_failed_source_is_partial_and_marks_nothing_obsolete(engine: Engine) -> None:
    cid = _cluster(engine).id
    prices = load_price_book()
    scan_and_store(engine, wasteful_snapshot(), default_registry(), prices, cluster_id=cid)
    with Session(engine) as s:
        before = {r.fingerprint for r in s.exec(select(RecRow))}
    assert before
    # The same cluster, now with every pod gone (stale data) and the usage source failing.
    snap = wasteful_snapshot()
    assert snap.cluster is not None
    broken = snap.model_copy(update={
        "cluster": snap.cluster.model_copy(update={"pods": ()}),
        "errors": (SourceError(source="prometheus:http://p:9090", message="connection refused"),),
    })  # fmt: skip
    out = scan_and_store(engine, broken, default_registry(), prices, cluster_id=cid)
    with Session(engine) as s:
        rows = s.exec(select(RecRow).where(RecRow.fingerprint.in_(before))).all()  # type: ignore[attr-defined]
    assert out.status is ScanStatus.PARTIAL and out.error and "connection refused" in out.error
    assert {r.status for r in rows} == {RecStatus.OPEN}
