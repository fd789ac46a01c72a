"""The worker's schedule job: every minute, scale workloads to their office-hours schedules.

Wired in background.worker as an APScheduler job; the work is app.services.schedules. The job
must never raise into the scheduler (a database outage would otherwise be logged as a crashed
job every minute with no hint of what it was doing), so everything is caught and logged here.
`now` is injectable so tests can stand at any hour of any day.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from app.db.types import utcnow
from app.services.schedules import enforce_all
from app.settings import Settings

log = logging.getLogger(__name__)


def enforce_schedules(settings: Settings, engine: Engine, now: Callable[[], datetime] = utcnow) -> int:
    """Enforce the schedules of every registered cluster; returns how many workloads were scaled."""
    try:
        run = enforce_all(settings, engine, now())
    except Exception:  # e.g. the database is unreachable: the next minute tries again
        log.exception("schedule enforcement failed")
        return 0
    if run.failed_clusters:
        log.debug("schedule enforcement skipped %d cluster(s)", len(run.failed_clusters))
    return run.scaled
