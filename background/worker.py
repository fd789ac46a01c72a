"""`cloudoptim worker`: one BlockingScheduler process that runs the background jobs.

Exactly one worker may run per database (APScheduler job stores cannot be shared), so start-up
takes a lock: an advisory lock on PostgreSQL, a lock file in the data directory. Then scans and
executions that a dead worker left `running` are marked failed (background.execution_runner
uncordons what a dead drain left cordoned). SIGTERM and SIGINT stop the scheduler and let the scan
and the execution step in progress finish (up to `CLOUDOPTIM_WORKER__STOP_TIMEOUT_S`).
Every 30 s (`liveness.HEARTBEAT_S`) the heartbeat job checks the database and touches the
liveness file (`CLOUDOPTIM_WORKER__LIVENESS_FILE`, default worker.alive in the data directory)
that `cloudoptim worker --check` reads; every `CLOUDOPTIM_WORKER__REALIZED_CHECK_MINUTES` the
realized-savings job measures what applied executions save.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from filelock import FileLock, Timeout
from sqlalchemy import Engine, text

from app.services.realized_savings import check_realized_savings
from app.services.scan_requests import recover_interrupted
from app.settings import Settings
from background import liveness
from background.execution_runner import ExecutionRunner
from background.jobs import JobContext, first_scheduled_scan
from background.scan_runner import ScanRunner
from background.schedule_enforcer import enforce_schedules
from background.spot_poller import SpotPoller

log = logging.getLogger(__name__)
_PG_WORKER_LOCK = 0x0C10D0F8


class WorkerAlreadyRunning(RuntimeError):
    """Another worker holds the lock for this database."""


def heartbeat(engine: Engine, liveness_file: Path | None = None) -> None:
    """Prove the worker is alive and the database answers, then touch the liveness file.

    Runs every `liveness.HEARTBEAT_S` (30) seconds; `cloudoptim worker --check` reads the file.
    A database that does not answer leaves the file alone, so it goes stale and the probe fails.
    """
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    if liveness_file is not None:
        try:
            liveness.touch(liveness_file)
        except OSError:
            log.warning("cannot write the liveness file %s", liveness_file, exc_info=True)
    log.debug("worker heartbeat at %s", datetime.now(UTC).isoformat())


class Worker:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.scheduler = BlockingScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        )
        self._lock_release: Callable[[], None] | None = None
        self.scans = ScanRunner(JobContext(settings, engine), settings.worker.poll_interval_s,
                                after_scans=lambda: check_realized_savings(settings, engine))
        self.executions = ExecutionRunner(settings, engine)
        self.spot = SpotPoller(settings, engine)  # not started without CLOUDOPTIM_AWS__SPOT_QUEUE_URL

    def _acquire_lock(self) -> None:
        if self.engine.dialect.name == "postgresql":
            conn = self.engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_WORKER_LOCK}).scalar()
            if not got:
                conn.close()
                raise WorkerAlreadyRunning("another CloudOptim worker is running on this database")
            self._lock_release = conn.close  # the advisory lock ends with its session
            return
        lock = FileLock(str(Path(self.settings.data_dir) / "worker.lock"))
        Path(self.settings.data_dir).mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise WorkerAlreadyRunning(
                f"another CloudOptim worker is running (lock {lock.lock_file})"
            ) from None
        self._lock_release = lock.release

    def add_jobs(self) -> None:
        # MemoryJobStore (the default): jobs are defined in code at every start, so their
        # arguments may be live objects and no job row outlives the process. Scans run on the
        # scan thread; the scheduler only tells it when the interval is up.
        interval = timedelta(minutes=self.settings.worker.scan_interval_minutes)
        alive = liveness.liveness_path(self.settings)
        self.scheduler.add_job(heartbeat, "interval", seconds=liveness.HEARTBEAT_S, args=[self.engine, alive],
                               id="heartbeat", next_run_time=datetime.now(UTC))  # fmt: skip
        self.scheduler.add_job(
            check_realized_savings, "interval", minutes=self.settings.worker.realized_check_minutes,
            args=[self.settings, self.engine], id="realized-savings",
        )  # fmt: skip
        # Office-hours transitions fall on whole minutes: run 5 s past each one.
        self.scheduler.add_job(enforce_schedules, "cron", second=5, args=[self.settings, self.engine],
                               id="schedule-enforcement")  # fmt: skip
        self.scheduler.add_job(
            self.scans.schedule_all, "interval", minutes=self.settings.worker.scan_interval_minutes,
            id="scheduled-scans", next_run_time=first_scheduled_scan(self.engine, interval),
        )  # fmt: skip

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        # Ctrl-C in a terminal (or `cloudoptim demo` stopping its children) can deliver the signal
        # twice: once to the process group and once from the parent; stopping twice is fine.
        if self.scheduler.running:
            log.info("received %s, stopping the worker", signal.Signals(signum).name)
            self.scheduler.shutdown(wait=False)

    def run(self) -> None:
        self._acquire_lock()
        try:
            recovered = recover_interrupted(self.engine)
            if recovered:
                log.warning("marked %d scan(s) left running by a stopped worker as failed", recovered)
            self.executions.recover()
            self.add_jobs()
            self.scans.start()
            self.executions.start()
            self.spot.start()
            signal.signal(signal.SIGTERM, self._stop)
            signal.signal(signal.SIGINT, self._stop)
            log.info("worker started with jobs: %s", ", ".join(j.id for j in self.scheduler.get_jobs()))
            self.scheduler.start()
        finally:
            self.executions.request_stop()  # the threads wind down at once, not one after the other
            self.spot.request_stop()
            if not self.scans.stop(timeout=self.settings.worker.stop_timeout_s):
                log.warning("a scan was still running at shutdown; the next worker marks it failed")
            if not self.executions.stop(timeout=self.settings.worker.stop_timeout_s):
                log.warning("an execution step was still running at shutdown; the next worker recovers it")
            if not self.spot.stop(timeout=self.settings.worker.stop_timeout_s):
                log.warning("a Spot drain was still running at shutdown; the next worker resumes it")
            if self._lock_release:
                self._lock_release()
            # A clean stop says so at once; a crash leaves the file to go stale.
            liveness.liveness_path(self.settings).unlink(missing_ok=True)
            log.info("worker stopped")
