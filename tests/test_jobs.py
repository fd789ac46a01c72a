"""Worker jobs survive broken sources: the failure is recorded on the cluster and the scan run,
the last good snapshot (also after a restart) is used, and requested scans are picked up."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.collectors.snapshot import SnapshotCache
from app.db.models import Cluster, StoredSnapshot
from app.db.states import ScanStatus, ScanTrigger
from app.db.tables_recs import ScanRun
from app.pricing import load_price_book
from app.services.clusters import register_cluster
from app.services.collect import collect_cluster
from app.services.scan_requests import recover_interrupted, request_scan
from app.settings import Settings
from background.jobs import JobContext, first_scheduled_scan, run_requested_scans, scan_all_clusters
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
    register_cluster(engine, name="ghost", context="does-not-exist", region="us-east-1", kubeconfig=str(kubeconfig),
                     check_context=False)  # fmt: skip
    scan_all_clusters(JobContext(settings, engine))  # must not raise
    with Session(engine) as s:
        cluster = s.exec(select(Cluster)).one()
        run = s.exec(select(ScanRun)).one()
    assert cluster.last_error and "does-not-exist" in cluster.last_error and "real" in cluster.last_error
    # The AWS account answered, the cluster did not: the engines ran, but the scan says so.
    assert run.status == ScanStatus.PARTIAL and run.error and "does-not-exist" in run.error


def test_a_scan_whose_every_source_failed_ends_failed_and_marks_nothing_obsolete(
    engine: Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    with LocalKubernetes() as kube:
        kube.write_kubeconfig(kubeconfig, context="gone")  # the server is stopped when the block ends
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    register_cluster(engine, name="dark", context="gone", region="us-east-1", kubeconfig=str(kubeconfig))
    (done,) = scan_all_clusters(JobContext(settings, engine))
    with Session(engine) as s:
        run = s.exec(select(ScanRun)).one()
    assert done.status == run.status == ScanStatus.FAILED
    assert run.error and run.error.startswith("every source failed") and "kubernetes" in run.error
    assert run.collect_s is not None and run.finished_at is not None


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
    cluster = register_cluster(engine, name="prod-east", context="prod-east", region="us-east-1", kubeconfig=str(dead),
                               replace=True)  # fmt: skip
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
    request = request_scan(engine, cluster.id)
    (run_id,) = request.queued
    run_requested_scans(JobContext(settings, engine))
    with Session(engine) as s:
        run = s.get_one(ScanRun, run_id)
        row = s.get_one(Cluster, cluster.id)
    assert run.status == ScanStatus.SUCCEEDED and run.counts and run.trigger == ScanTrigger.UI
    assert run.collect_s is not None and run.collect_s > 0 and run.engine_s is not None
    assert run.duration_s is not None and run.duration_s >= run.collect_s + run.engine_s
    assert row.last_scan_at is not None and row.monthly_cost and row.account_id == "123456789012"


def test_three_clicks_on_scan_all_queue_one_scan_per_cluster(engine: Engine, sandbox: Sandbox) -> None:
    for name in ("prod-east", "staging-east"):
        register_cluster(engine, name=name, context=name, region="us-east-1", kubeconfig=str(sandbox.kubeconfig_path))
    first = request_scan(engine, None)
    again = [request_scan(engine, None) for _ in range(2)]
    assert len(first.queued) == 2 and first.already_pending == []
    assert all(r.queued == [] and sorted(r.already_pending) == sorted(first.queued) for r in again)
    with Session(engine) as s:
        runs = s.exec(select(ScanRun)).all()
    assert len(runs) == 2 and {r.cluster_id for r in runs} == {c.id for c in s.exec(select(Cluster))}


def test_on_start_up_scans_left_running_by_a_dead_worker_become_failed(engine: Engine) -> None:
    from datetime import timedelta

    from app.db import session_scope
    from app.db.types import utcnow

    with session_scope(engine) as s:
        s.add(ScanRun(trigger=ScanTrigger.UI, status=ScanStatus.RUNNING))
        s.add(ScanRun(trigger=ScanTrigger.CLI, status=ScanStatus.RUNNING))  # a `cloudoptim scan` running now
        s.add(ScanRun(trigger=ScanTrigger.CLI, status=ScanStatus.RUNNING, started_at=utcnow() - timedelta(hours=3)))
    assert recover_interrupted(engine) == 2
    with Session(engine) as s:
        states = sorted((r.trigger, r.status, r.error or "") for r in s.exec(select(ScanRun)))
    assert [st for _, st, _ in states].count(ScanStatus.FAILED) == 2
    assert ("cli", ScanStatus.RUNNING, "") in states
    assert all("worker stopped" in err for _, st, err in states if st == ScanStatus.FAILED)


def test_the_first_scheduled_scan_waits_an_interval_after_a_fresh_scan_of_every_cluster(
    engine: Engine, sandbox: Sandbox
) -> None:
    from datetime import timedelta

    from app.db import session_scope
    from app.db.types import utcnow

    now = utcnow()
    interval = timedelta(minutes=60)
    assert first_scheduled_scan(engine, interval, now) == now  # no cluster yet
    cluster = register_cluster(engine, name="prod-east", context="prod-east", region="us-east-1",
                               kubeconfig=str(sandbox.kubeconfig_path))  # fmt: skip
    assert first_scheduled_scan(engine, interval, now) == now  # never scanned
    with session_scope(engine) as s:
        row = s.get_one(Cluster, cluster.id)
        row.last_scan_at = now - timedelta(minutes=5)
        s.add(row)
    assert first_scheduled_scan(engine, interval, now) == now + timedelta(minutes=55)


def test_the_scan_thread_runs_its_after_scan_step_after_a_pass_that_scanned_and_survives_its_failure(
    engine: Engine, settings: Settings, tmp_path: Path, aws_env: None
) -> None:
    from background.scan_runner import ScanRunner
    from tests.waiting import wait_until

    kubeconfig = tmp_path / "kubeconfig"
    with LocalKubernetes() as kube:
        kube.write_kubeconfig(kubeconfig, context="real")
    register_cluster(engine, name="ghost", context="does-not-exist", region="us-east-1", kubeconfig=str(kubeconfig),
                     check_context=False)  # fmt: skip
    calls: list[int] = []

    def after() -> None:
        calls.append(len(calls))
        raise RuntimeError("the ledger is briefly unreachable")

    runner = ScanRunner(JobContext(settings, engine), poll_interval_s=0.05, after_scans=after)
    runner.start()
    try:
        runner.poke()  # nothing requested: no scan, so no after-scan step
        runner.schedule_all()
        wait_until(lambda: calls == [0], timeout=60)
        runner.schedule_all()  # the failing step did not stop the thread
        wait_until(lambda: calls == [0, 1], timeout=60)
    finally:
        assert runner.stop(timeout=30)
