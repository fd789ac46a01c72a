"""The worker as a real process on a real database and sandbox: it fails the scans a dead worker
left running, runs scans the UI requested through the one pipeline, and its log stays quiet
(no APScheduler "maximum number of running instances" while a scan runs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db import session_scope
from app.db.states import ScanStatus, ScanTrigger
from app.db.tables_recs import ScanRun
from app.services.clusters import register_cluster
from app.services.scan_requests import request_scan
from sandbox.sandbox import Sandbox
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("sb")) as sb:
        yield sb


def _run(engine: Engine, run_id: int) -> ScanRun:
    with Session(engine) as s:
        return s.get_one(ScanRun, run_id)


def test_the_worker_fails_abandoned_scans_then_runs_a_requested_scan_quietly(
    engine: Engine, sandbox: Sandbox, tmp_path: Path
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("one process test is enough; the PostgreSQL lock is covered by the standby test in test_cli")
    cluster = register_cluster(engine, name="staging-east", context="staging-east", region="us-east-1",
                               kubeconfig=str(sandbox.kubeconfig_path), is_sandbox=True)  # fmt: skip
    with session_scope(engine) as s:
        abandoned = ScanRun(cluster_id=cluster.id, trigger=ScanTrigger.UI, status=ScanStatus.RUNNING)
        s.add(abandoned)
        s.flush()
        abandoned_id = abandoned.id
    assert abandoned_id is not None
    env = {**os.environ, **sandbox.aws_env, "CLOUDOPTIM_WORKER__POLL_INTERVAL_S": "0.5",
           "CLOUDOPTIM_WORKER__SCAN_INTERVAL_MINUTES": "600"}  # fmt: skip
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "worker"], env=env, stderr=out, stdout=out)
    try:
        wait_until(lambda: _run(engine, abandoned_id).status == ScanStatus.FAILED, timeout=60)
        assert "worker stopped" in (_run(engine, abandoned_id).error or "")
        # The scheduled scan of the never-scanned cluster starts at once; then the UI asks for one.
        scheduled = wait_until(lambda: [r for r in _runs(engine) if r.trigger == ScanTrigger.SCHEDULE
                                        and ScanStatus(r.status).finished], timeout=120)  # fmt: skip
        assert scheduled[0].status == ScanStatus.SUCCEEDED, scheduled[0].error
        (requested,) = request_scan(engine, cluster.id).queued
        wait_until(lambda: ScanStatus(_run(engine, requested).status).finished, timeout=120)
        done = _run(engine, requested)
        assert done.status == ScanStatus.SUCCEEDED, done.error
        assert done.collect_s is not None and done.engine_s is not None and done.trigger == ScanTrigger.UI
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    text = log.read_text()
    assert proc.returncode == 0, text
    assert "maximum number of running instances" not in text
    assert "marked 1 scan(s) left running" in text


def _runs(engine: Engine) -> list[ScanRun]:
    with Session(engine) as s:
        return list(s.exec(select(ScanRun).order_by(ScanRun.id)))  # type: ignore[arg-type]


def _run_count(engine: Engine) -> int:
    return len(_runs(engine))
