"""The Overview's dashboard panels: stat cards, the savings trend, savings by engine and by
cluster, the estate's cost breakdown, and the top open recommendations with Apply.

Every figure comes from `app.services.dashboard` (SQL aggregates); the charts are Plotly
(`app.ui.charts`), money is formatted with `usd`, and a cost that was not collected says so.
Apply reuses the Recommendations page's confirmation (`app.ui.rec_actions`); a viewer sees the
table without it. Used by pages/overview.py.
"""

from __future__ import annotations

from decimal import Decimal

import streamlit as st
from sqlalchemy import Engine

from app.services.access import Permission
from app.services.conflicts import SavingsTotal
from app.services.dashboard import (
    applied_this_month,
    cost_breakdown,
    open_savings_by,
    realized,
    savings_trend,
    top_open,
)
from app.ui.auth import can
from app.ui.charts import cost_breakdown_chart, savings_by_cluster_chart, savings_chart, savings_trend_chart
from app.ui.format import md_escape, usd
from app.ui.rec_actions import apply_button

TOP_KEY = "overview_top"


def stat_cards(db: Engine, clusters: int, monthly_cost: Decimal | None, identified: SavingsTotal) -> None:
    """Clusters, current monthly cost, identified / applied / realized savings (the first row)."""
    applied = applied_this_month(db)
    ledger = realized(db)
    c0, c1, c2, c3, c4 = st.columns([1, 2, 2, 2, 2])
    c0.metric("Clusters", clusters)
    c1.metric("Cluster cost / month", usd(monthly_cost),
              help="The nodes of the connected clusters. Open savings also count account-level resources "
                   "(idle instances, unattached volumes) outside it: see the cost breakdown below.")  # fmt: skip
    c2.metric("Open savings / month", usd(identified.counted),
              help="Identified: open recommendations, each target counted once, snoozed ones left out.")  # fmt: skip
    c3.metric("Applied this month", usd(applied.monthly_savings),
              help=f"{applied.executions} execution(s) succeeded this calendar month (UTC); their recommendations' "
                   "monthly savings.")  # fmt: skip
    c4.metric("Realized / month", usd(ledger.monthly_savings) if ledger.measured else "—",
              help=("Not measured yet. " if not ledger.measured else "") + f"The savings ledger: {ledger.measured} of "
                   f"{ledger.changes} change(s) in place measured after the fact (expected "
                   f"{usd(ledger.expected_monthly_savings)} / month).")  # fmt: skip
    if identified.note:
        st.caption(md_escape(identified.note), help="Recommendations of different engines on the same node, "
                   "instance, volume or workload: applying one makes the other moot.")  # fmt: skip


def trend_panel(db: Engine) -> None:
    st.subheader("Savings over time")
    points = savings_trend(db)
    if not points:
        st.caption("No savings identified, applied or measured in the last 90 days yet.")
        return
    st.plotly_chart(savings_trend_chart(points), width="stretch", key="overview_trend")
    last = points[-1]
    st.caption(md_escape(f"Last 90 days, cumulative: identified {usd(last.identified)} / month, applied "
                         f"{usd(last.applied)} / month, realized {usd(last.realized)} / month."))  # fmt: skip


def savings_panels(db: Engine) -> None:
    slices = open_savings_by(db)
    if not slices:
        return
    rows = [{"engine": s.engine, "cluster": s.cluster, "savings": s.monthly_savings} for s in slices]
    left, right = st.columns(2)
    left.markdown("**Open savings by engine**")
    left.plotly_chart(savings_chart(rows), width="stretch", key="overview_by_engine")
    right.markdown("**Open savings by cluster**")
    right.plotly_chart(savings_by_cluster_chart(rows), width="stretch", key="overview_by_cluster")


def cost_panel(db: Engine) -> None:
    st.subheader("Where the money goes")
    lines = cost_breakdown(db)
    chart, table = st.columns([3, 2])
    if any(line.monthly_cost for line in lines):
        chart.plotly_chart(cost_breakdown_chart(lines), width="stretch", key="overview_costs")
    table.dataframe([{"Category": line.category,
                      "Monthly cost": usd(line.monthly_cost) if line.monthly_cost is not None else "not collected",
                      "Source": line.note} for line in lines],
                    hide_index=True, width="stretch", key="overview_cost_table")  # fmt: skip


def top_panel(db: Engine) -> None:
    """The ten open recommendations with the biggest saving; an analyst selects one to apply it."""
    st.subheader("Top recommendations")
    top = top_open(db)
    if not top:
        st.caption("No open recommendation.")
        return
    rows = [{"Engine": r.engine, "Cluster": r.cluster or "", "Target": r.target, "Action": r.action,
             "Savings / month": float(r.monthly_savings), "Risk": r.risk} for r in top]  # fmt: skip
    config = {"Savings / month": st.column_config.NumberColumn(format="$%.2f")}
    if not can(Permission.APPLY):
        st.dataframe(rows, hide_index=True, width="stretch", key=TOP_KEY, column_config=config)
        return
    event = st.dataframe(rows, hide_index=True, width="stretch", key=TOP_KEY, column_config=config,
                         on_select="rerun", selection_mode="single-row")  # fmt: skip
    picked = list(event.selection.rows) if event and event.selection else []
    if not picked or picked[0] >= len(top):
        st.caption("Select a row to apply it (with the same confirmation as on the Recommendations page).")
        return
    rec = top[picked[0]]
    st.markdown(f"**{md_escape(rec.action)}** on **{md_escape(rec.target)}**: {md_escape(rec.rationale)}")
    apply_button(db, rec, key="overview_apply")


def charts(db: Engine) -> None:
    """Everything below the cluster table: trend, savings split, cost breakdown, top ten."""
    trend_panel(db)
    savings_panels(db)
    cost_panel(db)
    top_panel(db)
