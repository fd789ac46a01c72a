"""The Overview's scan widgets: what "Scan all clusters now" queued, and the recent-scans panel
that refreshes itself while a scan is requested or running.

The panel is an st.fragment with `run_every` set only when a scan is pending, so an idle page
never polls; when a pending scan finishes it reruns the whole page, which then shows the new
costs, savings and errors, says how the scan ended, and drops the timer once nothing is pending.
Used by pages/overview.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st
from sqlalchemy import Engine

from app.db.states import ScanStatus, ScanTrigger
from app.services.recommendations import ScanRunView, latest_scan_runs, pending_scan_runs
from app.services.scan_requests import ScanRequest, request_scan
from app.ui.format import md_escape, short_error, when

REFRESH_SECONDS = 3
ALL_CLUSTERS = "all clusters"
FINISHED_KEY = "scans_finished"


def request_message(result: ScanRequest, names_by_run: Mapping[int, str]) -> tuple[str, str]:
    """(kind, Markdown text) telling what a scan request queued and what was already pending."""
    queued, pending = result.queued, result.already_pending

    def names(ids: list[int]) -> str:
        return ", ".join(md_escape(names_by_run.get(i, ALL_CLUSTERS)) for i in ids)

    parts = []
    if queued:
        parts.append(f"Queued a scan of {names(queued)}: the worker starts it within seconds.")
    if pending:
        parts.append(f"Already queued or running, not queued again: {names(pending)}.")
    if not parts:
        return "info", "No cluster to scan."
    return ("success" if queued else "info"), " ".join(parts)


def scan_now(db: Engine) -> tuple[str, str]:
    """Ask the worker to scan every cluster (pending ones are not queued twice); (kind, message)."""
    result = request_scan(db, None, trigger=ScanTrigger.UI)
    names = {r.id: r.cluster or ALL_CLUSTERS for r in pending_scan_runs(db) if r.id is not None}
    return request_message(result, names)


def scan_rows(runs: list[ScanRunView]) -> list[dict[str, Any]]:
    """Rows of the recent-scans table: per-cluster, time split into collect, engines and total."""
    return [
        {
            "When": when(r.started_at), "Cluster": r.cluster or ALL_CLUSTERS, "Trigger": r.trigger,
            "Status": r.status.value, "Collect s": r.collect_s,
            "Engines s": r.engine_seconds, "Total s": r.duration_s, "Recommendations": r.recommendations,
            "Skipped": None if r.pending else len(r.skipped), "Error": short_error(r.error, 300),
        }  # fmt: skip
        for r in runs
    ]


SCAN_COLUMNS = {
    "When": st.column_config.TextColumn(width="small"),
    "Status": st.column_config.TextColumn(width="small"),
    "Collect s": st.column_config.NumberColumn(format="%.2f", width="small"),
    "Engines s": st.column_config.NumberColumn(format="%.2f", width="small"),
    "Total s": st.column_config.NumberColumn(format="%.2f", width="small"),
    "Error": st.column_config.TextColumn(width="large"),
}


def panel(db: Engine, pending_at_page_run: list[int], expanded: bool = False) -> None:
    """The recent-scans expander; the fragment body, so it also runs alone every few seconds.

    `pending_at_page_run` are the runs that were pending when the whole page last ran: once one
    of them has finished, the whole page reruns, so its totals, errors and this panel's timer
    follow, and says how the scans ended.
    """
    pending = pending_scan_runs(db)
    finished = sorted(set(pending_at_page_run) - {r.id for r in pending if r.id is not None})
    if finished:
        st.session_state[FINISHED_KEY] = finished
        st.rerun()
    runs = latest_scan_runs(db, limit=20)
    with st.expander(f"Recent scans ({len(runs)})", expanded=bool(pending) or expanded):
        if pending:
            st.caption(
                f"{len(pending)} scan(s) requested or running: this list refreshes every {REFRESH_SECONDS} s "
                "until they finish."
            )
        if runs:
            st.dataframe(scan_rows(runs), hide_index=True, width="stretch", column_config=SCAN_COLUMNS)
        else:
            st.write("No scan has run yet.")


def finished_notice(db: Engine, run_ids: list[int]) -> None:
    """How the scans that finished since the last page run ended, one line each."""
    runs = [r for r in latest_scan_runs(db, limit=100) if r.id in run_ids]
    for run in runs:
        where = md_escape(run.cluster or ALL_CLUSTERS)
        seconds = f" in {run.duration_s:g} s" if run.duration_s is not None else ""
        if run.status is ScanStatus.SUCCEEDED:
            st.success(f"Scan of {where} succeeded{seconds}: {run.recommendations} recommendation(s).",
                       icon=":material/task_alt:")  # fmt: skip
        else:
            reason = f": {md_escape(short_error(run.error))}" if run.error else ""
            st.warning(f"Scan of {where} {run.status.value}{seconds}{reason}", icon=":material/warning:")


def recent_scans_panel(db: Engine) -> bool:
    """Say how just-finished scans ended and draw the recent scans, polling while any is pending."""
    finished = st.session_state.pop(FINISHED_KEY, None)
    if finished:
        finished_notice(db, finished)
    pending = [r.id for r in pending_scan_runs(db) if r.id is not None]
    # run_every is fixed when the fragment is created, so it is created on every page run:
    # polling while something is pending, no timer at all otherwise.
    st.fragment(run_every=REFRESH_SECONDS if pending else None)(panel)(db, pending, expanded=bool(finished))
    return bool(pending)
