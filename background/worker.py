"""`cloudoptim worker`: one BlockingScheduler process that runs the background jobs.

Exactly one worker may run per database (APScheduler job stores cannot be shared), so start-up
takes a lock: an advisory lock on PostgreSQL, a lock file in the data directory. A second worker
waits as a standby and takes over when the first one stops or dies (its lock ends with its
process); `cloudoptim worker --no-wait` exits instead. Then scans and
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
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from apscheduler.events import EVENT_SCHEDULER_START
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
from background.upload_jobs import validate_uploads

log = logging.getLogger(__name__)
_PG_WORKER_LOCK = 0x0C10D0F8
STANDBY_RETRY_S = 2.0  # how often a standby worker tries the lock again


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
    def __init__(self, settings: Settings, engine: Engine, *, standby: bool = True) -> None:
        self.settings = settings
        self.engine = engine
        self.standby = standby  # a second worker on the database waits for the lock instead of exiting
        self._stopping = threading.Event()
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
        # One validation at a time: leftover VALIDATING rows are re-run on the assumption that
        # nobody else is validating them.
        self.scheduler.add_job(validate_uploads, "interval", seconds=10, args=[self.settings, self.engine],
                               id="upload-validation", max_instances=1, coalesce=True)  # fmt: skip

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        # Ctrl-C in a terminal (or `cloudoptim demo` stopping its children) can deliver the signal
        # twice: once to the process group and once from the parent; stopping twice is fine.
        if self._stopping.is_set():
            return
        self._stopping.set()  # a standby stops waiting for the lock
        if self.scheduler.running:
            log.info("received %s, stopping the worker", signal.Signals(signum).name)
            # Not from the handler itself: the signal can land while the main thread holds the job
            # executor's lock (submitting a job), and shutdown takes that lock too: a deadlock.
            threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": False}, name="stop", daemon=True).start()

    def _stop_if_asked(self, _event: object) -> None:
        if self._stopping.is_set():
            self.scheduler.shutdown(wait=False)

    def _wait_for_lock(self) -> bool:
        """Take the lock; while another worker holds it, wait as a standby (or raise when `standby`
        is off). False when stopped while waiting."""
        announced = False
        while True:
            try:
                self._acquire_lock()
                return True
            except WorkerAlreadyRunning as exc:
                if not self.standby:
                    raise
                if not announced:
                    log.warning("%s; waiting as a standby (retrying every %.0f s)", exc, STANDBY_RETRY_S)
                    announced = True
            if self._stopping.wait(STANDBY_RETRY_S):
                return False

    def run(self) -> None:
        # Installed first, so a standby waiting for the lock stops on SIGTERM too.
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        if not self._wait_for_lock():
            log.info("worker stopped while waiting for the lock")
            return
        try:
            recovered = recover_interrupted(self.engine)
            if recovered:
                log.warning("marked %d scan(s) left running by a stopped worker as failed", recovered)
            self.executions.recover()
            self.add_jobs()
            self.scans.start()
            self.executions.start()
            self.spot.start()
            log.info("worker started with jobs: %s", ", ".join(j.id for j in self.scheduler.get_jobs()))
            # A SIGTERM before the scheduler runs finds nothing to shut down: the start event
            # checks the flag the handler set, so a signal at any moment of start-up stops it.
            self.scheduler.add_listener(self._stop_if_asked, EVENT_SCHEDULER_START)
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
