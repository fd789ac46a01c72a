"""Clusters and nodes page: connected clusters with their last collection, each node's requests vs
allocatable, zone, type, capacity type and price; admins add (after a connection test) and remove
clusters and check the AWS account."""

from __future__ import annotations

import streamlit as st

from app.services.access import Permission
from app.services.cluster_admin import cluster_nodes, list_clusters
from app.ui.auth import principal
from app.ui.clusters import add_form, aws_section, cluster_table, node_table, remove_section, show_notice
from app.ui.context import get_engine, get_settings

st.title("Clusters and nodes")
db, settings, who = get_engine(), get_settings(), principal()
show_notice()
clusters = list_clusters(db)
if not clusters:
    st.info("No cluster is connected yet: add one below (admins), or run `cloudoptim demo` or "
            "`cloudoptim clusters add`.", icon=":material/info:")  # fmt: skip
else:
    cluster_table(clusters)
    by_name = {c.name: c for c in clusters}
    chosen = st.selectbox("Nodes of", list(by_name), key="nodes_cluster")
    node_table(cluster_nodes(db, by_name[str(chosen)].id), str(chosen))

if who.can(Permission.CLUSTERS):
    st.divider()
    add_form(db, settings, who)
    remove_section(db, [c.name for c in clusters], who)
    aws_section(who)
