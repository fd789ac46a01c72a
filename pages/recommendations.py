"""Recommendations page: what the engines propose, per engine and cluster, with totals, filters,
the rationale, evidence and related recommendations of a selected row, and what was skipped."""

from __future__ import annotations

from decimal import Decimal

import streamlit as st

from app.db.states import RecStatus
from app.services.recommendations import RecFilter, ScanRunView, latest_scan_runs, query, render, status_totals
from app.ui.charts import savings_chart
from app.ui.context import get_engine
from app.ui.format import md_escape, usd
from app.ui.rec_actions import apply_controls, outcome_banner
from app.ui.rec_detail import TABLE_COLUMNS, TABLE_KEY, chosen, detail, table_rows

ALL = "All"

st.title("Recommendations")
db = get_engine()
outcome_banner()
everything = query(db, RecFilter(status=None))
if not everything:
    st.info(
        "No recommendations yet. Run a scan: `cloudoptim scan --cluster NAME` (or `cloudoptim scan --sandbox`).",
        icon=":material/info:",
    )
    st.stop()

f1, f2, f3, f4 = st.columns(4)
clusters = sorted({r.cluster or "(account)" for r in everything})
cluster = f1.selectbox("Cluster", [ALL, *clusters], key="rec_cluster")
engine = f2.selectbox("Engine", [ALL, *sorted({r.engine for r in everything})], key="rec_engine")
status = f3.selectbox("Status", [*RecStatus, ALL], key="rec_status", format_func=lambda s: str(s).capitalize())
risk = f4.selectbox("Risk", [ALL, "low", "medium", "high"], key="rec_risk")
flt = RecFilter(
    cluster=None if cluster in (ALL, "(account)") else cluster,
    engine=None if engine == ALL else engine,
    status=None if status == ALL else status,
    risk=None if risk == ALL else risk,
)
rows = query(db, flt)

# Obsolete and dismissed savings are not on offer: with "All" the headline counts open ones only.
headline_status = RecStatus.OPEN if status == ALL else RecStatus(status)
totals = status_totals(rows)
headline = totals.get(headline_status)
count, total = (headline.count, headline.monthly_savings) if headline else (0, Decimal(0))
name = headline_status.value.capitalize()
m1, m2, m3 = st.columns(3)
m1.metric(f"{name} recommendations", count)
m2.metric(f"{name} savings / month", usd(total))
m3.metric(f"{name} savings / year", usd(total * 12))
if headline and headline.note:
    st.caption(md_escape(headline.note))  # escaped: "$" would start LaTeX
if status == ALL and totals:
    by_status = " · ".join(f"{s.value} {t.count} ({usd(t.monthly_savings)}/month)" for s, t in totals.items())
    st.caption(md_escape(f"By status: {by_status}"))  # escaped: two "$" would start LaTeX

if rows:
    charted = [r for r in rows if r.status == headline_status]
    if charted:
        st.plotly_chart(
            savings_chart({"engine": r.engine, "cluster": r.cluster or "(account)", "savings": r.monthly_savings}
                          for r in charted),
            width="stretch",
        )  # fmt: skip
    event = st.dataframe(
        table_rows(rows), hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
        key=TABLE_KEY, column_config=TABLE_COLUMNS,
    )  # fmt: skip
    st.download_button("Export CSV", render([r.record() for r in rows], "csv"), "recommendations.csv", "text/csv")
    selected = list(event.selection.rows) if event and event.selection else []
else:
    st.info("No recommendation matches these filters.")
    selected = []
shown_rec = chosen(rows, everything, selected)
detail(shown_rec, everything, [r.fingerprint for r in rows], actions=lambda rec: apply_controls(db, rec))

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
