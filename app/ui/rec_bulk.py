"""Bulk apply of the selected low-risk rows, and the CSV / JSON export of the current filtered view,
on the Recommendations page.

Bulk apply opens a confirmation that lists what will be queued and what will not (medium and high
risk rows are applied one at a time, after reading their checks); Confirm calls
`app.services.rec_actions.bulk_apply`, which queues each as the signed-in user and re-checks the
guardrails. The exports are generated only when a button is clicked (deferred download data),
read from the database in batches, every matching row and not just the page. A viewer gets
neither control (and the services refuse a viewer anyway). Used by pages/recommendations.py.
"""

from __future__ import annotations

from decimal import Decimal

import streamlit as st
from sqlalchemy import Engine

from app.services.access import AccessDenied, Permission
from app.services.app_config import load_guardrails
from app.services.recommendations import RecFilter, RecView, export
from app.ui.auth import principal
from app.ui.context import get_settings
from app.ui.format import md_escape, usd
from app.ui.rec_actions import OUTCOME
from app.ui.rec_detail import TABLE_KEY

BULK_KEY = "bulk_apply_for"  # the fingerprints whose bulk confirmation is open


def export_buttons(db: Engine, flt: RecFilter, sort: str, matching: int) -> None:
    """Export CSV / Export JSON of every row matching `flt`, in `sort` order."""
    who = principal()  # read now: the deferred data is built outside this script run
    if not who.can(Permission.EXPORT):
        return
    c1, c2, note = st.columns([1, 1, 3])
    c1.download_button("Export CSV", lambda: export(db, flt, "csv", actor=who, sort=sort),
                       "recommendations.csv", "text/csv", key="rec_export_csv", on_click="ignore",
                       icon=":material/download:")  # fmt: skip
    c2.download_button("Export JSON", lambda: export(db, flt, "json", actor=who, sort=sort),
                       "recommendations.json", "application/json", key="rec_export_json", on_click="ignore",
                       icon=":material/download:")  # fmt: skip
    note.caption(f"Exports hold all {matching:,} matching row(s), not only this page.")


def _open(fingerprints: list[str]) -> None:
    st.session_state[BULK_KEY] = fingerprints


def _close() -> None:
    st.session_state.pop(BULK_KEY, None)


def _confirm(db: Engine, recs: list[RecView]) -> None:
    from app.services.rec_actions import bulk_apply

    _close()
    try:
        outcome = bulk_apply(db, recs, actor=principal(), executor=load_guardrails(db, get_settings()))
    except AccessDenied as exc:
        st.session_state[OUTCOME] = ("error", f"Not queued: {exc}", None)
        return
    st.session_state[TABLE_KEY] = {"selection": {"rows": [], "columns": []}}
    queued = ", ".join(str(eid) for _, eid in outcome.queued) or "none"
    message = f"Queued {len(outcome.queued)} execution(s) ({queued})."
    if outcome.refused:
        message += " Not queued: " + "; ".join(reason for _, reason in outcome.refused)
    st.session_state[OUTCOME] = ("warning" if outcome.refused else "success", message, None)


def _dialog(db: Engine, recs: list[RecView]) -> None:
    if not st.session_state.get(BULK_KEY):
        st.rerun()
    low = [r for r in recs if r.risk == "low"]
    rest = [r for r in recs if r.risk != "low"]
    st.markdown(f"**{len(low)}** low-risk recommendation(s) will be queued, saving about "
                f"{md_escape(usd(sum((r.monthly_savings for r in low), Decimal(0))))}"
                " / month; the worker re-checks each against the live cluster first.")  # fmt: skip
    st.table([{"Action": md_escape(r.action), "Target": md_escape(r.target), "Risk": r.risk,
               "Saving / month": usd(r.monthly_savings)} for r in low], hide_index=True)  # fmt: skip
    if rest:
        st.warning(md_escape("Not in the bulk apply (apply each on its own after reading its checks): "
                             + "; ".join(f"{r.target} (risk {r.risk})" for r in rest)))  # fmt: skip
    c1, c2 = st.columns(2)
    c1.button(f"Confirm: queue {len(low)}", key="bulk_confirm", type="primary", disabled=not low,
              on_click=_confirm, args=(db, recs), icon=":material/check:")  # fmt: skip
    c2.button("Cancel", key="bulk_cancel", on_click=_close)


def bulk_controls(db: Engine, selected: list[RecView]) -> None:
    """The bulk apply button for the selected rows (two or more), and its confirmation."""
    if not principal().can(Permission.APPLY) or len(selected) < 2:
        return
    low = sum(1 for r in selected if r.risk == "low")
    st.button(f"Apply the {low} low-risk of {len(selected)} selected…", key="rec_bulk_apply", disabled=not low,
              on_click=_open, args=([r.fingerprint for r in selected],), icon=":material/done_all:")  # fmt: skip
    if not low:
        st.caption("None of the selected rows is low risk: bulk apply takes low-risk rows only.")
    wanted = st.session_state.get(BULK_KEY)
    if wanted and wanted == [r.fingerprint for r in selected]:
        st.dialog(f"Apply {low} recommendation(s)?", width="large", on_dismiss=_close)(_dialog)(db, selected)
