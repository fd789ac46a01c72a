"""Store benchmark: writing one collected cluster and its recommendations to the database.

`python -m bench scan --only store [--quick]`. A generated cluster (real m5.xlarge nodes sized like
EKS nodes, 5,000 nodes / 100,000 pods; 500 / 10,000 with --quick) goes through the product's own
`store_snapshot` (node rows, cost, the stored snapshot) and `store_recommendations` (one
recommendation per node, stored once as new and once more as an update) on a fresh SQLite file.
Baselines measured in the same run: the floor (the same node rows and snapshot JSON, serialized
the same fast way, written with sqlite3 `executemany`, nothing else), and the implementations
this replaced (pods counted per node by scanning every pod, one SELECT and one ORM object per stored
recommendation).
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from app.db import make_engine, session_scope, upgrade
from app.db.models import Cluster
from app.db.tables_recs import Recommendation as RecRow
from app.db.types import utcnow
from app.pricing import load_price_book
from app.services.collect import node_rows, store_snapshot
from app.services.rec_store import store_recommendations
from bench.scenarios import generated
from engines.actions import DrainAndRemoveNode
from engines.contract import Recommendation
from engines.snapshot import ClusterState
from engines.snapshot_aws import Snapshot

OLD_COUNT_SAMPLE = 100  # nodes the quadratic count is timed on; the total is extrapolated


def _recs(state: ClusterState) -> list[Recommendation]:
    return [
        Recommendation(
            engine="binpack", cluster=state.name, target=f"node/{n.name}", action=DrainAndRemoveNode(node=n.name),
            current_monthly_cost=Decimal("140.16"), projected_monthly_cost=Decimal("0.00"),
            rationale="bench", evidence={"node": n.name, "pods_moved": 3},
        )  # fmt: skip
        for n in state.nodes
    ]


def _floor(path: Path, rows: list[dict[str, Any]], blob: str) -> float:
    """The same bytes written with no ORM, no cost model and no checks."""
    started = time.perf_counter()
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE n (cluster_id, name, instance_type, zone, cpu, mem, pods, hourly)")
    con.execute("CREATE TABLE s (cluster_id, data)")
    con.executemany("INSERT INTO n VALUES (?,?,?,?,?,?,?,?)", [
        (r["cluster_id"], r["name"], r["instance_type"], r["zone"], r["cpu_cores"], r["memory_bytes"], r["pods"],
         str(r["hourly_cost"])) for r in rows
    ])  # fmt: skip
    con.execute("INSERT INTO s VALUES (?, ?)", (1, blob))
    con.commit()
    con.close()
    return time.perf_counter() - started


def _old_count_seconds(state: ClusterState) -> float:
    """Time of the replaced per-node scan over every pod, extrapolated from a sample of nodes."""
    sample = state.nodes[:OLD_COUNT_SAMPLE]
    started = time.perf_counter()
    for node in sample:
        sum(1 for p in state.pods if p.node_name == node.name)
    return (time.perf_counter() - started) * len(state.nodes) / max(1, len(sample))


def _old_store(session: Session, recs: list[Recommendation], cid: int) -> None:
    """The replaced implementation, kept here as the baseline: one SELECT and one ORM object per row."""
    now = utcnow()
    for rec in recs:
        row = session.exec(select(RecRow).where(RecRow.fingerprint == rec.fingerprint)).first()
        if row is None:
            row = RecRow(fingerprint=rec.fingerprint, engine=rec.engine, cluster_id=cid, created_at=now,
                         current_monthly_cost=rec.current_monthly_cost,
                         projected_monthly_cost=rec.projected_monthly_cost, monthly_savings=rec.monthly_savings,
                         target=rec.target, action_kind=rec.action.kind)  # fmt: skip
        row.action = rec.action.model_dump(mode="json")
        row.evidence = rec.model_dump(mode="json")["evidence"]
        row.rationale, row.updated_at, row.last_seen_at = rec.rationale, now, now
        session.add(row)


def _old_rec_store_seconds(tmp: str, recs: list[Recommendation]) -> tuple[float, float]:
    """Insert and update times of the replaced store on its own fresh database."""
    db = make_engine(f"sqlite:///{tmp}/old.db")
    upgrade(db)
    with session_scope(db) as session:
        row = Cluster(name="old", region="us-east-1")
        session.add(row)
        session.flush()
        cid = row.id
    assert cid is not None
    times = []
    for _ in range(2):
        started = time.perf_counter()
        with session_scope(db) as session:
            _old_store(session, recs, cid)
        times.append(time.perf_counter() - started)
    db.dispose()
    return times[0], times[1]


def run(quick: bool) -> list[dict[str, Any]]:
    prices = load_price_book()
    n_nodes, n_pods = (500, 10_000) if quick else (5_000, 100_000)
    scenario = generated(f"store-{n_nodes}n", n_nodes, n_pods, [("m5.xlarge", 1.0)], prices, seed=7)
    state = scenario.cluster
    snapshot = Snapshot(collected_at=utcnow(), cluster=state)
    recs = _recs(state)
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        db = make_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(db)
        with session_scope(db) as session:
            row = Cluster(name="bench", region="us-east-1")
            session.add(row)
            session.flush()
            cid = row.id
        assert cid is not None
        started = time.perf_counter()
        store_snapshot(db, row, snapshot, prices)
        store_s = time.perf_counter() - started
        started = time.perf_counter()
        blob = snapshot.model_dump_json(exclude={"usage"})
        rows = node_rows(cid, state, prices)
        prepare_s = time.perf_counter() - started
        floor_s = _floor(Path(tmp) / "floor.db", rows, blob) + prepare_s
        timings = {}
        for label in ("insert", "update"):
            started = time.perf_counter()
            with session_scope(db) as session:
                store_recommendations(session, "binpack", recs, cluster_id=cid, run_id=None, now=utcnow())
            timings[label] = time.perf_counter() - started
        db.dispose()
        old_insert_s, old_update_s = _old_rec_store_seconds(tmp, recs)
    old_count_s = _old_count_seconds(state)
    return [
        {
            "scenario": f"store-snapshot-{n_nodes}n-{n_pods}p", "seconds": round(store_s, 3),
            "floor_seconds": round(floor_s, 3), "ratio_to_floor": round(store_s / floor_s, 2),
            "replaced_pod_count_seconds": round(old_count_s, 2),
        },
        {
            "scenario": f"store-recommendations-{len(recs)}", "seconds": round(timings["insert"], 3),
            "update_seconds": round(timings["update"], 3),
            "replaced_seconds": round(old_insert_s, 3), "replaced_update_seconds": round(old_update_s, 3),
            "ratio_to_replaced": round(timings["insert"] / old_insert_s, 2),
            "ratio_update_to_replaced": round(timings["update"] / old_update_s, 2),
        },
    ]  # fmt: skip
