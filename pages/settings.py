"""Settings page: per-cluster engine settings (validated on save, errors under the failing field,
reset to defaults after confirmation), and each engine's defaults."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app.services.engine_settings import (
    EngineSettingsError,
    has_stored_settings,
    load_engine_settings,
    reset_engine_settings,
    save_engine_settings,
)
from app.services.overview import cluster_ids
from app.ui.context import get_engine, get_registry
from app.ui.format import md_escape
from app.ui.messages import error_banner
from app.ui.settings_form import defaults_rows, label_of, settings_form, widget_keys

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
prefix = f"{cluster_name}.{engine_name}"
where = f"{engine.title} settings for {cluster_name}"


def _reset(keys: list[str]) -> None:
    # Runs before the script, so the widgets below are rebuilt from the defaults.
    removed = reset_engine_settings(db, cluster_id, engine)
    for key in keys:
        st.session_state.pop(key, None)
    st.session_state.pop("settings_confirm_reset", None)
    st.session_state["settings_notice"] = (
        f"Reset {md_escape(where)} to the defaults; they apply from the next scan."
        if removed else f"{md_escape(where)} were already the defaults."
    )  # fmt: skip


def _ask(value: str | None) -> None:
    st.session_state["settings_confirm_reset"] = value


try:
    current: Any = load_engine_settings(db, cluster_id, engine)
except EngineSettingsError as exc:
    error_banner(f"{exc}. Showing the defaults; saving replaces the stored values, or reset them below.")
    current = engine.Settings()

notice = st.session_state.pop("settings_notice", None)
if notice:
    st.success(notice)

st.caption(md_escape((type(engine).__doc__ or "").strip().splitlines()[0]))
with st.form(key=f"form.{prefix}"):
    form = settings_form(current, key_prefix=prefix)
    submitted = st.form_submit_button("Save settings", type="primary")
if submitted:
    try:
        save_engine_settings(db, cluster_id, engine, form.values)
    except EngineSettingsError as exc:
        form.show_errors(exc.field_errors)
        names = ", ".join(md_escape(label_of(n)) for n in exc.field_errors)
        st.error(f"Not saved: check {names} (the messages are under each field). Nothing was stored.",
                 icon=":material/error:")  # fmt: skip
    else:
        st.success(f"Saved {md_escape(where)}; they apply from the next scan.")

stored = has_stored_settings(db, cluster_id, engine)
if st.session_state.get("settings_confirm_reset") == prefix:
    st.warning(f"Delete the stored {md_escape(where)}? The engine's defaults (below) apply from the next scan.")
    y, n, _ = st.columns([1, 1, 4])
    y.button("Yes, reset", key="settings_reset_yes", type="primary", on_click=_reset,
             args=(widget_keys(engine.Settings, prefix),))  # fmt: skip
    n.button("Cancel", key="settings_reset_no", on_click=_ask, args=(None,))
else:
    st.button("Reset to defaults", key="settings_reset", icon=":material/restart_alt:", disabled=not stored,
              on_click=_ask, args=(prefix,),
              help="Delete the stored values of this engine for this cluster" if stored else "Nothing is stored: the defaults apply")  # fmt: skip

with st.expander("Defaults of this engine"):
    st.table(
        [{k: md_escape(v) for k, v in row.items()} for row in defaults_rows(engine.Settings)],
        hide_index=True,
    )
