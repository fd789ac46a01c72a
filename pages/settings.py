"""Settings page: per-cluster engine settings (validated on save) and the registered clusters."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.services.engine_settings import EngineSettingsError, load_engine_settings, save_engine_settings
from app.services.overview import cluster_ids
from app.ui.context import get_engine, get_registry
from app.ui.settings_form import settings_form

st.title("Settings")
db = get_engine()
registry = get_registry()
clusters = cluster_ids(db)
if not clusters:
    st.info("No cluster is connected yet: run `cloudoptim demo` or `cloudoptim clusters add`.")
    st.stop()

c1, c2 = st.columns(2)
cluster_name = c1.selectbox("Cluster", list(clusters), key="settings_cluster")
engine_name = c2.selectbox("Engine", registry.names(), format_func=lambda n: registry.get(n).title, key="settings_engine")
engine = registry.get(engine_name)
cluster_id = clusters[cluster_name]

try:
    current = load_engine_settings(db, cluster_id, engine)
except EngineSettingsError as exc:
    st.warning(f"{exc}. Showing the defaults; saving replaces the stored values.")
    current = engine.Settings()

st.caption((type(engine).__doc__ or "").strip().splitlines()[0])
with st.form(key=f"form.{cluster_name}.{engine_name}"):
    values = settings_form(current, key_prefix=f"{cluster_name}.{engine_name}")
    submitted = st.form_submit_button("Save settings", type="primary")
if submitted:
    try:
        save_engine_settings(db, cluster_id, engine, values)
    except EngineSettingsError as exc:
        st.error(str(exc))
    else:
        st.success(f"Saved {engine.title} settings for {cluster_name}; they apply from the next scan.")

with st.expander("Defaults of this engine"):
    st.dataframe(
        pd.DataFrame([{"Setting": n, "Default": str(getattr(engine.Settings(), n)), "Meaning": f.description}
                      for n, f in engine.Settings.model_fields.items()]),  # fmt: skip
        hide_index=True,
        use_container_width=True,
    )
