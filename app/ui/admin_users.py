"""The Users and roles tab of the Settings and users page (`pages/admin.py`).

Lists the accounts and adds, re-roles, disables/enables and resets them through
`app.services.users`, which checks the admin's role and writes the audit rows. A generated
password is shown once, right after the click that made it; it is stored nowhere but as a hash.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from app.db.states import Role
from app.services.access import AccessDenied, Principal
from app.services.users import UserError, UserView, add_user, generate_password, list_users, reset_password, update_user
from app.ui.format import md_escape

ROLES = [r.value for r in Role]


def _state(u: UserView) -> str:
    if u.disabled:
        return "disabled"
    return f"locked until {u.locked_until:%Y-%m-%d %H:%M} UTC" if u.locked_until else "active"


def _table(users: list[UserView]) -> pd.DataFrame:
    return pd.DataFrame([{
        "User": u.username, "Name": u.display_name, "Role": u.role.value, "State": _state(u),
        "Last sign-in": f"{u.last_login_at:%Y-%m-%d %H:%M} UTC" if u.last_login_at else "never",
        "Created": f"{u.created_at:%Y-%m-%d}",
    } for u in users])  # fmt: skip


def _password_once(text: str, password: str) -> None:
    st.success(md_escape(f"{text} Copy the password now: it is shown only this once."), icon=":material/key:")
    st.code(password, language=None)


def _add(db: Engine, who: Principal) -> None:
    with st.form("users_add", clear_on_submit=True):
        c1, c2, c3 = st.columns([2, 2, 1])
        name = c1.text_input("User name", key="users_add_name", help="Letters, digits, . _ @ -")
        display = c2.text_input("Display name", key="users_add_display")
        role = c3.selectbox("Role", ROLES, index=0, key="users_add_role")
        submitted = st.form_submit_button("Add user", type="primary")
    if not submitted:
        return
    password = generate_password()
    try:
        user = add_user(db, name.strip(), role, password, actor=who, display_name=display.strip())
    except (UserError, AccessDenied) as exc:
        st.error(f"Not added: {md_escape(exc)}")
    else:
        _password_once(f"Added {user.role.value} {user.username}.", password)


def _change(db: Engine, who: Principal, users: list[UserView]) -> None:
    st.markdown("**Change an account**")
    names = [u.username for u in users]
    c1, c2 = st.columns([2, 1])
    name = c1.selectbox("Account", names, key="users_pick")
    user = next(u for u in users if u.username == name)
    role = c2.selectbox("Role", ROLES, index=ROLES.index(user.role.value), key=f"users_role.{name}")
    b1, b2, b3 = st.columns(3)
    try:
        if b1.button("Change role", key="users_set_role", disabled=role == user.role.value,
                     help="Takes effect on the user's next click; their sessions end"):  # fmt: skip
            update_user(db, name, actor=who, role=role)
            st.session_state["users_notice"] = f"{name} is now a {role}; their sessions ended."
            st.rerun()
        toggle = "Enable account" if user.disabled else "Disable account"
        if b2.button(toggle, key="users_toggle"):
            update_user(db, name, actor=who, disabled=not user.disabled)
            st.session_state["users_notice"] = f"{name} is {'enabled' if user.disabled else 'disabled; their sessions ended'}."
            st.rerun()
        if b3.button("Reset password", key="users_reset", help="Generates a new password, unlocks the account"):
            _password_once(f"New password for {name}; the account is unlocked and its sessions ended.",
                           reset_password(db, name, actor=who))  # fmt: skip
    except (UserError, AccessDenied) as exc:
        st.error(f"Not changed: {md_escape(exc)}")


def users_tab(db: Engine, who: Principal) -> None:
    st.subheader("Users and roles")
    st.caption("viewer reads; analyst also applies, dismisses, snoozes, exports and plans; admin also "
               "changes settings, clusters, uploads and users.")  # fmt: skip
    notice = st.session_state.pop("users_notice", None)
    if notice:
        st.success(md_escape(notice))
    _add(db, who)  # first, so an account it adds is in the table and the list below
    users = list_users(db)
    if users:
        st.dataframe(_table(users), hide_index=True, width="stretch")
        _change(db, who, users)
