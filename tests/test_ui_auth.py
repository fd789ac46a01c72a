"""Signing in to the web app (AppTest on the entrypoint): the form's messages for a wrong password
and a locked account, the role-aware navigation after sign-in, signing out, and a session that
ended between two clicks: the next run shows the sign-in page saying so, and applies nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from importlib import resources

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from app.db.models import Cluster, UserSession
from app.db.tables_recs import Execution
from app.db.tables_recs import Recommendation as RecRow
from app.db.types import utcnow
from app.ui.auth import PRINCIPAL_KEY, TOKEN_KEY
from app.ui.rec_detail import TABLE_KEY
from tests.ui_session import PASSWORD, account, sign_in_as

ENTRY = str(resources.files("app") / "streamlit_app.py")


def _form(engine: Engine, name: str, password: str, role: str = "analyst") -> AppTest:
    account(engine, role, name)
    at = AppTest.from_file(ENTRY, default_timeout=60)
    at.run()
    assert at.title[0].value == "Sign in to CloudOptim"
    at.text_input(key="sign_in_user").input(name)
    at.text_input(key="sign_in_password").input(password)
    at.button[0].click().run()
    return at


def _texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in [*at.error, *at.warning, *at.info, *at.success]).replace("\\", "")


def test_a_wrong_password_shows_the_refusal_and_signs_nobody_in(engine: Engine) -> None:
    at = _form(engine, "ana", "not the password")
    assert not at.exception
    assert "wrong user name or password" in _texts(at)
    assert TOKEN_KEY not in at.session_state and at.title[0].value == "Sign in to CloudOptim"


def test_a_locked_account_says_so_even_for_the_right_password(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDOPTIM_AUTH__MAX_FAILED_LOGINS", "2")
    for _ in range(2):
        _form(engine, "ana", "not the password")
    at = _form(engine, "ana", PASSWORD)
    assert "too many failed sign-ins: this account is locked for 15 more minute(s)" in _texts(at)
    assert TOKEN_KEY not in at.session_state


def test_the_right_password_opens_the_app_as_that_role(engine: Engine) -> None:
    at = _form(engine, "ana", PASSWORD)
    assert not at.exception
    assert at.session_state[PRINCIPAL_KEY].username == "ana"
    assert "Signed in as ana (analyst)" in at.sidebar.caption[0].value.replace("\\", "")
    assert at.title[0].value != "Sign in to CloudOptim"


def test_signing_out_ends_the_session_and_shows_the_sign_in_page(engine: Engine) -> None:
    at = _form(engine, "ana", PASSWORD)
    at.sidebar.button(key="sign_out").click().run()
    assert at.title[0].value == "Sign in to CloudOptim"
    with Session(engine) as s:
        assert all(row.ended_at is not None for row in s.exec(select(UserSession)))


def _seed_rec(engine: Engine) -> None:
    with Session(engine) as s:
        cluster = Cluster(name="prod-east", region="us-east-1")
        s.add(cluster)
        s.commit()
        action: dict[str, object] = {"kind": "drain-and-remove-node", "node": "node-a", "instance_id": "i-0abc",
                                      "moves": [{"namespace": "shop", "pod": "web-1", "to_node": "node-b"}]}
        s.add(RecRow(fingerprint="fp1", engine="binpack", target="node/node-a", action_kind="drain-and-remove-node",
                     action=action, current_monthly_cost=Decimal("70.08"), projected_monthly_cost=Decimal("0"),
                     monthly_savings=Decimal("70.08"), cluster_id=cluster.id, rationale="Remove node-a."))  # fmt: skip
        s.commit()


def _end_sessions(engine: Engine) -> None:
    with Session(engine) as s:
        for row in s.exec(select(UserSession)):
            row.ended_at = utcnow()
            s.add(row)
        s.commit()


def test_a_session_ended_between_two_clicks_shows_the_sign_in_page_and_applies_nothing(engine: Engine) -> None:
    _seed_rec(engine)
    at = sign_in_as(AppTest.from_file(ENTRY, default_timeout=60), "analyst")
    at.run()
    at.switch_page("../pages/recommendations.py").run()
    at.session_state[TABLE_KEY] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    at.button(key="rec_apply").click().run()
    assert not at.exception and at.button(key="apply_confirm")
    _end_sessions(engine)  # e.g. an admin disabled the account, or the idle timeout passed
    at.button(key="apply_confirm").click().run()
    assert not at.exception
    assert at.title[0].value == "Sign in to CloudOptim"
    with Session(engine) as s:
        assert s.exec(select(Execution)).all() == []


def test_an_idle_session_shows_your_session_expired(engine: Engine) -> None:
    at = sign_in_as(AppTest.from_file(ENTRY, default_timeout=60), "analyst")
    at.run()
    with Session(engine) as s:
        row = s.exec(select(UserSession)).one()
        row.last_seen_at = utcnow() - timedelta(days=2)
        s.add(row)
        s.commit()
    at.run()
    assert at.title[0].value == "Sign in to CloudOptim"
    assert "your session expired" in _texts(at)
