"""The Clusters and nodes page's pieces: the cluster table with the state of the last collection,
the node table with CPU and memory request bars, and the admin's forms (add a cluster after a
connection test, remove one after confirmation, check the AWS account behind the credentials).

Every write goes through app.services.cluster_admin, which checks the role itself; these widgets
are only drawn for admins. Used by pages/clusters.py.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from sqlalchemy import Engine

from app.services.access import Principal
from app.services.cluster_admin import (
    ClusterStatus,
    ConnectionFailed,
    NodeUse,
    add_cluster,
    check_aws,
    removal_preview,
    remove_cluster_as,
)
from app.services.clusters import ClusterError
from app.settings import Settings
from app.ui.context import get_prices
from app.ui.format import GIB, md_escape, short_error, usd, when

NOTICE_KEY = "clusters_notice"
CONFIRM_KEY = "clusters_confirm_remove"


def _bar(what: str) -> Any:
    return st.column_config.ProgressColumn(help=f"requests of the node's pods / allocatable {what}", min_value=0.0,
                                           max_value=1.0, format="percent", width="small")  # fmt: skip


NODE_COLUMNS: dict[str, Any] = {"CPU requested": _bar("CPU"), "Memory requested": _bar("memory")}


def show_notice() -> None:
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        kind, text = notice
        getattr(st, kind)(md_escape(text), icon=":material/task_alt:" if kind == "success" else ":material/error:")


def _health(c: ClusterStatus) -> str:
    if c.last_error:
        return "failing"
    if c.collected_at is None:
        return "never collected"
    return "ok"


def cluster_rows(clusters: list[ClusterStatus]) -> list[dict[str, Any]]:
    return [
        {
            "Cluster": c.name, "Status": _health(c), "Context": c.context, "Region": c.region,
            "Account": c.account_id, "Nodes": c.nodes, "Monthly cost": usd(c.monthly_cost),
            "Last collected": when(c.collected_at),
            "Last scan": f"{c.last_scan_status} {when(c.last_scan_at)}" if c.last_scan_status else "never",
            "Usage source": c.usage_source or "none", "Traffic source": c.traffic_source or "none",
            "Last error": short_error(c.last_error or c.last_scan_error, 300),
        }  # fmt: skip
        for c in clusters
    ]


def _share(used: float, total: float) -> float | None:
    return used / total if total > 0 else None


def node_rows(nodes: list[NodeUse]) -> list[dict[str, Any]]:
    return [
        {
            "Node": n.name, "Type": n.instance_type or "", "Zone": n.zone or "", "Capacity": n.capacity_type,
            "Pods": n.pods, "CPU requested": _share(n.cpu_requested, n.cpu_allocatable),
            "CPU (cores)": f"{n.cpu_requested:.2f} / {n.cpu_allocatable:.2f}",
            "Memory requested": _share(n.memory_requested, n.memory_allocatable),
            "Memory (GiB)": f"{n.memory_requested / GIB:.1f} / {n.memory_allocatable / GIB:.1f}",
            "Hourly": usd(n.hourly_cost), "Monthly": usd(n.monthly_cost),
        }  # fmt: skip
        for n in nodes
    ]


def cluster_table(clusters: list[ClusterStatus]) -> None:
    st.dataframe(cluster_rows(clusters), hide_index=True, width="stretch", key="clusters_table",
                 column_config={"Last error": st.column_config.TextColumn(width="large")})  # fmt: skip
    for c in clusters:
        if c.last_error:
            st.warning(f"**{md_escape(c.name)}**: the last collection failed: {md_escape(short_error(c.last_error))} "
                       "(the last good data is still shown)", icon=":material/warning:")  # fmt: skip


def node_table(nodes: list[NodeUse], cluster: str) -> None:
    if not nodes:
        st.info(f"No node of {md_escape(cluster)} has been collected yet; the next scan lists them.")
        return
    st.dataframe(node_rows(nodes), hide_index=True, width="stretch", key="nodes_table", column_config=NODE_COLUMNS)


def add_form(db: Engine, settings: Settings, who: Principal) -> None:
    """Name, context, kubeconfig, region, usage and traffic sources; saved only when the test passes."""
    regions = get_prices().regions()
    with st.form("cluster_add"):
        st.subheader("Add a cluster")
        c1, c2 = st.columns(2)
        name = c1.text_input("Name", key="cluster_add_name", placeholder="prod-east", help="lowercase letters, digits and '-'")
        context = c2.text_input("kubeconfig context", key="cluster_add_context")
        kubeconfig = c1.text_input("kubeconfig path on the server", key="cluster_add_kubeconfig",
                                   help="empty: the configured kubeconfig, else ~/.kube/config")  # fmt: skip
        region = c2.selectbox("AWS region", regions, index=regions.index("us-east-1") if "us-east-1" in regions else 0,
                              key="cluster_add_region")  # fmt: skip
        usage = c1.text_input("Usage source", key="cluster_add_usage",
                              help="a Prometheus URL (http...), or a usage CSV file or directory; empty: none")  # fmt: skip
        traffic = c2.text_input("Traffic source", key="cluster_add_traffic",
                                help="a Prometheus URL, or traffic.csv (or its directory); empty: none")  # fmt: skip
        submitted = st.form_submit_button("Test the connection and add", type="primary")
    if not submitted:
        return
    try:
        with st.spinner("Testing the connection…"):
            cluster, check = add_cluster(db, settings, name=name, context=context, region=str(region),
                                         kubeconfig=kubeconfig, usage_source=usage, traffic_source=traffic, actor=who,
                                         prices=get_prices())  # fmt: skip
    except ConnectionFailed as exc:
        problems = "\n".join(f"- {md_escape(p)}" for p in exc.check.problems)
        st.error(f"The connection test failed; nothing was saved.\n\n{problems}", icon=":material/error:")
    except (ClusterError, PermissionError) as exc:
        st.error(f"Not added: {md_escape(exc)}", icon=":material/error:")
    else:
        st.success(f"Added {md_escape(cluster.name)}: Kubernetes {md_escape(check.server_version)} answered with "
                   f"{check.nodes_seen} node(s). The next scan collects it.", icon=":material/task_alt:")  # fmt: skip


def _remove(db: Engine, name: str, who: Principal) -> None:
    # A button callback: the notice shows on the rerun, whatever the service said.
    st.session_state.pop(CONFIRM_KEY, None)
    try:
        st.session_state[NOTICE_KEY] = ("success", remove_cluster_as(db, name, actor=who).summary().capitalize())
    except (ClusterError, PermissionError) as exc:
        st.session_state[NOTICE_KEY] = ("error", f"Not removed: {exc}")


def _ask(name: str | None) -> None:
    st.session_state[CONFIRM_KEY] = name


def remove_section(db: Engine, names: list[str], who: Principal) -> None:
    st.subheader("Remove a cluster")
    if not names:
        st.caption("No cluster to remove.")
        return
    name = st.selectbox("Cluster to remove", names, key="cluster_remove_name")
    if st.session_state.get(CONFIRM_KEY) != name:
        st.button("Remove…", key="cluster_remove", icon=":material/delete:", on_click=_ask, args=(name,))
        return
    try:
        preview = removal_preview(db, str(name))
    except ClusterError as exc:
        st.error(md_escape(exc))
        return
    kept = f"{preview.executions_kept} execution(s) and {preview.savings_kept} savings entr(ies) are kept"
    st.warning(f"Remove **{md_escape(name)}**? This deletes {preview.recommendations} recommendation(s), "
               f"{preview.scan_runs} scan run(s) and {preview.nodes} node(s) of it; {kept}.")  # fmt: skip
    y, n, _ = st.columns([1, 1, 4])
    y.button("Yes, remove", key="cluster_remove_yes", type="primary", on_click=_remove, args=(db, name, who))
    n.button("Cancel", key="cluster_remove_no", on_click=_ask, args=(None,))


def aws_section(who: Principal) -> None:
    st.subheader("AWS account")
    st.caption("Read through the server's standard boto3 credential chain (environment, profile, instance role); "
               "CloudOptim never stores credentials.")  # fmt: skip
    regions = get_prices().regions()
    region = st.selectbox("Region", regions, index=regions.index("us-east-1") if "us-east-1" in regions else 0,
                          key="aws_check_region")  # fmt: skip
    if not st.button("Check the AWS account", key="aws_check"):
        return
    with st.spinner("Asking AWS…"):
        result = check_aws(str(region), actor=who)
    if result.account_id:
        st.success(f"Account **{md_escape(result.account_id)}** ({md_escape(result.arn)}); "
                   f"{len(result.regions)} regions enabled.", icon=":material/task_alt:")  # fmt: skip
    for problem in result.problems:
        st.error(md_escape(problem), icon=":material/error:")
