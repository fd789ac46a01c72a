"""The worker's scan thread: runs scheduled and requested scans one at a time, off the scheduler.

APScheduler fires a job again while its previous run is still going and logs "maximum number of
running instances reached" each time; a scan can take minutes, so scans do not run as scheduler
jobs. The scheduler only pokes this thread (`poke` for requests, `schedule_all` for the
interval), which also polls the database for requests by itself, and runs one scan at a time so
two scans never write the same cluster at once. `after_scans` runs after every pass that scanned
something (the worker measures realized savings there, so they appear with the scan that shows them).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from background.jobs import JobContext, run_requested_scans, scan_all_clusters

log = logging.getLogger(__name__)


class ScanRunner:
    def __init__(self, ctx: JobContext, poll_interval_s: float, *,
                 after_scans: Callable[[], object] | None = None) -> None:  # fmt: skip
        self.ctx = ctx
        self.poll_interval_s = poll_interval_s
        self.after_scans = after_scans
        self._wake = threading.Event()
        self._scheduled_due = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scans", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        """Look for requested scans now."""
        self._wake.set()

    def schedule_all(self) -> None:
        """Scan every cluster as soon as the current scan (if any) is done."""
        self._scheduled_due.set()
        self._wake.set()

    def stop(self, timeout: float) -> bool:
        """Ask the thread to stop after the scan it is in; True when it stopped within `timeout`."""
        self.ctx.stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        while not self.ctx.stop.is_set():
            try:
                done = run_requested_scans(self.ctx)
                if self._scheduled_due.is_set() and not self.ctx.stop.is_set():
                    self._scheduled_due.clear()
                    done += scan_all_clusters(self.ctx)
            except Exception:  # e.g. the database is briefly unreachable: log, wait, try again
                log.exception("scan loop error; retrying in %.0f s", self.poll_interval_s)
                done = []
            if done and self.after_scans is not None:
                try:
                    self.after_scans()
                except Exception:  # its own job retries on its interval
                    log.exception("the after-scan step failed; it runs again after the next scan")
            self._wake.wait(self.poll_interval_s)
            self._wake.clear()
