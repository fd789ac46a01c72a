"""Streamlit entrypoint (`cloudoptim ui`): settings, database, and explicit page navigation.

Kept inside app/ so Streamlit's legacy pages/ discovery stays off; pages live in ../pages and are
registered here with st.navigation. The DB engine is created once per server process.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.ui.context import get_engine
from app.ui.format import md_escape

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"

st.set_page_config(page_title="CloudOptim", page_icon=":material/savings:", layout="wide")

try:
    get_engine()
except Exception as exc:  # a broken DB URL must show a readable error, not a traceback
    st.error(f"CloudOptim cannot start: {md_escape(exc)}")
    st.stop()

navigation = st.navigation(
    [
        st.Page(PAGES_DIR / "overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page(PAGES_DIR / "recommendations.py", title="Recommendations", icon=":material/lightbulb:",
                url_path="recommendations"),  # fmt: skip
        st.Page(PAGES_DIR / "executions.py", title="Executions", icon=":material/play_circle:", url_path="executions"),
        st.Page(PAGES_DIR / "spot_events.py", title="Spot events", icon=":material/bolt:", url_path="spot-events"),
        st.Page(PAGES_DIR / "schedules.py", title="Schedules", icon=":material/schedule:", url_path="schedules"),
        st.Page(PAGES_DIR / "settings.py", title="Settings", icon=":material/tune:", url_path="settings"),
    ]
)
navigation.run()
