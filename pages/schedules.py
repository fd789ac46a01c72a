"""Schedules page: every scheduled workload of every cluster with its schedule, state, next change
and wake-up lease, and the form that grants or ends a lease."""

from __future__ import annotations

import streamlit as st

from app.services.access import Permission
from app.services.schedule_leases import list_scheduled
from app.ui.context import get_engine, get_settings
from app.ui.messages import error_banner
from app.ui.rec_actions import current_user
from app.ui.schedules import COLUMNS, lease_form, show_notice, table_rows

st.title("Schedules")
settings, db = get_settings(), get_engine()
show_notice()
listing = list_scheduled(settings, db)
for cluster, text in listing.failed_clusters.items():
    error_banner(text, title=f"Cluster {cluster} could not be listed")
if not listing.workloads:
    st.info(
        "No workload has a schedule yet. Apply an office-hours recommendation, or annotate a Deployment, "
        "StatefulSet, CronJob or namespace with `cloudoptim.io/schedule-uptime: Mon-Fri 07:30-20:30 Europe/Berlin`.",
        icon=":material/info:",
    )
    st.stop()
st.dataframe(table_rows(listing.workloads), hide_index=True, width="stretch", key="schedule_table",
             column_config=COLUMNS)  # fmt: skip
who = current_user()
if who.can(Permission.LEASE):
    lease_form(settings, db, listing.workloads, who)
