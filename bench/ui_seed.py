"""The database `python -m bench ui` measures: recommendations, executions and ledger rows written
directly with bulk INSERTs (no engines run), plus an analyst account to sign in with.

Called by bench/ui.py and tests/test_bench_ui.py. Shapes follow what the scans store: five
clusters with on-demand and Spot nodes; recommendations of every built-in engine with namespaces,
risks and statuses mixed, created over the period, every 50th one in a conflict pair with another
engine on the same node; the applied ones have a succeeded execution each (finished over the
period) and a ledger row measured after it. Costs are arbitrary bench figures, not prices.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

USER = "bench-analyst"
PASSWORD = "bench horse battery staple"
ENGINES = ("binpack", "rightsizing", "spot-optimizer", "ghost-probe", "ebs-cleanup", "cross-az", "office-hours",
           "oom-remediation")  # fmt: skip
RISKS = ("low", "low", "medium", "high")
NAMESPACES = ("shop", "payments", "search", "batch", "web", None)


def _rec(i: int, cluster_id: int, status: str, created: Any) -> dict[str, Any]:
    engine = ENGINES[i % len(ENGINES)]
    saving = Decimal(5 + (i * 37) % 400) + Decimal("0.25")
    namespace = NAMESPACES[i % len(NAMESPACES)]
    target = f"workload/{namespace}/app-{i}" if namespace else f"node/ip-10-{cluster_id}-{i % 250}"
    action: dict[str, Any] = ({"kind": "scale-replicas", "namespace": namespace, "workload_kind": "Deployment",
                               "workload_name": f"app-{i}", "from_replicas": 3, "to_replicas": 2}
                              if namespace else {"kind": "drain-and-remove-node", "node": target[5:], "moves": []})  # fmt: skip
    return {
        "fingerprint": f"bench-{i:06d}", "engine": engine, "cluster_id": cluster_id, "target": target,
        "action_kind": action["kind"], "action": action, "current_monthly_cost": saving + Decimal(20),
        "projected_monthly_cost": Decimal(20), "monthly_savings": saving, "risk": RISKS[i % len(RISKS)],
        "purpose": "saving", "confidence": 0.8, "rationale": f"Bench recommendation {i}.",
        "evidence": {"bench": True, "index": i}, "status": status, "depends_on": [], "related": [],
        "conflicts_with": [], "created_at": created, "updated_at": created, "last_seen_at": created,
        "namespace": namespace,
    }  # fmt: skip


def seed(data_dir: Path, *, recommendations: int = 10_000, executions: int = 1_000,
         ledger_days: int = 90) -> dict[str, int]:  # fmt: skip
    """Create the DB under `data_dir` (migrated) and fill it; return the row counts written."""
    from app.bootstrap import open_database
    from app.db.models import Cluster, Node
    from app.db.tables_recs import CostSaving, Execution, Recommendation
    from app.db.types import utcnow
    from app.services.users import add_user
    from app.settings import load_settings

    db = open_database(load_settings(data_dir=data_dir))
    now = utcnow()
    span = timedelta(days=ledger_days)
    with Session(db) as session:
        clusters = [Cluster(name=f"bench-{c}", region="us-east-1", monthly_cost=Decimal("12000.00"), last_scan_at=now)
                    for c in range(5)]  # fmt: skip
        session.add_all(clusters)
        session.flush()
        ids = [c.id for c in clusters if c.id is not None]
        session.execute(insert(Node), [
            {"cluster_id": cid, "name": f"ip-10-{cid}-{n}", "instance_type": "m5.xlarge",
             "capacity_type": "spot" if n % 4 == 0 else "on-demand",
             "monthly_cost": Decimal("56.06") if n % 4 == 0 else Decimal("140.16")}
            for cid in ids for n in range(40)
        ])  # fmt: skip
        rows = []
        for i in range(recommendations):
            status = "applied" if i < executions else ("dismissed" if i % 20 == 1 else
                                                        "obsolete" if i % 20 == 2 else "open")  # fmt: skip
            rows.append(_rec(i, ids[i % len(ids)], status, now - span * ((i * 7919) % 1000) / 1000))
        for i in range(executions, recommendations - 1, 50):  # conflict pairs: another engine, the same node
            a, b = rows[i], rows[i + 1]
            b.update(target=a["target"], cluster_id=a["cluster_id"], namespace=a["namespace"], engine="spot-optimizer"
                     if a["engine"] != "spot-optimizer" else "binpack")  # fmt: skip
            a["conflicts_with"], b["conflicts_with"] = [b["fingerprint"]], [a["fingerprint"]]
        session.execute(insert(Recommendation), rows)
        # Five columns: beyond sqlmodel.select's typed overloads, so plain SQLAlchemy Core.
        applied = session.execute(sa_select(col(Recommendation.id), col(Recommendation.fingerprint),
                                            col(Recommendation.engine), col(Recommendation.cluster_id),
                                            col(Recommendation.monthly_savings))
                                  .where(col(Recommendation.status) == "applied")).all()  # fmt: skip
        finished = [now - span * ((k * 6151) % 1000) / 1000 for k in range(len(applied))]
        session.execute(insert(Execution), [
            {"recommendation_id": rid, "cluster_id": cid, "cluster_name": f"bench-{ids.index(cid)}",
             "fingerprint": fp, "target": "bench", "kind": "apply", "action_kind": "scale-replicas", "action": {},
             "state": "succeeded", "requested_by": USER, "approved_by": USER, "approved_at": at, "dry_run": False,
             "pre_image": {}, "plan": {}, "result": {}, "steps": [], "created_at": at, "started_at": at,
             "finished_at": at, "attempts": 1}
            for (rid, fp, _engine, cid, _saving), at in zip(applied, finished, strict=True)
        ])  # fmt: skip
        done = session.exec(select(Execution.id, Execution.fingerprint, Execution.finished_at)).all()
        by_fp = {fp: (engine, cid, saving) for _rid, fp, engine, cid, saving in applied}
        session.execute(insert(CostSaving), [
            {"execution_id": eid, "cluster_id": by_fp[fp][1], "cluster_name": "", "engine": by_fp[fp][0],
             "expected_monthly_savings": by_fp[fp][2], "realized_monthly_savings": by_fp[fp][2] * Decimal("0.9"),
             "period_start": at, "measured_at": min(now, (at or now) + timedelta(days=1)), "notes": "bench"}
            for eid, fp, at in done
        ])  # fmt: skip
        session.commit()
    add_user(db, USER, "analyst", PASSWORD, actor="bench")
    db.dispose()
    return {"recommendations": recommendations, "executions": len(applied), "ledger_rows": len(done),
            "days": ledger_days}  # fmt: skip
