"""Worker jobs survive broken sources: the failure is recorded on the cluster and the scan run,
the last good snapshot (also after a restart) is used, and requested scans are picked up."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.collectors.snapshot import SnapshotCache
from app.db.models import Cluster, StoredSnapshot
from app.db.tables_recs import ScanRun
from app.pricing import load_price_book
from app.services.clusters import register_cluster
from app.services.collect import collect_cluster
from app.services.scans import request_scan
from app.settings import Settings
from background.jobs import JobContext, run_requested_scans, scan_all_clusters
from sandbox.k8s_emulator import LocalKubernetes
from sandbox.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    with Sandbox(tmp_path_factory.mktemp("sb")) as sb:
        yield sb  # type: ignore[misc]


@pytest.fixture
def aws_env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in sandbox.aws_env.items():
        monkeypatch.setenv(key, value)


def test_a_cluster_with_a_missing_context_is_recorded_and_the_job_carries_on(
    engine: Engine, settings: Settings, tmp_path: Path, aws_env: None
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    with LocalKubernetes() as kube:
        kube.write_kubeconfig(kubeconfig, context="real")
    register_cluster(engine, name="ghost", context="does-not-exist", region="us-east-1", kubeconfig=str(kubeconfig))
    scan_all_clusters(JobContext(settings, engine))  # must not raise
    with Session(engine) as s:
        cluster = s.exec(select(Cluster)).one()
        run = s.exec(select(ScanRun)).one()
    assert cluster.last_error and "does-not-exist" in cluster.last_error and "real" in cluster.last_error
    assert run.status == "succeeded"  # the engines ran on what could be collected (nothing)


def test_after_a_restart_the_stored_snapshot_stands_in_for_an_unreachable_cluster(
    engine: Engine, settings: Settings, sandbox: Sandbox, aws_env: None
) -> None:
    cluster = register_cluster(engine, name="prod-east", context="prod-east", region="us-east-1",
                               kubeconfig=str(sandbox.kubeconfig_path))  # fmt: skip
    prices = load_price_book()
    first = collect_cluster(engine, settings, cluster, prices, SnapshotCache())
    assert first.cluster is not None and not first.errors
    # The API server "goes away": point the cluster at a kubeconfig whose server is closed.
    dead = Path(str(sandbox.kubeconfig_path) + ".dead")
    with LocalKubernetes() as kube:
        kube.write_kubeconfig(dead, context="prod-east")
    cluster = register_cluster(engine, name="prod-east", context="prod-east", region="us-east-1", kubeconfig=str(dead))
    second = collect_cluster(engine, settings, cluster, prices, SnapshotCache())  # fresh cache = restarted worker
    assert second.cluster is not None and len(second.cluster.nodes) == len(first.cluster.nodes)
    assert any("kept the last good data" in e.message for e in second.errors)
    with Session(engine) as s:
        assert len(s.exec(select(StoredSnapshot)).all()) == 1
        assert s.exec(select(Cluster)).one().last_error


def test_a_scan_requested_from_the_ui_is_run_by_the_worker(
    engine: Engine, settings: Settings, sandbox: Sandbox, aws_env: None
) -> None:
    cluster = register_cluster(engine, name="staging-east", context="staging-east", region="us-east-1",
                               kubeconfig=str(sandbox.kubeconfig_path))  # fmt: skip
    run_id = request_scan(engine, cluster.id)
    run_requested_scans(JobContext(settings, engine))
    with Session(engine) as s:
        run = s.get_one(ScanRun, run_id)
        row = s.get_one(Cluster, cluster.id)
    assert run.status == "succeeded" and run.counts and run.trigger == "ui"
    assert row.last_scan_at is not None and row.monthly_cost and row.account_id == "123456789012"
