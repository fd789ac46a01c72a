"""The realized-savings job on SQLite and PostgreSQL: after a real consolidation against the local
Kubernetes API and local AWS (moto), the next scan shows the node and its instance gone, and the
ledger row records the node's price as realized with a note saying how; before that scan it says
"not measured yet"; a rolled-back row is left alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.collectors.snapshot import SnapshotCache
from app.db.models import Cluster
from app.db.states import ExecutionState
from app.db.tables_recs import CostSaving, Execution
from app.db.types import utcnow
from app.pricing import load_price_book
from app.services import executions as svc
from app.services.collect import collect_cluster
from app.services.realized_savings import check_realized_savings
from app.settings import Settings
from background.execution_runner import ExecutionRunner
from engines.actions import DrainAndRemoveNode, PodMove
from sandbox.aws import LocalAws
from sandbox.k8s_emulator import LocalKubernetes
from tests.executor.k8s_objects import node, workload
from tests.test_executions_seed import add_cluster, add_rec
from tests.waiting import wait_until

FP = "realized0123456789abcdef"


@pytest.fixture(scope="module")
def local_aws() -> Iterator[LocalAws]:
    with LocalAws() as aws:
        yield aws


@pytest.fixture
def aws_env(local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> LocalAws:
    local_aws.reset()
    for key, value in local_aws.env().items():
        monkeypatch.setenv(key, value)
    return local_aws


def ec2_node(name: str, instance_id: str) -> dict[str, Any]:
    """A Node as EKS registers it: providerID and the well-known instance-type label."""
    obj = node(name, instance_id=instance_id)
    obj["metadata"]["labels"]["node.kubernetes.io/instance-type"] = "m5.large"
    return obj


def ledger(engine: Engine) -> CostSaving:
    with Session(engine) as s:
        return s.exec(select(CostSaving)).one()


def scan(engine: Engine, settings: Settings, cluster_id: int) -> None:
    with Session(engine) as s:
        cluster = s.get_one(Cluster, cluster_id)
    snapshot = collect_cluster(engine, settings, cluster, load_price_book(), SnapshotCache())
    assert not snapshot.errors, snapshot.errors


def test_the_realized_saving_of_a_consolidation_is_the_removed_nodes_price_once_a_later_scan_shows_it_gone(
    engine: Engine, settings: Settings, aws_env: LocalAws, tmp_path: Path
) -> None:
    ec2 = aws_env.client("ec2")
    ids = [i["InstanceId"] for i in ec2.run_instances(ImageId="ami-12345678", InstanceType="m5.large", MinCount=2,
                                                       MaxCount=2)["Instances"]]  # fmt: skip
    with LocalKubernetes(reconcile_interval=0.1, node_join_delay=0.3) as k8s:
        k8s.put_many([ec2_node("node-a", ids[0]), workload("Deployment", "web", 3, namespace="shop")])
        pods = wait_until(lambda: three if len(three := running_on(k8s, "node-a")) == 3 else [])
        k8s.put(ec2_node("node-b", ids[1]))
        cid = add_cluster(engine, "prod", kubeconfig=str(k8s.write_kubeconfig(tmp_path / "kubeconfig", "prod")))
        spec = DrainAndRemoveNode(
            node="node-a",
            instance_id=ids[0],
            moves=tuple(PodMove(namespace="shop", pod=p, to_node="node-b") for p in pods),
        )
        add_rec(engine, FP, spec, cluster_id=cid, savings="70.08", target="node node-a")
        scan(engine, settings, cid)  # the scan that made the recommendation: before the apply

        runner = ExecutionRunner(settings, engine, owner="test-host:1")
        queued = svc.queue_execution(engine, FP, requested_by="ana").execution
        (done,) = runner.run_pending()
        assert done.id == queued.id and done.state is ExecutionState.SUCCEEDED, done.reason

        assert check_realized_savings(settings, engine) == 0  # no scan since the consolidation
        row = ledger(engine)
        assert row.realized_monthly_savings is None and row.expected_monthly_savings == Decimal("70.08")
        assert row.notes.startswith(f"applied by execution {done.id}; not measured yet: no scan since execution")

        scan(engine, settings, cid)
        assert check_realized_savings(settings, engine) == 1
        row = ledger(engine)
        assert row.realized_monthly_savings == Decimal("70.08")
        assert f"node node-a (m5.large on-demand, $0.096/h) is gone and instance {ids[0]} no longer runs; its pods " \
               "run on nodes that were already there: saves $70.08/month" in row.notes  # fmt: skip
        measured_at = row.measured_at

        assert check_realized_savings(settings, engine) == 0  # no newer scan: the measurement stands
        assert ledger(engine).measured_at == measured_at and ledger(engine).notes == row.notes


def running_on(k8s: LocalKubernetes, node_name: str) -> list[str]:
    import kubernetes.client

    core: Any = kubernetes.client.CoreV1Api(k8s.api_client())
    return sorted(p.metadata.name for p in core.list_namespaced_pod("shop").items
                  if p.spec.node_name == node_name and p.status.phase == "Running")  # fmt: skip


def test_a_rolled_back_or_unmeasurable_row_keeps_its_own_note(engine: Engine, settings: Settings) -> None:
    cid = add_cluster(engine, "prod")
    now = utcnow()
    with Session(engine) as s:
        closed = Execution(
            cluster_id=cid,
            cluster_name="prod",
            action_kind="scale-replicas",
            state=ExecutionState.ROLLED_BACK,
            started_at=now,
            finished_at=now,
        )
        gone = Execution(cluster_id=None, cluster_name="old", action_kind="scale-replicas",
                         state=ExecutionState.SUCCEEDED, started_at=now, finished_at=now)  # fmt: skip
        s.add_all([closed, gone])
        s.flush()
        s.add_all([
            CostSaving(execution_id=closed.id, cluster_id=cid, engine="rightsizing", expected_monthly_savings=Decimal(5),
                       period_start=now, period_end=now + timedelta(minutes=5), notes="rolled back by execution 9"),
            CostSaving(execution_id=gone.id, cluster_id=None, cluster_name="old", engine="rightsizing",
                       expected_monthly_savings=Decimal(5), period_start=now, notes=f"applied by execution {gone.id}"),
        ])  # fmt: skip
        s.commit()
        closed_id, gone_id = closed.id, gone.id
    assert check_realized_savings(settings, engine) == 0
    with Session(engine) as s:
        notes = {r.execution_id: r.notes for r in s.exec(select(CostSaving))}
    assert notes[closed_id] == "rolled back by execution 9"
    assert notes[gone_id] == f"applied by execution {gone_id}; not measured: the cluster is no longer registered"
