"""Overview page: clusters, their monthly cost and the open savings, or how to get started."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import plotly.express as px
import streamlit as st

from app.services.overview import cluster_summaries, node_cost_breakdown
from app.services.recommendations import latest_scan_runs
from app.services.scans import request_scan
from app.ui.context import get_engine
from app.ui.format import usd, when

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

costs = [s.monthly_cost for s in summaries if s.monthly_cost is not None]
c1, c2, c3 = st.columns(3)
c1.metric("Clusters", len(summaries))
c2.metric("Monthly cost", usd(sum(costs, Decimal(0)) if costs else None))
c3.metric("Open savings / month", usd(sum((s.open_savings for s in summaries), Decimal(0))))

st.dataframe(
    pd.DataFrame(
        [
            {
                "Cluster": s.name + (" (sandbox)" if s.is_sandbox else ""),
                "Region": s.region,
                "Nodes": s.nodes,
                "Monthly cost": usd(s.monthly_cost),
                "Open savings / month": usd(s.open_savings),
                "Last scan": when(s.last_scan_at),
                "Last error": s.last_error or "",
            }
            for s in summaries
        ]
    ),
    hide_index=True,
    use_container_width=True,
)

breakdown = node_cost_breakdown(db)
if breakdown:
    frame = pd.DataFrame(breakdown).assign(
        monthly_cost=lambda f: f["monthly_cost"].astype(float),
        kind=lambda f: f["instance_type"] + " (" + f["capacity_type"] + ")",
    )
    st.plotly_chart(
        px.bar(frame, x="cluster", y="monthly_cost", color="kind", hover_data=["nodes"], height=320,
               labels={"monthly_cost": "$ / month", "kind": "instance type"}, title="Node cost by instance type"),
        use_container_width=True,
    )  # fmt: skip

scan_col, note_col = st.columns([1, 3])
if scan_col.button("Scan all clusters now", key="scan_now", icon=":material/refresh:"):
    request_scan(db, None, trigger="ui")
    st.toast("Scan requested: the worker picks it up within seconds.")
note_col.caption(
    "Scans run in the worker (`cloudoptim worker`, started by `cloudoptim demo`) on a schedule and on request."
)
errors = [summary for summary in summaries if summary.last_error]
for summary in errors:
    st.warning(f"**{summary.name}**: {summary.last_error}", icon=":material/warning:")

runs = latest_scan_runs(db, limit=20)
with st.expander(f"Recent scans ({len(runs)})"):
    st.dataframe(
        pd.DataFrame(
            [{"When": when(r["started_at"]), "Cluster": r["cluster"] or "all", "Status": r["status"],
              "Seconds": r["duration_s"],
              "Recommendations": sum(c.get("recommendations", 0) for c in (r["counts"] or {}).values()),
              "Skipped": len(r["skipped"] or []), "Error": r["error"] or ""} for r in runs]  # fmt: skip
        ),
        hide_index=True,
        use_container_width=True,
    )
