"""Executions page: every apply and rollback the worker ran or will run, filtered by state,
cluster, action and kind, refreshing live while any is queued or running; the chosen one's plan,
step log and result, with Rollback (reversible applies) and Cancel (queued ones), and CSV export."""

from __future__ import annotations

import streamlit as st

from app.db.states import ExecutionKind, ExecutionState
from app.services.execution_reports import facets
from app.services.executions import list_executions
from app.ui.context import get_engine
from app.ui.executions import live_panel
from app.ui.rec_actions import current_user

ALL = "All"

st.title("Executions")
db = get_engine()
options = facets(db)
if not options.action_kinds:
    st.info(
        "Nothing has been applied yet. Select a recommendation on the Recommendations page and click Apply "
        "(or run `cloudoptim apply FINGERPRINT`); the worker (`cloudoptim worker`) carries it out.",
        icon=":material/info:",
    )
    st.stop()

f1, f2, f3, f4 = st.columns(4)
state = f1.selectbox("State", [ALL, *ExecutionState], key="exec_state", format_func=lambda s: str(s).replace("_", " "))
cluster = f2.selectbox("Cluster", [ALL, *options.clusters], key="exec_cluster")
action = f3.selectbox("Action", [ALL, *options.action_kinds], key="exec_action")
kind = f4.selectbox("Kind", [ALL, *ExecutionKind], key="exec_kind")

live_panel(
    db,
    lambda: list_executions(
        db,
        state=None if state == ALL else ExecutionState(state),
        cluster=None if cluster == ALL else cluster,
        action_kind=None if action == ALL else action,
        kind=None if kind == ALL else ExecutionKind(kind),
        limit=500,
    ),
    current_user(),
)
