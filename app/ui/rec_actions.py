"""Apply, Dismiss and Snooze for the recommendation shown on the Recommendations page (and Apply
for the Overview's top recommendations).

Apply opens a confirmation dialog with the plan (from the action spec) and the guardrail checks;
Confirm queues the execution (the worker applies it) and the page links to it on the Executions
page. The dialog's buttons work through callbacks and session state, so a rerun of the whole page
(AppTest, or a second tab) never loses a click and a double confirm queues once (the service is
idempotent per fingerprint). Dismiss asks for a reason, kept in the audit log; Snooze a date.
Used by pages/recommendations.py through `app.ui.rec_detail.detail(actions=...)`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

import streamlit as st
from sqlalchemy import Engine

from app.db.types import utcnow
from app.services.access import AccessDenied, Permission, Principal
from app.services.recommendations import RecView
from app.ui.auth import principal
from app.ui.context import get_settings
from app.ui.format import md_escape
from app.ui.rec_detail import FOCUS_KEY, TABLE_KEY

if TYPE_CHECKING:
    from streamlit.delta_generator import DeltaGenerator

    from app.services.rec_actions import ApplyReview

APPLYING = "apply_for"  # the fingerprint whose confirmation is open
OUTCOME = "apply_outcome"  # (kind, message, execution id or None) to show after the dialog closes
EXECUTIONS_PAGE = "../pages/executions.py"


def current_user() -> Principal:
    """Who acts: the signed-in principal (the services check its role)."""
    return principal()


def _review(db: Engine, rec: RecView) -> ApplyReview:
    # Imported here: the guardrails pull in the executor (and the Kubernetes client's errors).
    from app.services.app_config import load_guardrails
    from app.services.rec_actions import review_apply

    return review_apply(db, rec, load_guardrails(db, get_settings()))


def _open(fingerprint: str) -> None:
    st.session_state[APPLYING] = fingerprint


def _close() -> None:
    st.session_state.pop(APPLYING, None)


def _keep_focus(fingerprint: str) -> None:
    """Keep showing `fingerprint` after its status changed: the Open filter now hides its row, and
    the table's selected row number would otherwise point at the next recommendation."""
    st.session_state[FOCUS_KEY] = fingerprint
    st.session_state[TABLE_KEY] = {"selection": {"rows": [], "columns": []}}


def _queue(db: Engine, rec: RecView, dry_run: bool) -> None:
    from app.services.executions import ExecutionError, queue_execution

    _close()
    review = _review(db, rec)
    if not dry_run and not review.can_apply:  # the state changed since the dialog opened
        st.session_state[OUTCOME] = ("error", "Not queued: " + "; ".join(review.refusals), None)
        return
    try:
        result = queue_execution(db, rec.fingerprint, requested_by=current_user(), dry_run=dry_run)
    except (ExecutionError, AccessDenied) as exc:
        st.session_state[OUTCOME] = ("error", f"Not queued: {exc}", None)
        return
    shown = result.execution
    if not shown.dry_run:
        _keep_focus(rec.fingerprint)
    what = "dry run" if shown.dry_run else "execution"
    if result.created:
        message = f"Queued {what} {shown.id} of {rec.action} {rec.target}: the worker picks it up within seconds."
        st.session_state[OUTCOME] = ("success", message, shown.id)
    elif shown.dry_run and not dry_run:
        message = (f"Dry run {shown.id} of this recommendation is still {shown.state}: apply it once that has "
                   "finished.")  # fmt: skip
        st.session_state[OUTCOME] = ("warning", message, shown.id)
    else:
        message = f"{what.capitalize()} {shown.id} of this recommendation is already {shown.state}; not queued again."
        st.session_state[OUTCOME] = ("info", message, shown.id)


def _dismiss(db: Engine, rec: RecView, reason_key: str) -> None:
    from app.services.rec_actions import RecActionError, dismiss_recommendation

    try:
        dismiss_recommendation(db, rec.fingerprint, reason=str(st.session_state.get(reason_key) or ""),
                               actor=current_user())  # fmt: skip
    except (RecActionError, AccessDenied) as exc:
        st.session_state[OUTCOME] = ("error", f"Not dismissed: {exc}", None)
        return
    _keep_focus(rec.fingerprint)
    st.session_state[OUTCOME] = ("success", f"Dismissed {rec.action} {rec.target}.", None)


def outcome_banner() -> None:
    """What the last Apply or Dismiss did, with a link to the execution (shown once)."""
    shown = st.session_state.pop(OUTCOME, None)
    if not shown:
        return
    kind, message, execution_id = shown
    getattr(st, kind)(md_escape(message))
    if execution_id is not None:
        st.page_link(EXECUTIONS_PAGE, label=f"Open execution {execution_id} on the Executions page",
                     icon=":material/play_circle:", query_params={"execution": str(execution_id)})  # fmt: skip


def review_panel(review: ApplyReview) -> None:
    """The plan and the checks, as the confirmation dialog shows them."""
    st.markdown("**What will change**")
    st.markdown("\n".join(f"{i}. {md_escape(step)}" for i, step in enumerate(review.plan, 1)))
    st.caption("The worker re-reads the live cluster first and refuses if the target changed since the scan; "
               "its own plan (with the live pod list) is stored on the execution.")  # fmt: skip
    st.markdown("**Guardrail checks**")
    st.table([{"Check": c.name, "Result": ("passed" if c.passed else "refused") if c.blocking else "note",
               "Detail": md_escape(c.detail)} for c in review.checks], hide_index=True)  # fmt: skip


def _dialog(db: Engine, rec: RecView) -> None:
    if st.session_state.get(APPLYING) != rec.fingerprint:
        st.rerun()  # a button below closed it: rerun the page, which shows the outcome
    st.markdown(f"**{md_escape(rec.action)}** on **{md_escape(rec.target)}** "
                f"({md_escape(rec.cluster or 'account')}), saving about ${rec.monthly_savings:,.2f} / month.")  # fmt: skip
    review = _review(db, rec)
    review_panel(review)
    if not review.can_apply:
        st.error(md_escape("Cannot be applied now: " + "; ".join(review.refusals)), icon=":material/block:")
    c1, c2, c3 = st.columns(3)
    c1.button("Confirm apply", key="apply_confirm", type="primary", disabled=not review.can_apply,
              on_click=_queue, args=(db, rec, False), icon=":material/check:")  # fmt: skip
    c2.button("Dry run only", key="apply_dry_run", on_click=_queue, args=(db, rec, True),
              help="The worker plans from the live state and changes nothing.", icon=":material/science:")  # fmt: skip
    c3.button("Cancel", key="apply_cancel", on_click=_close)


def confirmation(db: Engine, rec: RecView) -> None:
    """The confirmation dialog for `rec`, when its Apply was clicked (on this page or the Overview)."""
    if st.session_state.get(APPLYING) == rec.fingerprint:
        title = f"Apply {rec.action} · {rec.target}?"
        st.dialog(title, width="large", on_dismiss=_close)(_dialog)(db, rec)


def apply_button(db: Engine, rec: RecView, key: str) -> None:
    """Apply… for `rec` (opens the confirmation), or why it cannot be applied; nothing for a viewer."""
    if not current_user().can(Permission.APPLY):
        return
    review = _review(db, rec)
    st.button("Apply…", key=key, type="primary", disabled=not review.can_apply, on_click=_open,
              args=(rec.fingerprint,), icon=":material/play_arrow:")  # fmt: skip
    if not review.can_apply:
        st.caption(md_escape("Apply is not available: " + "; ".join(review.refusals)))
    confirmation(db, rec)


def _snooze(db: Engine, rec: RecView, until_key: str | None) -> None:
    from app.services.rec_actions import RecActionError, snooze_recommendation

    until: date | None = st.session_state.get(until_key) if until_key else None
    if until_key and not isinstance(until, date):
        st.session_state[OUTCOME] = ("error", "Not snoozed: pick the date it should come back.", None)
        return
    try:
        snooze_recommendation(db, rec.fingerprint, until, actor=current_user())
    except (RecActionError, AccessDenied) as exc:
        st.session_state[OUTCOME] = ("error", f"Not {'snoozed' if until_key else 'unsnoozed'}: {exc}", None)
        return
    _keep_focus(rec.fingerprint)
    message = (f"Snoozed {rec.action} {rec.target} until {until:%Y-%m-%d}: it is back in the open list then."
               if until else f"{rec.action} {rec.target} is back in the open list.")  # fmt: skip
    st.session_state[OUTCOME] = ("success", message, None)


def _snooze_controls(db: Engine, rec: RecView, where: DeltaGenerator) -> None:
    if rec.snoozed():
        where.button(f"Unsnooze (snoozed until {rec.snoozed_until:%Y-%m-%d})", key="rec_unsnooze", on_click=_snooze,
                     args=(db, rec, None), icon=":material/alarm_off:")  # fmt: skip
        return
    with where.popover("Snooze…", icon=":material/snooze:", disabled=rec.status.value != "open"):
        until_key = f"snooze_until_{rec.fingerprint}"
        tomorrow = utcnow().date() + timedelta(days=1)
        st.date_input("Hide it until", key=until_key, value=tomorrow + timedelta(days=6), min_value=tomorrow)
        st.button("Snooze recommendation", key="rec_snooze", on_click=_snooze, args=(db, rec, until_key))


def apply_controls(db: Engine, rec: RecView) -> None:
    """Apply (opens the confirmation), Dismiss (with a reason) and Snooze (until a date) for `rec`,
    or why they cannot be used. A viewer gets none (the services would refuse them anyway)."""
    who = current_user()
    if not who.can(Permission.APPLY) and not who.can(Permission.DISMISS):
        st.caption(f"You are signed in as a {who.role.value}: applying, dismissing and snoozing need the analyst "
                   "role.")  # fmt: skip
        return
    review = _review(db, rec)
    c1, c2, c3, _ = st.columns([1, 1, 2, 2])
    c1.button("Apply…", key="rec_apply", type="primary", disabled=not review.can_apply, on_click=_open,
              args=(rec.fingerprint,), icon=":material/play_arrow:")  # fmt: skip
    with c2.popover("Dismiss…", icon=":material/do_not_disturb_on:", disabled=rec.status.value != "open"):
        reason_key = f"dismiss_reason_{rec.fingerprint}"
        st.text_input("Why is it dismissed?", key=reason_key, placeholder="e.g. this node is reserved for a launch")
        st.button("Dismiss recommendation", key="rec_dismiss", on_click=_dismiss, args=(db, rec, reason_key))
    _snooze_controls(db, rec, c3)
    if not review.can_apply:
        st.caption(md_escape("Apply is not available: " + "; ".join(review.refusals)))
    confirmation(db, rec)
