"""Recommendations page: what the engines propose, per engine and cluster, with totals, filters,
the rationale and evidence of a selected row, and what was skipped and why."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from app.services.recommendations import RecFilter, latest_scan_runs, query, render
from app.ui.context import get_engine
from app.ui.format import usd, when

st.title("Recommendations")
db = get_engine()
everything = query(db, RecFilter(status=None))
if not everything:
    st.info(
        "No recommendations yet. Run a scan: `cloudoptim scan --cluster NAME` (or `cloudoptim scan --sandbox`).",
        icon=":material/info:",
    )
    st.stop()

f1, f2, f3, f4 = st.columns(4)
clusters = sorted({r["cluster"] or "(account)" for r in everything})
cluster = f1.selectbox("Cluster", ["All", *clusters], key="rec_cluster")
engine = f2.selectbox("Engine", ["All", *sorted({r["engine"] for r in everything})], key="rec_engine")
status = f3.selectbox("Status", ["open", "approved", "applied", "dismissed", "obsolete", "All"], key="rec_status")
risk = f4.selectbox("Risk", ["All", "low", "medium", "high"], key="rec_risk")
flt = RecFilter(
    cluster=None if cluster in ("All", "(account)") else cluster,
    engine=None if engine == "All" else engine,
    status=None if status == "All" else status,
    risk=None if risk == "All" else risk,
)
rows = query(db, flt)

total = sum((r["monthly_savings"] for r in rows), Decimal(0))
m1, m2, m3 = st.columns(3)
m1.metric("Recommendations", len(rows))
m2.metric("Savings / month", usd(total))
m3.metric("Savings / year", usd(total * 12))

if rows:
    by_engine = (
        pd.DataFrame([{"engine": r["engine"], "cluster": r["cluster"] or "(account)",
                       "savings": float(r["monthly_savings"])} for r in rows])  # fmt: skip
        .groupby(["engine", "cluster"], as_index=False)["savings"].sum()
    )
    st.plotly_chart(
        px.bar(by_engine, x="engine", y="savings", color="cluster", labels={"savings": "$ / month"}, height=280),
        use_container_width=True,
    )
    table = pd.DataFrame(
        [{"Engine": r["engine"], "Cluster": r["cluster"] or "", "Target": r["target"], "Action": r["action"],
          "Savings / month": float(r["monthly_savings"]), "Current": float(r["current_monthly_cost"]),
          "Projected": float(r["projected_monthly_cost"]), "Risk": r["risk"], "Confidence": r["confidence"],
          "Status": r["status"]} for r in rows]  # fmt: skip
    )
    event = st.dataframe(
        table, hide_index=True, use_container_width=True, on_select="rerun", selection_mode="single-row",
        key="rec_table",
        column_config={c: st.column_config.NumberColumn(format="$%.2f") for c in ("Savings / month", "Current", "Projected")},
    )  # fmt: skip
    st.download_button("Export CSV", render(rows, "csv"), "recommendations.csv", "text/csv")
    selected = event.selection.rows if event and event.selection else []
    chosen = rows[selected[0]] if selected else rows[0]
    st.subheader(f"{chosen['action']} · {chosen['target']}")
    st.write(chosen["rationale"])
    c1, c2, c3 = st.columns(3)
    c1.metric("Current / month", usd(chosen["current_monthly_cost"]))
    c2.metric("Projected / month", usd(chosen["projected_monthly_cost"]))
    c3.metric("Saving / month", usd(chosen["monthly_savings"]))
    st.caption(f"Fingerprint {chosen['fingerprint']} · last seen {when(chosen['last_seen_at'])}")
    e1, e2 = st.columns(2)
    e1.markdown("**Evidence**")
    e1.json(chosen["evidence"], expanded=True)
    e2.markdown("**Action**")
    e2.json(chosen["action_spec"], expanded=True)
else:
    st.info("No recommendation matches these filters.")

latest_per_cluster: dict[str | None, dict[str, Any]] = {}
for run in latest_scan_runs(db, limit=100):  # newest first: keep each cluster's latest run
    latest_per_cluster.setdefault(run["cluster"], run)
skipped = [dict(s, cluster=run["cluster"] or "") for run in latest_per_cluster.values() for s in run["skipped"]]
with st.expander(f"Skipped in the latest scan of each cluster ({len(skipped)})", expanded=False):
    if skipped:
        st.dataframe(pd.DataFrame(skipped)[["engine", "cluster", "target", "reason"]], hide_index=True,
                     use_container_width=True)  # fmt: skip
    else:
        st.write("Nothing was skipped.")
