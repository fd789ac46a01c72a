"""The Engines page's pieces: per cluster, each engine's switch, last-scan numbers and savings, and
the settings form built from its Settings model (per-field errors, reset after confirmation,
and an edit conflict between two admins shown without losing what the second one typed).

The form remembers the settings version it was built from (`st.session_state`), so a save over
someone else's newer save raises SettingsConflict in the service; the widgets keep the submitted
values until the admin reloads the stored ones. Non-admins see values, not widgets; the services
refuse them anyway. Used by pages/engines.py.
"""

from __future__ import annotations

import inspect
from typing import Any

import streamlit as st
from pydantic import BaseModel
from sqlalchemy import Engine

from app.services.access import Principal
from app.services.cluster_admin import EngineStats
from app.services.engine_settings import (
    EngineSettingsError,
    SettingsConflict,
    has_stored_settings,
    load_engine_settings,
    reset_engine_settings,
    save_engine_settings,
    settings_version,
)
from app.services.engine_toggles import set_engine_enabled
from app.ui.format import md_escape, usd, when
from app.ui.messages import error_banner
from app.ui.settings_form import defaults_rows, label_of, settings_form, value_text, widget_keys
from engines.contract import Engine as DecisionEngine

NOTICE_KEY = "engines_notice"
CONFIRM_KEY = "engines_confirm_reset"


def help_text(engine: DecisionEngine[Any]) -> tuple[str, str]:
    """(first line, the rest) of the engine class's docstring."""
    doc = inspect.cleandoc(type(engine).__doc__ or engine.title)
    first, _, rest = doc.partition("\n")
    return first.strip(), rest.strip()


def stats_rows(engines: list[DecisionEngine[Any]], stats: dict[str, EngineStats], off: set[str]) -> list[dict[str, Any]]:
    rows = []
    for e in engines:
        s = stats[e.name]
        rows.append({
            "Engine": e.title, "Key": e.name, "Enabled": e.name not in off, "Last scan": when(s.scanned_at),
            "Recommendations": s.recommendations, "Skipped": s.skipped, "Identified / month": usd(s.monthly_savings),
            "Seconds": round(s.seconds, 2), "Open savings / month": usd(s.open_savings), "Error": s.error or "",
        })  # fmt: skip
    return rows


def savings_chart(engines: list[DecisionEngine[Any]], stats: dict[str, EngineStats]) -> Any:
    import plotly.graph_objects as go

    titles = [e.title for e in engines]
    figure = go.Figure([
        go.Bar(name="identified at the last scan", x=titles, y=[float(stats[e.name].monthly_savings) for e in engines]),
        go.Bar(name="open now", x=titles, y=[float(stats[e.name].open_savings) for e in engines]),
    ])  # fmt: skip
    figure.update_layout(barmode="group", height=300, margin={"t": 30, "b": 10}, yaxis_title="USD per month",
                         legend={"orientation": "h"})  # fmt: skip
    return figure


def _toggle(db: Engine, cluster_id: int, name: str, key: str, who: Principal) -> None:
    on = bool(st.session_state[key])
    try:
        set_engine_enabled(db, cluster_id, name, on, actor=who)
    except PermissionError as exc:
        st.session_state[key] = not on  # the switch shows what is stored
        st.session_state[NOTICE_KEY] = ("error", str(exc))
    else:
        st.session_state[NOTICE_KEY] = ("success", f"{name} {'enabled' if on else 'disabled'}: the next scan "
                                        f"{'runs' if on else 'skips'} it.")  # fmt: skip


def switches(db: Engine, cluster_id: int, cluster: str, engines: list[DecisionEngine[Any]], off: set[str],
             who: Principal) -> None:  # fmt: skip
    """One switch per engine for this cluster (admins only)."""
    columns = st.columns(4)
    for i, e in enumerate(engines):
        key = f"engine_on.{cluster}.{e.name}"
        if key not in st.session_state:
            st.session_state[key] = e.name not in off
        columns[i % 4].toggle(e.title, key=key, on_change=_toggle, args=(db, cluster_id, e.name, key, who),
                              help=f"Run {e.name} in scans of {cluster}")  # fmt: skip


def show_notice() -> None:
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        kind, text = notice
        getattr(st, kind)(md_escape(text), icon=":material/task_alt:" if kind == "success" else ":material/error:")


def _version_key(prefix: str) -> str:
    return f"engines_version.{prefix}"


def _forget(prefix: str, model_type: type[BaseModel]) -> None:
    # Widgets rebuilt from what is stored, and the version re-read with them.
    for key in [*widget_keys(model_type, prefix), _version_key(prefix)]:
        st.session_state.pop(key, None)


def _reset(db: Engine, cluster_id: int, engine: DecisionEngine[Any], prefix: str, where: str, who: Principal) -> None:
    st.session_state.pop(CONFIRM_KEY, None)
    try:
        removed = reset_engine_settings(db, cluster_id, engine, actor=who)
    except PermissionError as exc:
        st.session_state[NOTICE_KEY] = ("error", str(exc))
        return
    _forget(prefix, engine.Settings)
    st.session_state[NOTICE_KEY] = ("success", f"Reset {where} to the defaults; they apply from the next scan."
                                    if removed else f"{where} were already the defaults.")  # fmt: skip


def _ask(value: str | None) -> None:
    st.session_state[CONFIRM_KEY] = value


def _current(db: Engine, cluster_id: int, engine: DecisionEngine[Any]) -> Any:
    try:
        return load_engine_settings(db, cluster_id, engine)
    except EngineSettingsError as exc:
        error_banner(f"{exc}. Showing the defaults; saving replaces the stored values, or reset them below.")
        return engine.Settings()


def settings_editor(db: Engine, cluster_id: int, cluster: str, engine: DecisionEngine[Any], who: Principal) -> None:
    """The admin's form for one engine on one cluster."""
    prefix, where = f"{cluster}.{engine.name}", f"{engine.title} settings for {cluster}"
    version_key = _version_key(prefix)
    # The version the widgets are filled from: re-read whenever they are (re)built from the stored
    # values (first visit, back from another page, after a reload), kept while they hold typed ones.
    # Read before the values, so a save in between shows as a conflict, never a silent overwrite.
    if version_key not in st.session_state or not any(k in st.session_state for k in widget_keys(engine.Settings, prefix)):
        st.session_state[version_key] = settings_version(db, cluster_id, engine)
    current = _current(db, cluster_id, engine)
    with st.form(key=f"form.{prefix}"):
        form = settings_form(current, key_prefix=prefix)
        submitted = st.form_submit_button("Save settings", type="primary")
    if submitted:
        try:
            save_engine_settings(db, cluster_id, engine, form.values, actor=who,
                                 expected_version=int(st.session_state[version_key]))  # fmt: skip
        except SettingsConflict as exc:
            st.error(f"Not saved: {md_escape(exc)}. Your values are still in the form above.", icon=":material/sync_problem:")
            with st.expander("Values stored now"):
                st.table(_value_rows(_current(db, cluster_id, engine)), hide_index=True)
            st.button("Reload the stored values (discards yours)", key="engines_reload",
                      on_click=_forget, args=(prefix, engine.Settings))  # fmt: skip
        except EngineSettingsError as exc:
            form.show_errors(exc.field_errors)
            names = ", ".join(md_escape(label_of(n)) for n in exc.field_errors)
            st.error(f"Not saved: check {names} (the messages are under each field). Nothing was stored.",
                     icon=":material/error:")  # fmt: skip
        except PermissionError as exc:
            st.error(md_escape(exc), icon=":material/block:")
        else:
            st.session_state[version_key] = settings_version(db, cluster_id, engine)
            st.success(f"Saved {md_escape(where)}; they apply from the next scan.")
    _reset_control(db, cluster_id, engine, prefix, where, who)


def _reset_control(db: Engine, cluster_id: int, engine: DecisionEngine[Any], prefix: str, where: str,
                   who: Principal) -> None:  # fmt: skip
    stored = has_stored_settings(db, cluster_id, engine)
    if st.session_state.get(CONFIRM_KEY) == prefix:
        st.warning(f"Delete the stored {md_escape(where)}? The engine's defaults (below) apply from the next scan.")
        y, n, _ = st.columns([1, 1, 4])
        y.button("Yes, reset", key="engines_reset_yes", type="primary", on_click=_reset,
                 args=(db, cluster_id, engine, prefix, md_escape(where), who))  # fmt: skip
        n.button("Cancel", key="engines_reset_no", on_click=_ask, args=(None,))
    else:
        st.button("Reset to defaults", key="engines_reset", icon=":material/restart_alt:", disabled=not stored,
                  on_click=_ask, args=(prefix,),
                  help="Delete the stored values of this engine for this cluster" if stored else "Nothing is stored: the defaults apply")  # fmt: skip


def _value_rows(model: BaseModel) -> list[dict[str, str]]:
    fields = type(model).model_fields
    return [{"Setting": md_escape(label_of(n)), "Value": md_escape(value_text(getattr(model, n), info, n)),
             "Meaning": md_escape(info.description or "")} for n, info in fields.items()]  # fmt: skip


def settings_view(db: Engine, cluster_id: int, engine: DecisionEngine[Any]) -> None:
    """What a viewer or analyst sees: the values in force, read-only."""
    st.caption("Only admins change engine settings.")
    st.table(_value_rows(_current(db, cluster_id, engine)), hide_index=True)


def defaults_table(engine: DecisionEngine[Any]) -> None:
    with st.expander("Defaults of this engine"):
        st.table([{k: md_escape(v) for k, v in row.items()} for row in defaults_rows(engine.Settings)], hide_index=True)
