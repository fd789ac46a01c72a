"""Settings and users (admins): guardrails, the default schedule and holidays, accounts and roles,
and the audit log. Listed in the navigation only for admins; every save is checked again by its
service, so reaching this file some other way changes nothing."""

from __future__ import annotations

import streamlit as st

from app.services.access import Permission
from app.ui.admin import guardrails_tab, schedules_tab
from app.ui.admin_users import users_tab
from app.ui.audit import audit_tab
from app.ui.auth import principal
from app.ui.context import get_engine, get_settings

st.title("Settings and users")
who = principal()
if not who.can(Permission.USERS):
    st.error(f"Settings and users is for admins; you are signed in as a {who.role.value}.")
    st.stop()

db = get_engine()
guardrails, schedules, users, audit = st.tabs(["Guardrails", "Default schedule", "Users and roles", "Audit log"])
with guardrails:
    guardrails_tab(db, get_settings(), who)
with schedules:
    schedules_tab(db, who)
with users:
    users_tab(db, who)
with audit:
    audit_tab(db, who)
