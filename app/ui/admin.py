"""The Guardrails and Default schedule tabs of the Settings and users page (`pages/admin.py`).

Each tab is a form over one versioned document of `app.services.app_config`. The version the
form loaded is kept in the session, so when another admin saved in between the save is refused
with who and when, and the form keeps this admin's input (nothing is lost); "Load the latest
values" then replaces the input with what is stored. Errors are drawn under the failing field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st
from sqlalchemy import Engine

from app.services.access import AccessDenied, Principal
from app.services.app_config import (
    GUARDRAILS,
    SCHEDULES,
    ConfigConflict,
    ConfigError,
    ScheduleDefaults,
    StoredDoc,
    load_guardrails,
    load_schedule_defaults,
    save_guardrails,
    save_schedule_defaults,
    stored_doc,
)
from app.settings import Settings
from app.ui.format import md_escape


@dataclass(frozen=True)
class _Field:
    name: str
    label: str
    kind: str  # "lines", "text", "int", "bool"
    help: str


GUARDRAIL_FORM = (
    _Field("protected_namespaces", "Protected namespaces", "lines", "One namespace per line; nothing in them is changed."),
    _Field("opt_out_marks", "Extra opt-out annotations or labels", "lines",
           "One key=value per line; an object carrying one is never touched (checked before every apply)."),
    _Field("max_nodes_drained_per_hour", "Nodes drained per hour (per cluster)", "int",
           "Disruption budget: nodes cordoned and drained per cluster in any hour; 0 = none."),
    _Field("disruption_window", "Disruption window", "text",
           "When node-disrupting actions may run, e.g. 'sat,sun 00:00-06:00'; empty = any time."),
    _Field("disruption_window_timezone", "Window timezone", "text", "IANA timezone of the window, e.g. Europe/Berlin."),
    _Field("dry_run", "Dry run everywhere", "bool", "Plan every action and apply none."),
    _Field("dry_run_clusters", "Dry-run clusters", "lines", "One cluster name per line: planned and shown, never applied."),
)  # fmt: skip
SCHEDULE_FORM = (
    _Field("timezone", "Timezone", "text", "IANA timezone of the office hours, e.g. Europe/Berlin."),
    _Field("default_uptime", "Default office hours", "text",
           "Days and whole hours, e.g. Mon-Fri 08:00-19:00, used when a namespace's history shows none."),
    _Field("holiday_country", "Holiday country", "text", "ISO 3166 code, e.g. DE; empty = no public holidays."),
    _Field("holiday_subdivision", "Holiday subdivision", "text", "e.g. BY for Bavaria; empty = the whole country."),
)  # fmt: skip


def _key(doc: str, field: str) -> str:
    return f"{doc}.{field}"


def _widget(doc: str, f: _Field, current: Any) -> Any:
    key = _key(doc, f.name)
    if f.kind == "lines":
        return st.text_area(f.label, value="\n".join(map(str, current or [])), key=key, help=f.help, height=100)
    if f.kind == "int":
        return st.number_input(f.label, value=int(current), min_value=0, step=1, key=key, help=f.help)
    if f.kind == "bool":
        return st.checkbox(f.label, value=bool(current), key=key, help=f.help)
    return st.text_input(f.label, value=str(current or ""), key=key, help=f.help)


def _value(f: _Field, raw: Any) -> Any:
    if f.kind == "lines":
        return [line.strip() for line in str(raw or "").splitlines() if line.strip()]
    if f.kind == "int":
        return int(raw)
    if f.kind == "bool":
        return bool(raw)
    return str(raw or "")


def _load_latest(doc: str, fields: tuple[_Field, ...]) -> None:
    # A callback: runs before the script, so the widgets below are rebuilt from the stored values.
    for f in fields:
        st.session_state.pop(_key(doc, f.name), None)
    st.session_state.pop(f"{doc}.version", None)


def _caption(stored: StoredDoc, unset: str) -> None:
    if stored.version == 0:
        st.caption(unset)
    else:
        at = f"{stored.updated_at:%Y-%m-%d %H:%M} UTC" if stored.updated_at else "?"
        st.caption(md_escape(f"Version {stored.version}, saved by {stored.updated_by or '?'} at {at}."))


def _doc_form(doc: str, fields: tuple[_Field, ...], current: dict[str, Any], stored: StoredDoc,
              save: Callable[[dict[str, Any], int], StoredDoc], what: str) -> None:  # fmt: skip
    version_key = f"{doc}.version"
    if version_key not in st.session_state or not any(_key(doc, f.name) in st.session_state for f in fields):
        st.session_state[version_key] = stored.version  # a fresh form: the version its values come from
    with st.form(f"{doc}.form"):
        slots = {}
        for f in fields:
            _widget(doc, f, current.get(f.name))
            slots[f.name] = st.empty()
        submitted = st.form_submit_button(f"Save {what}", type="primary")
    if not submitted:
        return
    values = {f.name: _value(f, st.session_state.get(_key(doc, f.name))) for f in fields}
    try:
        saved = save(values, int(st.session_state[version_key]))
    except ConfigError as exc:
        for name, messages in exc.field_errors.items():
            if name in slots:
                slots[name].error(md_escape(" ".join(messages)), icon=":material/error:")
        labels = ", ".join(f.label for f in fields if f.name in exc.field_errors) or md_escape(exc)
        st.error(f"Not saved: check {md_escape(labels)} (the messages are under each field). Nothing was stored.")
    except ConfigConflict as exc:
        st.error(md_escape(exc), icon=":material/sync_problem:")
        st.button("Load the latest values (replaces your input)", key=f"{doc}.reload", on_click=_load_latest,
                  args=(doc, fields))  # fmt: skip
    except AccessDenied as exc:
        st.error(md_escape(exc))
    else:
        st.session_state[version_key] = saved.version
        st.success(f"Saved the {what} (version {saved.version}); the worker uses them from its next execution.")


def guardrails_tab(db: Engine, settings: Settings, who: Principal) -> None:
    """The executor guardrails: the environment's values overlaid with what is stored."""
    st.subheader("Guardrails")
    st.caption("Checked by the worker before every apply, and shown in the Apply review. Timeouts stay "
               "with the environment (CLOUDOPTIM_EXECUTOR__*).")  # fmt: skip
    stored = stored_doc(db, GUARDRAILS)
    _caption(stored, "Nothing stored yet: the environment's values (below) apply.")
    current = load_guardrails(db, settings).model_dump()
    _doc_form(GUARDRAILS, GUARDRAIL_FORM, current, stored,
              lambda values, version: save_guardrails(db, values, actor=who, expected_version=version, settings=settings),
              "guardrails")  # fmt: skip


def schedules_tab(db: Engine, who: Principal) -> None:
    """The default office hours, timezone and public holidays of the office-hours engine."""
    st.subheader("Default schedule and holidays")
    st.caption("The office-hours engine uses these for clusters whose engine settings store none.")
    stored = stored_doc(db, SCHEDULES)
    _caption(stored, "Nothing stored yet: the office-hours engine's defaults (below) apply.")
    current = (load_schedule_defaults(db) or ScheduleDefaults()).model_dump()
    _doc_form(SCHEDULES, SCHEDULE_FORM, current, stored,
              lambda values, version: save_schedule_defaults(db, values, actor=who, expected_version=version),
              "default schedule")  # fmt: skip
