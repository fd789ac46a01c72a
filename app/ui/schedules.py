"""The Schedules page's pieces: the table of scheduled workloads and the wake-up lease form.

A lease is granted as "keep up until" a date and time read in the schedule's own timezone
(default: today 22:00 there, or tomorrow's if that has passed); the lease service
(app.services.schedule_leases) checks it and patches the workload, and the worker's enforcer
wakes it within a minute. Used by pages/schedules.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st
from sqlalchemy import Engine

from app.db.types import utcnow
from app.services.access import Actor
from app.services.schedule_leases import ScheduledWorkload, end_lease, grant_lease
from app.settings import Settings
from app.ui.format import md_escape

NOTICE_KEY = "schedule_notice"
DEFAULT_UNTIL = time(22, 0)  # "keep staging up until 22:00 today"
COLUMNS: dict[str, Any] = {
    "Workload": st.column_config.TextColumn(width="medium"),
    "Schedule": st.column_config.TextColumn(width="medium"),
    "Note": st.column_config.TextColumn(width="large"),
}


def _local(moment: datetime | None, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M %Z") if moment else ""


def table_rows(workloads: list[ScheduledWorkload]) -> list[dict[str, Any]]:
    return [
        {
            "Cluster": w.cluster,
            "Workload": w.target,
            "Schedule": w.schedule,
            "Timezone": w.timezone,
            "From": w.source,
            "State": w.state,
            "Replicas": w.replicas,
            "Schedule wants": "" if w.wants_up is None else ("up" if w.wants_up else "down"),
            "Next change": _local(w.next_change, w.timezone),
            "Lease until": _local(w.lease_until, w.timezone),
            "Note": w.note,
        }
        for w in workloads
    ]


def default_until(zone: str, now: datetime) -> tuple[date, time]:
    """Today 22:00 in the schedule's timezone, or tomorrow's when 22:00 has passed there."""
    local = now.astimezone(ZoneInfo(zone))
    day = local.date() if local.time() < DEFAULT_UNTIL else local.date() + timedelta(days=1)
    return day, DEFAULT_UNTIL


def show_notice() -> None:
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        kind, text = notice
        getattr(st, kind)(md_escape(text), icon=":material/task_alt:" if kind == "success" else ":material/error:")


def _act(call: Callable[[], str]) -> None:
    # A button callback: the notice shows after the rerun, whatever the service said.
    try:
        st.session_state[NOTICE_KEY] = ("success", call())
    except (ValueError, PermissionError) as exc:  # LeaseError: in the past, too far ahead, not scheduled...
        st.session_state[NOTICE_KEY] = ("error", str(exc))


def lease_form(settings: Settings, db: Engine, workloads: list[ScheduledWorkload], user: Actor) -> None:
    """Grant a lease to one scheduled workload, or end the lease it has."""
    usable = [w for w in workloads if not w.note]
    if not usable:
        return
    st.subheader("Wake-up lease")
    st.caption("Keeps a scheduled workload up (waking it within a minute if it is down) until the time you "
               "choose, read in the schedule's timezone; the schedule applies again after it.")  # fmt: skip
    labels = [f"{w.cluster} · {w.target}" for w in usable]
    index = st.selectbox("Workload", range(len(usable)), format_func=lambda i: labels[i], key="lease_target")
    chosen = usable[index or 0]
    day, at = default_until(chosen.timezone, utcnow())
    c1, c2 = st.columns(2)
    picked_day = c1.date_input(f"Keep up until (date, {chosen.timezone})", value=day, key=f"lease_day_{index}")
    picked_time = c2.time_input(f"Time ({chosen.timezone})", value=at, key=f"lease_time_{index}", step=900)
    until = datetime.combine(picked_day if isinstance(picked_day, date) else day, picked_time or at,
                             tzinfo=ZoneInfo(chosen.timezone))  # fmt: skip
    args = (chosen.cluster, chosen.namespace, chosen.kind, chosen.name)
    b1, b2, _ = st.columns([1, 1, 3])
    b1.button("Grant lease", key="lease_grant", icon=":material/alarm_on:",
              on_click=lambda: _act(lambda: grant_lease(settings, db, *args, until, user)))  # fmt: skip
    if chosen.lease_until is not None:
        b2.button("End lease", key="lease_end", icon=":material/alarm_off:",
                  on_click=lambda: _act(lambda: end_lease(settings, db, *args, user)))  # fmt: skip
