"""The Executions page's live panel: the list, the chosen execution's plan, step log and result,
and its Rollback / Cancel buttons.

The panel is an st.fragment whose `run_every` is set only while an execution is queued or running,
so an idle page never polls; when the set of active executions changes (one ended, or a rollback
was queued), the whole page reruns (its filters and this timer follow). The chosen execution is the
table's selected row, else the one named by `?execution=ID` (the link the Recommendations page
shows after Apply), else the newest. Used by pages/executions.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st
from sqlalchemy import Engine

from app.db.states import ExecutionState
from app.services.access import Actor, Permission
from app.services.execution_reports import active_ids, duration_s, executions_csv
from app.services.execution_views import ExecutionView
from app.ui.format import md_escape, short_error, when
from app.ui.messages import Kind, error_banner

REFRESH_SECONDS = 2
TABLE_KEY = "exec_table"
NOTICE_KEY = "exec_notice"
STATE_ICONS = {
    ExecutionState.QUEUED: ":material/schedule:", ExecutionState.RUNNING: ":material/autorenew:",
    ExecutionState.SUCCEEDED: ":material/task_alt:", ExecutionState.FAILED: ":material/error:",
    ExecutionState.REFUSED: ":material/block:", ExecutionState.CANCELLED: ":material/cancel:",
    ExecutionState.ROLLED_BACK: ":material/undo:",
}  # fmt: skip
COLUMNS: dict[str, Any] = {
    "ID": st.column_config.NumberColumn(width=50),
    "State": st.column_config.TextColumn(width=90),
    "Kind": st.column_config.TextColumn(width=70),
    "Action": st.column_config.TextColumn(width=160),
    "Target": st.column_config.TextColumn(width="medium"),
    "Last step": st.column_config.TextColumn(width="medium"),
    "Reason": st.column_config.TextColumn(width="large"),
}


def table_rows(views: list[ExecutionView]) -> list[dict[str, Any]]:
    return [
        {
            "ID": v.id,
            "State": v.state.value + (" (dry run)" if v.dry_run else ""),
            "Kind": v.kind.value,
            "Cluster": v.cluster,
            "Action": v.action_kind,
            "Target": v.target,
            "Requested by": v.requested_by,
            "Queued": when(v.created_at),
            "Seconds": duration_s(v),
            "Last step": f"{v.last_step.name}: {v.last_step.status}" if v.last_step else "",
            "Reason": short_error(v.reason, 160),
        }  # fmt: skip
        for v in views
    ]


def _act(call: Callable[[], str]) -> None:
    # A button callback: the notice shows after the rerun, whatever the service said.
    try:
        st.session_state[NOTICE_KEY] = ("success", call())
    except (ValueError, PermissionError) as exc:  # ExecutionError: not reversible, no longer queued...
        st.session_state[NOTICE_KEY] = ("error", str(exc))


def _rollback(db: Engine, execution_id: int, user: Actor) -> None:
    from app.services.executions import queue_rollback

    def call() -> str:
        queued = queue_rollback(db, execution_id, requested_by=user)
        verb = "Queued" if queued.created else "Already queued:"
        return f"{verb} rollback execution {queued.execution.id} of execution {execution_id}."

    _act(call)
    st.session_state[TABLE_KEY] = {"selection": {"rows": [], "columns": []}}


def _cancel(db: Engine, execution_id: int, user: Actor) -> None:
    from app.services.executions import cancel_execution

    _act(lambda: f"Cancelled execution {cancel_execution(db, execution_id, requested_by=user).id}.")


def chosen(views: list[ExecutionView], selected: list[int]) -> ExecutionView | None:
    if selected and selected[0] < len(views):
        return views[selected[0]]
    wanted = st.query_params.get("execution")
    if wanted and wanted.isdigit():
        return next((v for v in views if v.id == int(wanted)), None)
    return views[0] if views else None


def detail(db: Engine, shown: ExecutionView, user: Actor) -> None:
    """One execution: state, reason, plan, step log, result and the buttons that apply to it."""
    dry = " (dry run)" if shown.dry_run else ""
    st.subheader(f"Execution {shown.id}: {shown.state.value}{dry}")
    st.caption(md_escape(
        f"{shown.kind.value} · {shown.action_kind} · {shown.target} · {shown.cluster or 'account'} · requested by "
        f"{shown.requested_by} at {when(shown.created_at)} · attempts {shown.attempts}"
        + (f" · rollback of execution {shown.rollback_of}" if shown.rollback_of else "")
        + (f" · plan #{shown.plan_id}, step {(shown.plan_step or 0) + 1}" if shown.plan_id is not None else "")
    ))  # fmt: skip
    if shown.reason:
        kind: Kind = "info" if shown.state in (ExecutionState.SUCCEEDED, ExecutionState.CANCELLED) else "warning"
        error_banner(shown.reason, title="Reason", kind=kind)
    if shown.state is ExecutionState.SUCCEEDED and shown.result.get("message"):
        st.success(md_escape(shown.result["message"]), icon=":material/task_alt:")
    b1, b2, _ = st.columns([1, 1, 4])
    may_act = isinstance(user, str) or user.can(Permission.APPLY)  # viewers see no buttons (and services refuse)
    if shown.reversible and may_act:
        b1.button("Roll back", key=f"exec_rollback_{shown.id}", on_click=_rollback, args=(db, shown.id, user),
                  icon=":material/undo:", help="Restore the pre-image as its own audited execution.")  # fmt: skip
    if shown.state is ExecutionState.QUEUED and may_act:
        b2.button("Cancel", key=f"exec_cancel_{shown.id}", on_click=_cancel, args=(db, shown.id, user),
                  icon=":material/cancel:")  # fmt: skip
    plan_steps = shown.plan.get("steps")
    st.markdown("**Plan**")
    if shown.plan:
        if isinstance(plan_steps, list) and plan_steps:  # the summary is these steps in one line
            st.markdown("\n".join(f"{i}. {md_escape(s)}" for i, s in enumerate(plan_steps, 1)))
        elif shown.plan.get("summary"):
            st.markdown(md_escape(shown.plan["summary"]))
        st.caption(f"Reversible: {'yes' if shown.plan.get('reversible') else 'no'} · nodes disrupted: "
                   f"{shown.plan.get('disrupts_nodes', 0)}")  # fmt: skip
    else:
        st.caption("No plan yet: the worker plans after it re-validates the live state.")
    st.markdown(f"**Step log ({len(shown.steps)})**")
    if shown.steps:
        st.dataframe([{"At": s.at.strftime("%H:%M:%S.%f")[:-3] if s.at else "", "Step": s.name, "Status": s.status,
                       "Detail": s.detail} for s in shown.steps], hide_index=True, width="stretch",
                     key=f"exec_steps_{shown.id}", column_config={"Detail": st.column_config.TextColumn(width="large")})  # fmt: skip
    else:
        st.caption("No step recorded yet.")
    if shown.result:
        with st.expander("Result (JSON)"):
            st.json(shown.result, expanded=True)
    if shown.pre_image:
        with st.expander("Pre-image (what a rollback restores)"):
            st.json(shown.pre_image, expanded=False)


def panel(db: Engine, load: Callable[[], list[ExecutionView]], active_at_page_run: list[int], user: Actor) -> None:
    """The fragment body: reruns alone every few seconds while something is active."""
    active = active_ids(db)
    if set(active) != set(active_at_page_run):  # one ended or a new one was queued: the whole page
        st.rerun()  # follows, and so does this fragment's timer
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        getattr(st, notice[0])(md_escape(notice[1]))
    views = load()
    if active:
        st.caption(f"{len(active)} execution(s) queued or running: this page refreshes every {REFRESH_SECONDS} s.")
    if not views:
        st.info("No execution matches these filters.", icon=":material/info:")
        return
    event = st.dataframe(table_rows(views), hide_index=True, width="stretch", on_select="rerun",
                         selection_mode="single-row", key=TABLE_KEY, column_config=COLUMNS)  # fmt: skip
    if isinstance(user, str) or user.can(Permission.EXPORT):
        st.download_button("Export CSV", executions_csv(views), "executions.csv", "text/csv", key="exec_csv",
                           on_click="ignore")  # fmt: skip
    selected = list(event.selection.rows) if event and event.selection else []
    shown = chosen(views, selected)
    if shown is None:
        st.info("Select an execution to see its plan and steps.", icon=":material/touch_app:")
        return
    detail(db, shown, user)


def live_panel(db: Engine, load: Callable[[], list[ExecutionView]], user: Actor) -> None:
    active = active_ids(db)
    # run_every is fixed when the fragment is created, so it is created on every page run.
    st.fragment(run_every=REFRESH_SECONDS if active else None)(panel)(db, load, active, user)
