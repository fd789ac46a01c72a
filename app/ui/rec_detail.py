"""The Recommendations page's detail panel and table: which row is chosen, its costs, rationale,
evidence tables, and the recommendations it depends on or relates to as buttons that select them.

The chosen recommendation is the table's selected row, or, after a click on a related one, that
recommendation (kept in session state by fingerprint, and selected in the table when the current
filters and page show it). With nothing chosen the panel says so instead of showing the first row.
Used by pages/recommendations.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import streamlit as st

from app.services.recommendations import SNOOZED, RecView
from app.ui.evidence import evidence_tables
from app.ui.format import md_escape, number, usd, when
from app.ui.rec_charts import utilisation_figure
from app.ui.risk_chart import risk_curve_figure

Actions = Callable[[RecView], None] | None  # draws the buttons that act on the shown recommendation
TABLE_KEY = "rec_table"
FOCUS_KEY = "rec_focus"
# Pixel widths that fit the main column of a 1400 px window with the sidebar open (about 940 px,
# the selection checkboxes included), so Status is never scrolled out of view.
TABLE_COLUMNS: dict[str, Any] = {
    "Engine": st.column_config.TextColumn(width=70),
    "Cluster": st.column_config.TextColumn(width=90),
    "Target": st.column_config.TextColumn(width=130),
    "Action": st.column_config.TextColumn(width=160),
    "Savings / month": st.column_config.NumberColumn(format="$%.2f", width=105),
    "Current": st.column_config.NumberColumn(format="$%.2f", width=75),
    "Projected": st.column_config.NumberColumn(format="$%.2f", width=75),
    "Risk": st.column_config.TextColumn(width=55),
    "Confidence": st.column_config.NumberColumn(format="%.2f", width=80),
    "Status": st.column_config.TextColumn(width=75),
    "Namespace": st.column_config.TextColumn(width=90),
}


def table_rows(rows: Sequence[RecView]) -> list[dict[str, Any]]:
    return [
        {"Engine": r.engine, "Cluster": r.cluster or "", "Target": r.target, "Action": r.action,
         "Savings / month": float(r.monthly_savings), "Current": float(r.current_monthly_cost),
         "Projected": float(r.projected_monthly_cost), "Risk": r.risk, "Confidence": r.confidence,
         "Status": SNOOZED if r.snoozed() else r.status.value, "Namespace": r.namespace or ""}  # fmt: skip
        for r in rows
    ]


def _focus(fingerprint: str, shown: list[str]) -> None:
    # A widget callback: runs before the rerun, so the table can be told which row to select.
    st.session_state[FOCUS_KEY] = fingerprint
    rows = [shown.index(fingerprint)] if fingerprint in shown else []
    st.session_state[TABLE_KEY] = {"selection": {"rows": rows, "columns": []}}


def chosen(rows: Sequence[RecView], selected_rows: Sequence[int],
           lookup: Callable[[str], RecView | None]) -> RecView | None:  # fmt: skip
    """The recommendation the detail panel shows: the one selected row, else the focused one
    (`lookup` reads it by fingerprint when this page of the table does not hold it). With several
    rows selected (for a bulk apply) there is none."""
    picked = [rows[i] for i in selected_rows if i < len(rows)]
    if len(picked) == 1:
        st.session_state[FOCUS_KEY] = picked[0].fingerprint
        return picked[0]
    if len(picked) > 1:
        return None
    focus = st.session_state.get(FOCUS_KEY)
    if focus and any(r.fingerprint == focus for r in rows) and not selected_rows:
        # The user cleared the table selection: clear the focus with it.
        st.session_state.pop(FOCUS_KEY, None)
        return None
    return next((r for r in rows if r.fingerprint == focus), None) or (lookup(focus) if focus else None)


def _related_buttons(title: str, fingerprints: list[str], by_fp: Mapping[str, RecView], shown: list[str], kind: str) -> None:
    if not fingerprints:
        return
    st.markdown(f"**{title}**")
    for fp in fingerprints:
        other = by_fp.get(fp)
        if other is None:
            st.caption(f"{md_escape(fp[:12])}… (no longer stored)")
            continue
        where = "" if fp in shown else " (hidden by the filters)"
        st.button(f"{md_escape(other.action)} · {md_escape(other.target)} · {md_escape(other.status.value)}{where}",
                  key=f"rel_{kind}_{fp}", on_click=_focus, args=(fp, shown), icon=":material/link:")  # fmt: skip


def linked(rec: RecView | None) -> list[str]:
    """The fingerprints the panel for `rec` names (the page reads just those)."""
    return [] if rec is None else [*rec.depends_on, *rec.related, *rec.conflicts_with]


def detail(rec: RecView | None, by_fp: Mapping[str, RecView], shown: list[str], actions: Actions = None,
           selected: int = 0) -> None:  # fmt: skip
    """The panel for `rec`: costs, rationale, `actions` (Apply, Dismiss, Snooze), the recommendations
    it is linked to (`by_fp`, read by `linked`), its charts, evidence, raw JSON."""
    if rec is None:
        if selected > 1:
            st.info(f"{selected} rows selected: select one row to see its details.", icon=":material/touch_app:")
        else:
            st.info("Select a recommendation to see its details.", icon=":material/touch_app:")
        return
    st.subheader(f"{md_escape(rec.action)} · {md_escape(rec.target)}")
    if rec.fingerprint not in shown:
        st.caption("This recommendation is hidden by the current filters.")
    st.markdown(md_escape(rec.rationale))
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Current / month", usd(rec.current_monthly_cost))
    c2.metric("Projected / month", usd(rec.projected_monthly_cost))
    if rec.reliability:  # prevents failures; may cost more, and no savings total counts it
        c3.metric("Extra cost / month", usd(-rec.monthly_savings))
        st.caption("A reliability change: it prevents failures (such as OOM kills) and is not counted in savings "
                   "totals.")  # fmt: skip
    else:
        c3.metric("Saving / month", usd(rec.monthly_savings))
    c4.metric("Confidence", number(rec.confidence))
    st.caption(
        f"{md_escape(rec.engine)} · {md_escape(rec.cluster or 'account')} · status {rec.status.value} · risk "
        f"{md_escape(rec.risk)} · last seen {when(rec.last_seen_at)} · fingerprint {md_escape(rec.fingerprint)}"
    )
    if actions is not None:
        actions(rec)
    _related_buttons("Apply first (depends on)", rec.depends_on, by_fp, shown, "dep")
    _related_buttons("Related (touch the same nodes)", [f for f in rec.related if f not in rec.depends_on], by_fp,
                     shown, "rel")  # fmt: skip
    _related_buttons("Conflicts with (another engine changes the same target: apply one of them)",
                     rec.conflicts_with, by_fp, shown, "conf")  # fmt: skip
    if (figure := risk_curve_figure(rec.evidence)) is not None:  # rightsizing: where the choice sits
        st.markdown("**Risk curve**")
        st.plotly_chart(figure, key=f"risk_curve_{rec.fingerprint}")
    if (usage := utilisation_figure(rec.evidence)) is not None:  # binpack nodes, ghost-probe days
        st.markdown("**Utilisation**")
        st.plotly_chart(usage, key=f"utilisation_{rec.fingerprint}")
    st.markdown("**Evidence**")
    tables = evidence_tables(rec.evidence)
    if not tables:
        st.caption("No evidence recorded.")
    for table in tables:
        if len(tables) > 1:
            st.caption(md_escape(table.title))
        st.table([{md_escape(k): md_escape(v) for k, v in row.items()} for row in table.records()], hide_index=True)
    with st.expander("Evidence as JSON"):
        st.json(rec.evidence, expanded=True)
    with st.expander("Action (JSON)"):
        st.json(rec.action_spec, expanded=True)
