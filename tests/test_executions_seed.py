"""Rows the execution tests start from (no tests here): a registered cluster and stored recommendations,
written as a scan would store them, so the apply side is tested without running an engine."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db.models import Cluster
from app.db.states import RecStatus
from app.db.tables_recs import Recommendation
from engines.actions import ScaleReplicas


def scale_spec(name: str = "web", *, namespace: str = "shop", from_replicas: int = 3, to_replicas: int = 1) -> ScaleReplicas:
    return ScaleReplicas(namespace=namespace, workload_kind="Deployment", workload_name=name,
                         from_replicas=from_replicas, to_replicas=to_replicas)  # fmt: skip


def add_cluster(db: Engine, name: str = "prod", *, kubeconfig: str = "", context: str = "") -> int:
    with Session(db) as session:
        row = Cluster(name=name, region="us-east-1", context=context or name, kubeconfig_path=kubeconfig)
        session.add(row)
        session.commit()
        assert row.id is not None
        return row.id


def add_rec(db: Engine, fingerprint: str, spec: BaseModel | None = None, *, cluster_id: int | None = None,
            status: RecStatus = RecStatus.OPEN, savings: str = "70.08", target: str = "") -> str:
    spec = spec or scale_spec()
    action: dict[str, Any] = spec.model_dump(mode="json")
    with Session(db) as session:
        session.add(Recommendation(
            fingerprint=fingerprint, engine="rightsizing", cluster_id=cluster_id,
            target=target or f"deployment {action.get('namespace')}/{action.get('workload_name')}",
            action_kind=str(action["kind"]), action=action, current_monthly_cost=Decimal(savings),
            projected_monthly_cost=Decimal("0.00"), monthly_savings=Decimal(savings), status=status,
        ))  # fmt: skip
        session.commit()
    return fingerprint


def rec_status(db: Engine, fingerprint: str) -> str:
    with Session(db) as session:
        return session.exec(select(Recommendation.status).where(Recommendation.fingerprint == fingerprint)).one()
