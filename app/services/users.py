"""Local accounts and signed-in sessions: argon2id hashes, per-account sign-in rate limiting, and
sessions that expire (idle timeout and absolute lifetime).

Called by `cloudoptim users ...`, `cloudoptim demo` (its generated admin), the sign-in form in
`app.ui.auth` and the admin's Users page. Only the SHA-256 of a session token is stored, so a
copy of the database signs nobody in; the token itself lives in the browser session.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db import session_scope
from app.db.models import User, UserSession
from app.db.states import Role
from app.db.tables_recs import AuditEvent
from app.db.types import utcnow
from app.services.access import Actor, Permission, Principal, require
from app.settings import AuthSettings

_HASHER = PasswordHasher()
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
MIN_PASSWORD = 10


class UserError(ValueError):
    """A refused account change or sign-in; the message is shown as is."""


@dataclass(frozen=True)
class UserView:
    username: str
    display_name: str
    role: Role
    disabled: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")


def _role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise UserError(f"{role!r} is no role; use one of {', '.join(r.value for r in Role)}") from None


def add_user(db: Engine, username: str, role: str, password: str, *, actor: Actor, display_name: str = "") -> UserView:
    """Create a local account; refuses a taken name, a bad name or role, a short password."""
    who = require(actor, Permission.USERS)
    if not USERNAME.match(username):
        raise UserError(f"{username!r} is not a user name (letters, digits, . _ @ -; at most 100)")
    chosen = _role(role)
    _check_password(password)
    with session_scope(db) as session:
        if session.exec(select(User).where(User.username == username)).first() is not None:
            raise UserError(f"user {username!r} already exists")
        user = User(username=username, role=chosen, display_name=display_name[:200],
                    password_hash=_HASHER.hash(password))  # fmt: skip
        session.add(user)
        session.add(AuditEvent(actor=who, action="user added", target=f"user/{username}", details={"role": chosen.value}))
        session.flush()
        return _view(user)


def _view(u: User) -> UserView:
    return UserView(u.username, u.display_name, Role(u.role), u.disabled, u.locked_until, u.last_login_at, u.created_at)


def list_users(db: Engine) -> list[UserView]:
    with Session(db) as session:
        return [_view(u) for u in session.exec(select(User).order_by(col(User.username)))]


def update_user(db: Engine, username: str, *, actor: Actor, role: str | None = None, disabled: bool | None = None,
                password: str | None = None) -> UserView:  # fmt: skip
    """Change a user's role, enable/disable it or set a new password (which also unlocks it)."""
    who = require(actor, Permission.USERS)
    with session_scope(db) as session:
        user = session.exec(select(User).where(User.username == username)).first()
        if user is None:
            raise UserError(f"no user is called {username!r}")
        changes: dict[str, object] = {}
        if role is not None and role != user.role:
            if user.username == who and _role(role) != Role.ADMIN:
                raise UserError("you cannot take the admin role from yourself; ask another admin")
            user.role = changes["role"] = _role(role)
        if disabled is not None and disabled != user.disabled:
            if user.username == who and disabled:
                raise UserError("you cannot disable your own account")
            user.disabled = changes["disabled"] = disabled
        if password is not None:
            _check_password(password)
            user.password_hash, user.failed_logins, user.locked_until = _HASHER.hash(password), 0, None
            changes["password"] = "changed"
        if changes:
            session.add(user)
            session.add(AuditEvent(actor=who, action="user changed", target=f"user/{username}", details=changes))
            if disabled or "password" in changes or "role" in changes:
                _end_sessions(session, user)
        return _view(user)


def reset_password(db: Engine, username: str, *, actor: Actor) -> str:
    """Set a generated password (unlocks the account, ends its sessions); returns it to show once."""
    password = generate_password()
    update_user(db, username, actor=actor, password=password)
    return password


def _end_sessions(session: Session, user: User) -> None:
    now = utcnow()
    for row in session.exec(select(UserSession).where(UserSession.user_id == user.id, col(UserSession.ended_at).is_(None))):
        row.ended_at = now
        session.add(row)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(db: Engine, username: str, password: str, auth: AuthSettings, now: datetime | None = None) -> str:
    """Check the password and start a session; returns its token.

    Wrong passwords are counted per account: after `max_failed_logins` in a row the account
    refuses every attempt (even the right password) for `lockout_minutes`. The messages do not
    say whether the account exists.
    """
    now = now or utcnow()
    refused = "wrong user name or password"
    # A refusal that changes the account (a counted failure, a lock) is raised after the commit:
    # session_scope rolls back on an exception, which would forget the failure it counts.
    failure: str | None = None
    with session_scope(db) as session:
        user = session.exec(select(User).where(User.username == username.strip())).first()
        if user is None or not user.password_hash:
            _HASHER.hash(password)  # the same time as a real check: no user-enumeration by timing
            raise UserError(refused)
        if user.locked_until is not None and user.locked_until > now:
            wait = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
            raise UserError(f"too many failed sign-ins: this account is locked for {wait} more minute(s)")
        try:
            _HASHER.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            user.failed_logins += 1
            if user.failed_logins >= auth.max_failed_logins:
                user.locked_until, user.failed_logins = now + timedelta(minutes=auth.lockout_minutes), 0
                session.add(AuditEvent(actor=user.username, action="account locked", target=f"user/{user.username}",
                                       details={"minutes": auth.lockout_minutes}))  # fmt: skip
            session.add(user)
            failure = refused
        else:
            if user.disabled:
                raise UserError("this account is disabled; ask an admin")
            if _HASHER.check_needs_rehash(user.password_hash):  # argon2 parameters moved on since it was set
                user.password_hash = _HASHER.hash(password)
            return _start(session, user, auth, now)
    raise UserError(failure)


def _start(session: Session, user: User, auth: AuthSettings, now: datetime) -> str:
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    session.add(user)
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    session.add(UserSession(token_sha256=_token_hash(token), user_id=user.id, created_at=now, last_seen_at=now,
                            expires_at=now + timedelta(hours=auth.session_max_hours)))  # fmt: skip
    session.add(AuditEvent(actor=user.username, action="signed in", target=f"user/{user.username}"))
    return token


def sign_in_external(db: Engine, username: str, display_name: str, auth: AuthSettings) -> str:
    """A session for an OIDC identity (`st.login`): the account is created on first sign-in with
    `oidc_default_role`; a disabled account is refused."""
    now = utcnow()
    with session_scope(db) as session:
        user = session.exec(select(User).where(User.username == username[:100])).first()
        if user is None:
            user = User(username=username[:100], display_name=display_name[:200], role=Role(auth.oidc_default_role))
            session.add(user)
            session.flush()
        if user.disabled:
            raise UserError("this account is disabled; ask an admin")
        return _start(session, user, auth, now)


class SessionExpired(UserError):
    """The session ended (idle, lifetime, signed out or the account changed): sign in again."""


def resolve_session(db: Engine, token: str, auth: AuthSettings, now: datetime | None = None) -> Principal:
    """The principal of a live session (and its last-seen time moved on), or SessionExpired."""
    now = now or utcnow()
    with session_scope(db) as session:
        row = session.exec(select(UserSession).where(UserSession.token_sha256 == _token_hash(token))).first()
        if row is None or row.ended_at is not None:
            raise SessionExpired("you are signed out; sign in again")
        user = session.get(User, row.user_id)
        idle = now - row.last_seen_at > timedelta(minutes=auth.session_idle_minutes)
        if user is not None and not user.disabled and not idle and now < row.expires_at:
            row.last_seen_at = now
            session.add(row)
            return Principal(user.username, Role(user.role), user.display_name)
        row.ended_at = now  # committed before the refusal is raised: the session stays ended
        session.add(row)
    raise SessionExpired("your session expired; sign in again (nothing was applied)")


def sign_out(db: Engine, token: str) -> None:
    with session_scope(db) as session:
        row = session.exec(select(UserSession).where(UserSession.token_sha256 == _token_hash(token))).first()
        if row is not None and row.ended_at is None:
            row.ended_at = utcnow()
            session.add(row)


def has_users(db: Engine) -> bool:
    with Session(db) as session:
        return session.exec(select(User.id).limit(1)).first() is not None
