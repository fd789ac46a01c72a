"""Streamlit entrypoint (`cloudoptim ui`): settings, database, and explicit page navigation.

Kept inside app/ so Streamlit's legacy pages/ discovery stays off; pages live in ../pages and are
registered here with st.navigation. The DB engine is created once per server process. Nothing but
the sign-in page runs before a session resolves to a principal; the navigation follows its role.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.services.access import Permission
from app.ui.auth import sign_in_page, sign_out_control, signed_in
from app.ui.context import get_engine
from app.ui.format import md_escape

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"

st.set_page_config(page_title="CloudOptim", page_icon=":material/savings:", layout="wide")

try:
    get_engine()
except Exception as exc:  # a broken DB URL must show a readable error, not a traceback
    st.error(f"CloudOptim cannot start: {md_escape(exc)}")
    st.stop()

who = signed_in()
if who is None:
    st.navigation([st.Page(sign_in_page, title="Sign in", icon=":material/login:")], position="hidden").run()
    st.stop()
sign_out_control(who)


def _page(file: str, title: str, icon: str, url: str | None = None, default: bool = False) -> st.Page:
    return st.Page(PAGES_DIR / file, title=title, icon=f":material/{icon}:", url_path=url, default=default)


# Every role sees the read-only pages; the admin pages are left out of the navigation for the
# others (and their services refuse them anyway).
pages = [
    _page("overview.py", "Overview", "dashboard", default=True),
    _page("plan.py", "Plan", "account_tree", "plan"),
    _page("recommendations.py", "Recommendations", "lightbulb", "recommendations"),
    _page("executions.py", "Executions", "play_circle", "executions"),
    _page("spot_events.py", "Spot events", "bolt", "spot-events"),
    _page("schedules.py", "Schedules", "schedule", "schedules"),
    _page("clusters.py", "Clusters and nodes", "lan", "clusters"),
    _page("engines.py", "Engines", "tune", "engines"),
    _page("models.py", "Models", "model_training", "models"),
]
if who.can(Permission.USERS):
    pages.append(_page("admin.py", "Settings and users", "admin_panel_settings", "admin"))
st.navigation(pages).run()
