"""Spot events page: each interruption warning and rebalance recommendation with its timeline and
whether it was handled inside the two-minute notice, the queue messages that were quarantined and
why, and on the sandbox a button that interrupts a chosen Spot node. Refreshes while one is being handled."""

from __future__ import annotations

import streamlit as st

from app.services.spot_views import quarantined, sandbox_spot_nodes, spot_warnings
from app.ui.context import get_engine
from app.ui.spot import inject_panel, quarantine_rows, timeline, warning_rows

REFRESH_SECONDS = 3

st.title("Spot events")
db = get_engine()
nodes = sandbox_spot_nodes(db)
if nodes:
    inject_panel(nodes)


def events() -> None:
    warnings = spot_warnings(db)
    if not warnings:
        st.info("No Spot interruption warning or rebalance recommendation has been received. The worker "
                "(`cloudoptim worker`) polls the queue set in CLOUDOPTIM_AWS__SPOT_QUEUE_URL.", icon=":material/info:")  # fmt: skip
        return
    handled = [w for w in warnings if w.handled_in_notice is not None]
    c1, c2, c3 = st.columns(3)
    c1.metric("Interruptions", sum(w.kind == "interruption" for w in warnings))
    c2.metric("Rebalance recommendations", sum(w.kind == "rebalance" for w in warnings))
    c3.metric("Handled inside the notice", f"{sum(bool(w.handled_in_notice) for w in handled)} of {len(handled)}")
    event = st.dataframe(warning_rows(warnings), hide_index=True, width="stretch", on_select="rerun",
                         selection_mode="single-row", key="spot_table")  # fmt: skip
    rows = list(event.selection.rows) if event and event.selection else []
    timeline(warnings[rows[0]] if rows and rows[0] < len(warnings) else warnings[0])


busy = any(w.in_notice == "not yet" for w in spot_warnings(db, limit=20))
st.fragment(run_every=REFRESH_SECONDS if busy else None)(events)()

messages = quarantined(db)
with st.expander(f"Quarantined queue messages ({len(messages)})", expanded=False):
    if messages:
        st.dataframe(quarantine_rows(messages), hide_index=True, width="stretch", key="spot_quarantine",
                     column_config={"Reason": st.column_config.TextColumn(width="large")})  # fmt: skip
    else:
        st.write("No message was quarantined.")
