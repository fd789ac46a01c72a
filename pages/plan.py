"""Plan page: one what-if plan across engines for a cluster. Tick open recommendations, see them
in apply order with conflicts flagged and one projected monthly delta (the engines re-run on the
stored snapshot with the changes applied), then save it or apply it as ordered executions.
Viewers see the open recommendations and the recent plans, read-only."""

from __future__ import annotations

import streamlit as st

from app.services.access import Permission
from app.ui.auth import principal
from app.ui.context import get_engine
from app.ui.plan import (
    candidate_picker,
    clear_selection,
    cluster_picker,
    current_preview,
    outcome,
    plan_actions,
    preview_panel,
    recent_plans_panel,
    selection,
)

st.title("Plan")
st.caption("Rightsizing runs before consolidation, consolidation before Spot moves, then account cleanup and "
           "traffic changes; schedules come last, apart. The projected delta re-runs the engines on the cluster's "
           "stored snapshot with the chosen changes applied in that order; it is not a sum of the rows.")  # fmt: skip
db = get_engine()
who = principal()
outcome()
cluster = cluster_picker(db)
if cluster is None:
    st.info("No cluster is connected yet: run `cloudoptim demo`, or add a cluster and scan it.", icon=":material/info:")
    st.stop()

editable = who.can(Permission.PLAN)
chosen = selection(cluster.id)
st.subheader("Open recommendations")
candidate_picker(db, cluster, chosen, editable)
if not editable:
    st.info(f"You are signed in as a {who.role.value}: plans are read-only for you.", icon=":material/visibility:")
else:
    st.subheader(f"This plan ({len(chosen)} step{'' if len(chosen) == 1 else 's'})")
    preview = current_preview(db, cluster, chosen, who)
    if preview is None and chosen:
        st.button("Clear selection", key="plan_clear", on_click=clear_selection)
    elif preview is None:
        st.caption("Tick recommendations above to see them in order, their conflicts and the projected delta.")
    else:
        preview_panel(preview)
        plan_actions(db, preview, who)
recent_plans_panel(db, cluster.id)
