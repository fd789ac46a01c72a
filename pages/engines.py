"""Engines page: per cluster, each engine's switch, last-scan numbers and savings, its help and its
settings (admins edit them; others read them), then the uploaded engine modules."""

from __future__ import annotations

import streamlit as st

from app.services.access import Permission
from app.services.cluster_admin import engine_stats
from app.services.engine_toggles import disabled_engines
from app.services.overview import cluster_ids
from app.ui.auth import principal
from app.ui.context import get_engine, get_registry
from app.ui.engine_uploads import upload_section
from app.ui.engines import (
    defaults_table,
    help_text,
    savings_chart,
    settings_editor,
    settings_view,
    show_notice,
    stats_rows,
    switches,
)
from app.ui.format import md_escape

st.title("Engines")
db, registry, who = get_engine(), get_registry(), principal()
admin = who.can(Permission.SETTINGS)
show_notice()
clusters = cluster_ids(db)
if not clusters:
    st.info("No cluster is connected yet: add one on the Clusters and nodes page, or run `cloudoptim demo`.",
            icon=":material/info:")  # fmt: skip
else:
    cluster = str(st.selectbox("Cluster", list(clusters), key="engines_cluster"))
    cluster_id = clusters[cluster]
    engines = [registry.get(n) for n in registry.names()]
    stats, off = engine_stats(db, cluster_id, registry.names()), disabled_engines(db, cluster_id)
    st.dataframe(stats_rows(engines, stats, off), hide_index=True, width="stretch", key="engines_table")
    st.plotly_chart(savings_chart(engines, stats), width="stretch", key="engines_savings_chart")
    if admin:
        st.subheader("Run in scans of this cluster")
        switches(db, cluster_id, cluster, engines, off, who)

    st.subheader("Settings")
    name = str(st.selectbox("Engine", registry.names(), format_func=lambda n: registry.get(n).title,
                            key="engines_engine"))  # fmt: skip
    engine = registry.get(name)
    first, rest = help_text(engine)
    st.caption(md_escape(first))
    if rest:
        with st.expander(f"About {md_escape(engine.title)}"):
            st.markdown(md_escape(rest))
    if admin:
        settings_editor(db, cluster_id, cluster, engine, who)
    else:
        settings_view(db, cluster_id, engine)
    defaults_table(engine)

st.divider()
st.header("Uploaded engines")
upload_section(db)
