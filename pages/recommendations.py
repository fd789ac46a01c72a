"""Recommendations page: what the engines propose, filtered, sorted and paged in the database, with
totals that count each target once, the detail of a selected row (rationale, evidence, charts,
Apply / Dismiss / Snooze), bulk apply of selected low-risk rows, exports, and what was skipped."""

from __future__ import annotations

from decimal import Decimal

import streamlit as st

from app.db.states import RecStatus
from app.services.dashboard import open_savings_by
from app.services.recommendations import (
    SORTS,
    STATUSES,
    RecFilter,
    ScanRunView,
    by_fingerprints,
    count,
    filter_options,
    filtered_totals,
    latest_scan_runs,
    page,
)  # fmt: skip
from app.ui.charts import savings_chart
from app.ui.context import get_engine
from app.ui.format import md_escape, usd
from app.ui.rec_actions import apply_controls, outcome_banner
from app.ui.rec_bulk import bulk_controls, export_buttons
from app.ui.rec_detail import TABLE_COLUMNS, TABLE_KEY, chosen, detail, linked, table_rows

ALL = "All"


def _reset_selection() -> None:
    # Row numbers are per page: a new filter or page must not select whatever lands on them.
    st.session_state[TABLE_KEY] = {"selection": {"rows": [], "columns": []}}


def _new_filter() -> None:
    _reset_selection()
    st.session_state["rec_page"] = 1  # a new filter starts on its first page


st.title("Recommendations")
db = get_engine()
outcome_banner()
if count(db, RecFilter(status=None)) == 0:
    st.info(
        "No recommendations yet. Run a scan: `cloudoptim scan --cluster NAME` (or `cloudoptim scan --sandbox`).",
        icon=":material/info:",
    )
    st.stop()

options = filter_options(db)
f1, f2, f3, f4 = st.columns(4)
cluster = f1.selectbox("Cluster", [ALL, *options.clusters], key="rec_cluster", on_change=_new_filter)
engine = f2.selectbox("Engine", [ALL, *options.engines], key="rec_engine", on_change=_new_filter)
namespace = f3.selectbox("Namespace", [ALL, *options.namespaces], key="rec_namespace", on_change=_new_filter)
status = f4.selectbox("Status", [*STATUSES, ALL], key="rec_status", format_func=lambda s: str(s).capitalize(),
                      on_change=_new_filter)  # fmt: skip
g1, g2, g3, g4 = st.columns(4)
risk = g1.selectbox("Risk", [ALL, "low", "medium", "high"], key="rec_risk", on_change=_new_filter)
min_saving = g2.number_input("Minimum saving ($ / month)", min_value=0.0, value=0.0, step=10.0, key="rec_min_saving",
                             on_change=_new_filter)  # fmt: skip
sort = g3.selectbox("Sort by", SORTS, key="rec_sort", format_func=lambda s: str(s).capitalize(),
                    on_change=_new_filter)  # fmt: skip
flt = RecFilter(
    cluster=None if cluster == ALL else cluster,
    engine=None if engine == ALL else engine,
    status=None if status == ALL else status,
    risk=None if risk == ALL else risk,
    namespace=None if namespace == ALL else namespace,
    min_savings=Decimal(str(min_saving)).quantize(Decimal("0.01")) if min_saving else None,
)
st.session_state.setdefault("rec_page", 1)  # no value=: a new filter sets it through the session state
number = g4.number_input("Page", min_value=1, step=1, key="rec_page", on_change=_reset_selection)
shown_page = page(db, flt, sort=sort, number=int(number))
rows = shown_page.rows

# Obsolete and dismissed savings are not on offer: with "All" the headline counts open ones only.
headline_status = RecStatus.OPEN.value if status == ALL else str(status)
totals = filtered_totals(db, flt)
headline = totals.get(headline_status)
matching, total = (headline.count, headline.monthly_savings) if headline else (0, Decimal(0))
name = headline_status.capitalize()
m1, m2, m3 = st.columns(3)
m1.metric(f"{name} recommendations", matching)
m2.metric(f"{name} savings / month", usd(total))
m3.metric(f"{name} savings / year", usd(total * 12))
if headline and headline.note:
    st.caption(md_escape(headline.note))  # escaped: "$" would start LaTeX
if status == ALL and totals:
    by_status = " · ".join(f"{s} {t.count} ({usd(t.monthly_savings)}/month)" for s, t in totals.items())
    st.caption(md_escape(f"By status: {by_status}"))  # escaped: two "$" would start LaTeX

selected: list[int] = []
if rows:
    slices = open_savings_by(db, flt)
    if slices:
        st.plotly_chart(savings_chart({"engine": s.engine, "cluster": s.cluster, "savings": s.monthly_savings}
                                      for s in slices), width="stretch")  # fmt: skip
    event = st.dataframe(
        table_rows(rows), hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row",
        key=TABLE_KEY, column_config=TABLE_COLUMNS,
    )  # fmt: skip
    st.caption(f"Rows {shown_page.first:,}–{shown_page.last:,} of {shown_page.total:,} · page {shown_page.page} of "
               f"{shown_page.pages} · select one row for its details, several for a bulk apply")  # fmt: skip
    if int(number) > shown_page.page:
        st.caption(f"There are only {shown_page.pages} page(s): showing the last one.")
    selected = list(event.selection.rows) if event and event.selection else []
    export_buttons(db, flt, sort, shown_page.total)
    bulk_controls(db, [rows[i] for i in selected if i < len(rows)])
else:
    st.info("No recommendation matches these filters.")
shown_rec = chosen(rows, selected, lambda fp: by_fingerprints(db, [fp]).get(fp))
detail(shown_rec, by_fingerprints(db, linked(shown_rec)), [r.fingerprint for r in rows],
       actions=lambda rec: apply_controls(db, rec), selected=len(selected))  # fmt: skip

latest_per_cluster: dict[str | None, ScanRunView] = {}
for run in latest_scan_runs(db, limit=100):  # newest first: keep each cluster's latest finished run
    if not run.pending:
        latest_per_cluster.setdefault(run.cluster, run)
skipped = [{"Engine": s.get("engine", ""), "Cluster": run.cluster or "", "Target": s.get("target", ""),
            "Reason": s.get("reason", "")} for run in latest_per_cluster.values() for s in run.skipped]  # fmt: skip
with st.expander(f"Skipped in the latest scan of each cluster ({len(skipped)})", expanded=False):
    if skipped:
        # Rows taller than 4rem let the grid wrap the reasons instead of cutting them off.
        st.dataframe(skipped, hide_index=True, width="stretch", row_height=72, key="rec_skipped",
                     column_config={"Engine": st.column_config.TextColumn(width=80),
                                    "Cluster": st.column_config.TextColumn(width=110),
                                    "Target": st.column_config.TextColumn(width="medium"),
                                    "Reason": st.column_config.TextColumn(width="large")})  # fmt: skip
    else:
        st.write("Nothing was skipped.")
