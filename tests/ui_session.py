"""Sign an AppTest in: a real account and session in the test's database, its token in the
session state, exactly as the sign-in form leaves it (the entrypoint resolves it on every run)."""

from __future__ import annotations

from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.db import make_engine
from app.services.users import add_user, list_users, sign_in
from app.settings import AuthSettings, load_settings
from app.ui.auth import TOKEN_KEY

PASSWORD = "correct horse battery"


def account(engine: Engine, role: str = "admin", name: str | None = None) -> str:
    """The user `name` (default: the role's name) with PASSWORD, created once per database."""
    name = name or role
    if not any(u.username == name for u in list_users(engine)):
        add_user(engine, name, role, PASSWORD, actor="test")
    return name


def sign_in_as(at: AppTest, role: str = "admin", name: str | None = None) -> AppTest:
    """Put a live session token for `role` into `at` (call before the first `run`), in the
    database the settings of this test point at."""
    engine = make_engine(load_settings().database_url)
    try:
        at.session_state[TOKEN_KEY] = sign_in(engine, account(engine, role, name), PASSWORD, AuthSettings())
    finally:
        engine.dispose()
    return at
