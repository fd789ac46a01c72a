"""Overview page: stat cards (cost, identified, applied and realized savings), the clusters, the
savings trend and split, where the money goes, the top recommendations with Apply, or how to get
started; scan now, source errors and the recent scans (refreshing while a scan is pending)."""

from __future__ import annotations

from decimal import Decimal

import streamlit as st

from app.services.overview import cluster_summaries, node_cost_breakdown, open_savings_total
from app.ui.charts import node_cost_chart
from app.ui.context import get_engine
from app.ui.format import short_error, usd, when
from app.ui.messages import error_banner
from app.ui.overview import charts, stat_cards
from app.ui.rec_actions import outcome_banner
from app.ui.scans import recent_scans_panel, scan_now

st.title("Overview")
db = get_engine()
summaries = cluster_summaries(db)

if not summaries:
    st.info(
        "No cluster is connected yet.\n\n"
        "- **Try it without a cloud:** run `cloudoptim demo` to start the embedded sandbox "
        "(local AWS and Kubernetes APIs with a realistic estate).\n"
        "- **Connect a real cluster:** `cloudoptim clusters add NAME --context CONTEXT --region REGION` "
        "(uses your kubeconfig and the standard AWS credential chain; see README).",
        icon=":material/info:",
    )
    st.stop()

outcome_banner()
costs = [s.monthly_cost for s in summaries if s.monthly_cost is not None]
stat_cards(db, len(summaries), sum(costs, Decimal(0)) if costs else None, open_savings_total(summaries))

st.dataframe(
    [
        {
            "Cluster": s.name + (" (sandbox)" if s.is_sandbox else ""),
            "Region": s.region,
            "Nodes": s.nodes,
            "Monthly cost": usd(s.monthly_cost),
            "Open savings / month": usd(s.open_savings),
            "Last scan": when(s.last_scan_at),
            "Last error": short_error(s.last_error),
        }
        for s in summaries
    ],
    hide_index=True,
    width="stretch",
    column_config={"Last error": st.column_config.TextColumn(width="large")},
)

scan_col, note_col = st.columns([1, 3])
if scan_col.button("Scan all clusters now", key="scan_now", icon=":material/refresh:"):
    kind, message = scan_now(db)
    getattr(st, kind)(message, icon=":material/schedule:")
note_col.caption(
    "Scans run in the worker (`cloudoptim worker`, started by `cloudoptim demo`) on a schedule and on request."
)
for summary in summaries:
    if summary.last_error:
        error_banner(summary.last_error, title=summary.name)

charts(db)
breakdown = node_cost_breakdown(db)
if breakdown:
    chart_rows, spec = node_cost_chart(breakdown)
    st.vega_lite_chart(chart_rows, spec, width="stretch")

recent_scans_panel(db)
