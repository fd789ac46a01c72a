"""Sign-in for the web app: the form, the session token in `st.session_state`, and the principal
every page run resolves (so an expired session or a changed role takes effect on the next click).

The entrypoint calls `signed_in()` before building the navigation; pages call `principal()` and
pass it to the services, which check the role themselves (`app.services.access.require`).
OIDC through `st.login` is offered when `CLOUDOPTIM_AUTH__OIDC=true` and `.streamlit/secrets.toml`
configures a provider; the identity then maps to a local account (created as the default role).
"""

from __future__ import annotations

import streamlit as st

from app.services.access import AccessDenied, Permission, Principal
from app.ui.context import get_engine, get_settings
from app.ui.format import md_escape

TOKEN_KEY = "auth_token"
PRINCIPAL_KEY = "auth_principal"
NOTICE_KEY = "auth_notice"


def principal() -> Principal:
    """The signed-in principal of this run; pages only run after `signed_in()` found one.

    A widget callback (Confirm apply, Dismiss, Save) runs before the script, so before the
    entrypoint re-resolves the session: there the session is resolved again, and an expired or
    ended one raises AccessDenied instead of acting with the principal of the previous run.
    """
    if _in_callback():
        found = signed_in()
        if found is None:
            raise AccessDenied("your session expired; sign in again (nothing was applied)")
        return found
    found = st.session_state.get(PRINCIPAL_KEY)
    if not isinstance(found, Principal):
        found = signed_in()  # a page run on its own (AppTest of one page file)
    if found is None:
        st.error("You are not signed in.")
        st.stop()
    return found


def _in_callback() -> bool:
    """Whether a widget callback is running (the one place that reads Streamlit's run phase)."""
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import RunLocation, ThreadState

        return bool(ThreadState.get().run_location is RunLocation.CALLBACK)
    except (ImportError, AttributeError, RuntimeError):  # bare mode or another Streamlit: resolve every time, the safe side
        return True


def can(permission: Permission) -> bool:
    found = st.session_state.get(PRINCIPAL_KEY)
    return isinstance(found, Principal) and found.can(permission)


def signed_in() -> Principal | None:
    """Resolve this browser session's token to a principal (None: show the sign-in page)."""
    from app.services.users import SessionExpired, resolve_session

    token = st.session_state.get(TOKEN_KEY)
    if not token:
        st.session_state.pop(PRINCIPAL_KEY, None)
        return _oidc_session()
    try:
        found = resolve_session(get_engine(), str(token), get_settings().auth)
    except SessionExpired as exc:
        st.session_state.pop(TOKEN_KEY, None)
        st.session_state.pop(PRINCIPAL_KEY, None)
        st.session_state[NOTICE_KEY] = str(exc)
        return None
    st.session_state[PRINCIPAL_KEY] = found
    return found


def _oidc_session() -> Principal | None:
    if not get_settings().auth.oidc:
        return None
    try:
        user = st.user
        if not user.get("is_logged_in"):
            return None
        name = str(user.get("email") or user.get("sub") or "")
    except Exception:  # st.user without an auth section in secrets.toml: OIDC is not configured
        return None
    if not name:
        return None
    from app.services.users import UserError, sign_in_external

    try:
        st.session_state[TOKEN_KEY] = sign_in_external(get_engine(), name, str(user.get("name") or ""), get_settings().auth)
    except UserError as exc:
        st.session_state[NOTICE_KEY] = str(exc)
        return None
    return signed_in()


def sign_in_page() -> None:
    """The sign-in form (the only page before sign-in)."""
    from app.services.users import UserError, has_users, sign_in

    st.title("Sign in to CloudOptim")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.warning(md_escape(notice))
    db = get_engine()
    if not has_users(db):
        st.info("No account exists yet. Create the first admin on the server: "
                "`cloudoptim users add NAME --role admin` (it prints the password).")  # fmt: skip
    with st.form("sign_in"):
        username = st.text_input("User name", key="sign_in_user")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            st.session_state[TOKEN_KEY] = sign_in(db, username, password, get_settings().auth)
        except UserError as exc:
            st.error(md_escape(exc))
        else:
            st.rerun()
    if get_settings().auth.oidc:
        st.divider()
        if st.button("Sign in with your identity provider", key="sign_in_oidc"):
            st.login()


def sign_out_control(who: Principal) -> None:
    """The sidebar's account line and Sign out button."""
    from app.services.users import sign_out

    st.sidebar.caption(md_escape(f"Signed in as {who.label} ({who.role.value})"))
    if st.sidebar.button("Sign out", key="sign_out"):
        token = st.session_state.pop(TOKEN_KEY, None)
        st.session_state.pop(PRINCIPAL_KEY, None)
        if token:
            sign_out(get_engine(), str(token))
        st.rerun()
