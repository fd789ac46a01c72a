"""The worker's log lines and liveness file: JSON lines carry the execution and cluster they are
about, text lines show them in brackets, the execution runner tags everything an execution logs,
and `cloudoptim worker --check` tells a process manager whether the heartbeat is fresh."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.settings import Settings
from background import liveness
from background.execution_runner import ExecutionRunner
from background.logs import ContextFilter, JsonFormatter, TextFormatter, context_of, log_context
from tests.test_executions_seed import add_rec, scale_spec
from tests.waiting import wait_until


def record(message: str = "drained %s", *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord(
        "background.execution_runner", logging.INFO, __file__, 1, message, args or ("node-a",), None
    )
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_a_json_line_is_one_object_with_time_level_logger_message_and_the_context() -> None:
    rec = record()
    rec.created = datetime(2026, 5, 1, 10, 0, 0, 250000, tzinfo=UTC).timestamp()
    with log_context(execution_id=12, cluster_id=3, cluster="prod"):
        line = JsonFormatter().format(rec)
    assert "\n" not in line
    assert json.loads(line) == {"ts": "2026-05-01T10:00:00.250+00:00", "level": "INFO",
                                "logger": "background.execution_runner", "message": "drained node-a",
                                "execution_id": 12, "cluster_id": 3, "cluster": "prod"}  # fmt: skip


def test_extra_fields_win_over_the_context_and_the_context_ends_with_its_block() -> None:
    with log_context(cluster="prod", execution_id=None):
        assert context_of(record(cluster="staging")) == {"cluster": "staging"}
        with log_context(execution_id=4):
            assert context_of(record()) == {"execution_id": 4, "cluster": "prod"}
        assert context_of(record()) == {"cluster": "prod"}
    assert context_of(record()) == {}
    with pytest.raises(ValueError, match="unknown log context field"), log_context(user="ana"):
        pass


def test_a_json_line_keeps_the_traceback_and_a_text_line_shows_the_context_in_brackets() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "RuntimeError: boom" in json.loads(JsonFormatter().format(rec))["exc_info"]
    with log_context(execution_id=5, cluster="prod"):
        assert TextFormatter().format(record()).endswith("background.execution_runner: drained node-a "
                                                         "[execution 5 cluster prod]")  # fmt: skip


def test_every_line_an_execution_logs_names_the_execution_and_its_cluster(
    engine: Engine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    fp = add_rec(engine, "f" * 24, scale_spec(), cluster_id=None)  # its cluster is gone: fails at connect
    from app.services import executions as svc

    queued = svc.queue_execution(engine, fp, requested_by="ana").execution
    caplog.handler.addFilter(ContextFilter())  # as `configure` adds it to the worker's handlers
    with caplog.at_level(logging.INFO, logger="background.execution_runner"):
        ExecutionRunner(settings, engine, owner="test-host:1").run_pending()
    lines = [r for r in caplog.records if r.name == "background.execution_runner"]
    assert [r.getMessage().split(":")[0] for r in lines] == [
        f"execution {queued.id} started",
        f"execution {queued.id} failed",
        f"execution {queued.id} ended failed",
    ]
    assert [context_of(r) for r in lines] == [{"execution_id": queued.id}] * 3  # no cluster: it was removed


def test_the_liveness_check_is_fresh_within_three_heartbeats_and_stale_after(tmp_path: Path) -> None:
    path = tmp_path / "worker.alive"
    assert liveness.check(path).message.startswith(f"no liveness file at {path}")
    now = datetime.now(UTC)
    liveness.touch(path, now)
    assert liveness.check(path, now + timedelta(seconds=80)).alive
    stale = liveness.check(path, now + timedelta(seconds=100))
    assert not stale.alive and "last heartbeat was 100 s ago" in stale.message and "stale after 90 s" in stale.message


@pytest.mark.slow
def test_a_running_worker_passes_the_check_logs_json_and_a_stopped_one_fails_it(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    alive = tmp_path / "probe" / "worker.alive"
    env = {**os.environ, "CLOUDOPTIM_WORKER__LOG_FORMAT": "json", "CLOUDOPTIM_WORKER__LIVENESS_FILE": str(alive)}
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "worker"], env=env, stdout=out, stderr=out)
    check = [sys.executable, "-m", "cli", "worker", "--check"]
    try:
        wait_until(alive.exists, timeout=60)
        ok = subprocess.run(check, env=env, capture_output=True, text=True, check=False)
        assert ok.returncode == 0, ok.stderr
        assert "the worker is alive: last heartbeat" in ok.stderr and f":{proc.pid}" in ok.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0, log.read_text()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    started = next(d["message"] for d in lines if d["message"].startswith("worker started with jobs: "))
    assert {"heartbeat", "realized-savings"} <= set(started.removeprefix("worker started with jobs: ").split(", "))
    assert {"ts", "level", "logger", "message"} <= set(lines[0])
    gone = subprocess.run(check, env=env, capture_output=True, text=True, check=False)
    assert gone.returncode == 1 and "error: no liveness file at" in gone.stderr
