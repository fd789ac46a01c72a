"""Local accounts and sessions (service and CLI): argon2 hashes, per-account sign-in rate limiting,
idle and absolute session expiry, a disabled account or a changed role taking effect on the next
page run, and a viewer's crafted apply refused by the service with nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db.models import Cluster, User, UserSession
from app.db.states import Role
from app.db.tables_recs import AuditEvent, Execution
from app.db.tables_recs import Recommendation as RecRow
from app.db.types import utcnow
from app.services.access import AccessDenied, Principal
from app.services.executions import queue_execution
from app.services.users import (
    SessionExpired,
    UserError,
    add_user,
    reset_password,
    resolve_session,
    sign_in,
    sign_out,
    update_user,
)
from app.settings import AuthSettings, Settings

PASSWORD = "correct horse battery"
AUTH = AuthSettings(max_failed_logins=3, lockout_minutes=15, session_idle_minutes=60, session_max_hours=12)
CLI = [str(Path(sys.executable).parent / "cloudoptim")]


def _user(engine: Engine, name: str = "ana", role: str = "analyst") -> User:
    add_user(engine, name, role, PASSWORD, actor="test")
    with Session(engine) as s:
        return s.exec(select(User).where(User.username == name)).one()


def _row(engine: Engine, name: str = "ana") -> User:
    with Session(engine) as s:
        return s.exec(select(User).where(User.username == name)).one()


def test_only_an_argon2id_hash_of_the_password_is_stored(engine: Engine) -> None:
    user = _user(engine)
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


def test_a_short_password_a_bad_name_and_an_unknown_role_are_refused(engine: Engine) -> None:
    with pytest.raises(UserError, match="at least 10 characters"):
        add_user(engine, "ana", "analyst", "short", actor="test")
    with pytest.raises(UserError, match="is not a user name"):
        add_user(engine, "ana smith", "analyst", PASSWORD, actor="test")
    with pytest.raises(UserError, match="is no role"):
        add_user(engine, "ana", "root", PASSWORD, actor="test")


def test_a_wrong_password_is_counted_and_says_nothing_about_whether_the_account_exists(engine: Engine) -> None:
    _user(engine)
    with pytest.raises(UserError) as wrong:
        sign_in(engine, "ana", "not the password", AUTH)
    with pytest.raises(UserError) as unknown:
        sign_in(engine, "nobody", "not the password", AUTH)
    assert str(wrong.value) == str(unknown.value) == "wrong user name or password"
    assert _row(engine).failed_logins == 1


def test_an_account_locks_after_the_limit_and_then_refuses_even_the_right_password(engine: Engine) -> None:
    _user(engine)
    now = utcnow()
    for _ in range(AUTH.max_failed_logins):
        with pytest.raises(UserError):
            sign_in(engine, "ana", "not the password", AUTH, now=now)
    assert _row(engine).locked_until == now + timedelta(minutes=AUTH.lockout_minutes)
    with pytest.raises(UserError, match="locked for 15 more minute"):
        sign_in(engine, "ana", PASSWORD, AUTH, now=now + timedelta(seconds=5))
    with Session(engine) as s:
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "account locked")).one().actor == "ana"


def test_a_locked_account_signs_in_again_once_the_lockout_is_over(engine: Engine) -> None:
    _user(engine)
    now = utcnow()
    for _ in range(AUTH.max_failed_logins):
        with pytest.raises(UserError):
            sign_in(engine, "ana", "not the password", AUTH, now=now)
    token = sign_in(engine, "ana", PASSWORD, AUTH, now=now + timedelta(minutes=AUTH.lockout_minutes, seconds=1))
    assert token and _row(engine).locked_until is None and _row(engine).failed_logins == 0


def test_a_session_stores_only_the_hash_of_its_token_and_resolves_to_the_principal(engine: Engine) -> None:
    _user(engine)
    token = sign_in(engine, "ana", PASSWORD, AUTH)
    with Session(engine) as s:
        stored = s.exec(select(UserSession)).one()
    assert stored.token_sha256 != token and token not in stored.token_sha256
    assert resolve_session(engine, token, AUTH) == Principal("ana", Role.ANALYST)


def test_a_session_idle_longer_than_the_timeout_expires_and_stays_ended(engine: Engine) -> None:
    _user(engine)
    start = utcnow()
    token = sign_in(engine, "ana", PASSWORD, AUTH, now=start)
    resolve_session(engine, token, AUTH, now=start + timedelta(minutes=59))  # activity moves the idle clock
    idle = start + timedelta(minutes=59 + AUTH.session_idle_minutes + 1)
    with pytest.raises(SessionExpired, match="your session expired"):
        resolve_session(engine, token, AUTH, now=idle)
    with pytest.raises(SessionExpired):
        resolve_session(engine, token, AUTH, now=start + timedelta(minutes=60))


def test_a_session_ends_at_its_absolute_lifetime_however_active(engine: Engine) -> None:
    _user(engine)
    start = utcnow()
    token = sign_in(engine, "ana", PASSWORD, AUTH, now=start)
    for half_hours in range(1, AUTH.session_max_hours * 2):
        resolve_session(engine, token, AUTH, now=start + timedelta(minutes=30 * half_hours))
    with pytest.raises(SessionExpired, match="your session expired"):
        resolve_session(engine, token, AUTH, now=start + timedelta(hours=AUTH.session_max_hours))


def test_disabling_an_account_ends_its_session_and_refuses_a_new_sign_in(engine: Engine) -> None:
    _user(engine)
    token = sign_in(engine, "ana", PASSWORD, AUTH)
    update_user(engine, "ana", actor="admin", disabled=True)
    with pytest.raises(SessionExpired):
        resolve_session(engine, token, AUTH)
    with pytest.raises(UserError, match="disabled"):
        sign_in(engine, "ana", PASSWORD, AUTH)


def test_a_role_changed_in_the_database_takes_effect_on_the_next_resolve(engine: Engine) -> None:
    _user(engine)
    token = sign_in(engine, "ana", PASSWORD, AUTH)
    with Session(engine) as s:
        row = s.exec(select(User).where(User.username == "ana")).one()
        row.role = Role.VIEWER
        s.add(row)
        s.commit()
    assert resolve_session(engine, token, AUTH).role == Role.VIEWER


def test_a_role_change_by_an_admin_ends_the_session_and_the_next_sign_in_has_the_new_role(engine: Engine) -> None:
    _user(engine)
    token = sign_in(engine, "ana", PASSWORD, AUTH)
    update_user(engine, "ana", actor=Principal("admin", Role.ADMIN), role="viewer")
    with pytest.raises(SessionExpired):
        resolve_session(engine, token, AUTH)
    assert resolve_session(engine, sign_in(engine, "ana", PASSWORD, AUTH), AUTH).role == Role.VIEWER


def test_signing_out_ends_the_session(engine: Engine) -> None:
    _user(engine)
    token = sign_in(engine, "ana", PASSWORD, AUTH)
    sign_out(engine, token)
    with pytest.raises(SessionExpired, match="signed out"):
        resolve_session(engine, token, AUTH)


def test_a_reset_password_unlocks_the_account_and_only_the_new_one_signs_in(engine: Engine) -> None:
    _user(engine)
    for _ in range(AUTH.max_failed_logins):
        with pytest.raises(UserError):
            sign_in(engine, "ana", "not the password", AUTH)
    fresh = reset_password(engine, "ana", actor="admin")
    assert sign_in(engine, "ana", fresh, AUTH)
    with pytest.raises(UserError):
        sign_in(engine, "ana", PASSWORD, AUTH)


def test_only_an_admin_may_manage_accounts(engine: Engine) -> None:
    _user(engine)
    analyst = Principal("ana", Role.ANALYST)
    with pytest.raises(AccessDenied, match="needs the admin role"):
        add_user(engine, "mallory", "admin", PASSWORD, actor=analyst)
    with pytest.raises(AccessDenied):
        update_user(engine, "ana", actor=analyst, role="admin")
    assert _row(engine).role == Role.ANALYST


def test_a_viewer_crafting_an_apply_is_refused_by_the_service_and_nothing_is_queued(engine: Engine) -> None:
    with Session(engine) as s:
        cluster = Cluster(name="prod-east", region="us-east-1")
        s.add(cluster)
        s.commit()
        s.add(RecRow(fingerprint="fp1", engine="binpack", target="node/node-a", action_kind="drain-and-remove-node",
                     action={"kind": "drain-and-remove-node", "node": "node-a"}, cluster_id=cluster.id,
                     current_monthly_cost=Decimal("70"), projected_monthly_cost=Decimal("0"),
                     monthly_savings=Decimal("70")))  # fmt: skip
        s.commit()
    with pytest.raises(AccessDenied, match="viewer"):
        queue_execution(engine, "fp1", requested_by=Principal("vic", Role.VIEWER))
    with Session(engine) as s:
        assert s.exec(select(Execution)).all() == []


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "users", *args], capture_output=True, text=True, timeout=120, input=stdin,
                          env=os.environ.copy())  # fmt: skip


def test_the_users_cli_adds_lists_and_changes_accounts(settings: Settings, engine: Engine) -> None:
    added = _cli("add", "alice", "--role", "analyst")
    assert added.returncode == 0, added.stderr
    assert "Created analyst alice." in added.stdout
    password = added.stdout.split("Password (shown once): ")[1].strip()
    assert resolve_session(engine, sign_in(engine, "alice", password, AUTH), AUTH).role == Role.ANALYST
    assert _cli("add", "bob", "--role", "viewer", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    listed = _cli("list").stdout.splitlines()
    assert [line.split()[:3] for line in listed] == [["alice", "analyst", "active"], ["bob", "viewer", "active"]]
    changed = _cli("set", "bob", "--role", "admin", "--disable")
    assert changed.returncode == 0 and "bob: admin, disabled." in changed.stdout
    refused = _cli("add", "alice", "--role", "viewer")
    assert refused.returncode != 0 and "already exists" in refused.stderr
    assert _cli("set", "nobody", "--role", "admin").returncode != 0
    with Session(engine) as s:
        actors = {e.actor for e in s.exec(select(AuditEvent).where(AuditEvent.target == "user/bob"))}
    assert actors and all(a.startswith("cli") for a in actors)  # the operator, not an empty name
