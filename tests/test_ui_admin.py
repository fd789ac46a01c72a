"""The Settings and users page (AppTest) and its services: guardrails and the default schedule kept
in the database (validated per field, a second admin's save over a newer version refused with
who and when, nothing lost), accounts and roles, and the audit log's filters, paging and export."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from app.db.states import Role
from app.db.tables_app import AppSetting
from app.db.tables_recs import AuditEvent
from app.db.types import utcnow
from app.services.access import AccessDenied, Principal
from app.services.app_config import (
    GUARDRAILS,
    ConfigConflict,
    load_guardrails,
    load_schedule_defaults,
    save_guardrails,
    save_schedule_defaults,
)
from app.services.audit import AuditFilter, AuditFilterError, audit_page, export_csv, export_json
from app.services.users import SessionExpired, resolve_session, sign_in
from app.settings import AuthSettings, Settings
from tests.ui_session import PASSWORD, account, sign_in_as

PAGE = "../pages/admin.py"
ADMIN = Principal("admin", Role.ADMIN)


def _open(role: str = "admin", name: str | None = None) -> AppTest:
    at = sign_in_as(AppTest.from_file(PAGE, default_timeout=60), role, name)
    at.run()
    assert not at.exception
    return at


def _submit(at: AppTest, label: str) -> None:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception


def _plain(text: str) -> str:
    return text.replace("\\", "")


def _errors(at: AppTest) -> str:
    return "\n".join(_plain(e.value) for e in at.error)


def _docs(engine: Engine) -> dict[str, AppSetting]:
    with Session(engine) as s:
        return {row.key: row for row in s.exec(select(AppSetting))}


def test_saved_guardrails_are_stored_and_overlay_the_environments_executor_settings(engine: Engine,
                                                                                    settings: Settings) -> None:  # fmt: skip
    at = _open()
    at.text_area(key="guardrails.protected_namespaces").input("kube-system\npayments")
    at.text_area(key="guardrails.opt_out_marks").input("team.io/no-touch=true")
    at.number_input(key="guardrails.max_nodes_drained_per_hour").set_value(1)
    at.text_input(key="guardrails.disruption_window").input("sat,sun 00:00-06:00")
    at.text_input(key="guardrails.disruption_window_timezone").input("Europe/Berlin")
    at.checkbox(key="guardrails.dry_run").check()
    _submit(at, "Save guardrails")
    assert "Saved the guardrails (version 1)" in at.success[0].value
    effective = load_guardrails(engine, settings)
    assert effective.protected_namespaces == ["kube-system", "payments"]
    assert effective.opt_out_marks == ["team.io/no-touch=true"] and effective.max_nodes_drained_per_hour == 1
    assert effective.disruption_window == "sat,sun 00:00-06:00" and effective.dry_run
    assert effective.drain_timeout_s == settings.executor.drain_timeout_s  # not editable here: the environment's
    with Session(engine) as s:
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "guardrails saved")).one()
    assert audit.actor == "admin" and audit.details["changed"]["max_nodes_drained_per_hour"] == 1


def test_a_bad_namespace_and_a_bad_window_are_refused_under_their_fields_and_nothing_is_stored(engine: Engine) -> None:
    at = _open()
    at.text_area(key="guardrails.protected_namespaces").input("kube-system\nNot A Namespace")
    at.text_input(key="guardrails.disruption_window").input("someday 25:00-26:00")
    _submit(at, "Save guardrails")
    errors = _errors(at)
    assert "'Not A Namespace' is not a namespace name" in errors and "25:00 in 'someday" in errors
    assert "Not saved: check Protected namespaces, Disruption window" in errors
    assert not at.success and GUARDRAILS not in _docs(engine)
    assert at.text_area(key="guardrails.protected_namespaces").value == "kube-system\nNot A Namespace"  # input kept


def test_a_second_admin_saving_after_the_first_sees_who_saved_and_keeps_their_input(engine: Engine) -> None:
    first, second = _open("admin", "alice"), _open("admin", "bob")
    first.text_area(key="guardrails.protected_namespaces").input("kube-system\nfirst")
    _submit(first, "Save guardrails")
    second.text_area(key="guardrails.protected_namespaces").input("kube-system\nsecond")
    _submit(second, "Save guardrails")
    assert "alice saved the guardrails at" in _errors(second) and "nothing was saved" in _errors(second)
    assert second.text_area(key="guardrails.protected_namespaces").value == "kube-system\nsecond"
    assert _docs(engine)[GUARDRAILS].value["protected_namespaces"] == ["kube-system", "first"]
    second.button(key="guardrails.reload").click().run()
    assert second.text_area(key="guardrails.protected_namespaces").value == "kube-system\nfirst"
    second.text_area(key="guardrails.protected_namespaces").input("kube-system\nfirst\nsecond")
    _submit(second, "Save guardrails")
    assert "version 2" in second.success[0].value
    assert _docs(engine)[GUARDRAILS].updated_by == "bob"


def test_a_conflict_names_who_saved_and_writes_nothing(engine: Engine, settings: Settings) -> None:
    save_guardrails(engine, {"dry_run": True}, actor=Principal("alice", Role.ADMIN), expected_version=0, settings=settings)
    with pytest.raises(ConfigConflict, match="alice saved the guardrails") as caught:
        save_guardrails(engine, {"dry_run": False}, actor=ADMIN, expected_version=0, settings=settings)
    assert caught.value.updated_by == "alice" and load_guardrails(engine, settings).dry_run


def test_a_stored_guardrail_that_no_longer_validates_is_ignored_and_the_others_still_apply(
    engine: Engine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with Session(engine) as s:
        s.add(AppSetting(key=GUARDRAILS, value={"dry_run": True, "max_nodes_drained_per_hour": -4}))
        s.commit()
    effective = load_guardrails(engine, settings)
    assert effective.dry_run and effective.max_nodes_drained_per_hour == settings.executor.max_nodes_drained_per_hour
    assert "max_nodes_drained_per_hour are invalid and ignored" in caplog.text


def test_an_analyst_can_neither_save_guardrails_nor_read_the_audit_log(engine: Engine, settings: Settings) -> None:
    analyst = Principal("ana", Role.ANALYST)
    with pytest.raises(AccessDenied):
        save_guardrails(engine, {"dry_run": True}, actor=analyst, expected_version=None, settings=settings)
    with pytest.raises(AccessDenied):
        save_schedule_defaults(engine, {}, actor=analyst, expected_version=None)
    with pytest.raises(AccessDenied):
        audit_page(engine, AuditFilter(), actor=analyst)
    assert _docs(engine) == {}


def test_the_page_opened_by_an_analyst_shows_no_control(engine: Engine) -> None:
    at = _open("analyst")
    assert "is for admins" in at.error[0].value
    assert not at.button and not at.text_input and not at.text_area and not at.get("download_button")


def test_a_typo_in_the_default_uptime_shows_the_schedule_parsers_message(engine: Engine) -> None:
    at = _open()
    at.text_input(key="schedules.default_uptime").input("Mon-Fry 08:00-19:00")
    _submit(at, "Save default schedule")
    assert 'day "Fry" is not one of Mon..Sun (at character 5)' in _errors(at)
    assert "schedules" not in _docs(engine)


def test_an_unknown_holiday_country_shows_the_calendar_modules_message(engine: Engine) -> None:
    at = _open()
    at.text_input(key="schedules.holiday_country").input("XX")
    _submit(at, "Save default schedule")
    assert "country 'XX' is not a country the holidays package knows" in _errors(at)
    at.text_input(key="schedules.holiday_country").input("DE")
    at.text_input(key="schedules.holiday_subdivision").input("ZZ")
    _submit(at, "Save default schedule")
    assert "subdivision 'ZZ' is not one of DE's" in _errors(at)
    assert "schedules" not in _docs(engine)


def test_a_valid_default_schedule_is_stored_as_office_hours_settings(engine: Engine) -> None:
    at = _open()
    at.text_input(key="schedules.timezone").input("Europe/Berlin")
    at.text_input(key="schedules.default_uptime").input("Mon-Fri 07:00-18:00")
    at.text_input(key="schedules.holiday_country").input("de")
    at.text_input(key="schedules.holiday_subdivision").input("by")
    _submit(at, "Save default schedule")
    assert at.success and not at.error
    defaults = load_schedule_defaults(engine)
    assert defaults is not None and defaults.office_hours_overlay() == {
        "timezone": "Europe/Berlin", "default_office_hours": "Mon-Fri 07:00-18:00", "holidays_country": "DE-BY"}  # fmt: skip


def test_an_added_user_gets_a_password_shown_once_that_signs_in(engine: Engine) -> None:
    at = _open()
    at.text_input(key="users_add_name").input("carol")
    at.selectbox(key="users_add_role").select("analyst")
    _submit(at, "Add user")
    assert "Added analyst carol" in at.success[0].value
    password = at.code[0].value
    assert sign_in(engine, "carol", password, AuthSettings())
    at.run()
    assert not at.code  # shown once


def test_a_taken_user_name_is_refused_with_a_message(engine: Engine) -> None:
    at = _open()
    at.text_input(key="users_add_name").input("admin")
    _submit(at, "Add user")
    assert "Not added: user 'admin' already exists" in _errors(at)


def test_a_role_change_ends_the_users_sessions_and_a_disabled_account_cannot_sign_in(engine: Engine) -> None:
    at = _open()
    token = sign_in(engine, account(engine, "viewer"), PASSWORD, AuthSettings())
    at.run()
    at.selectbox(key="users_pick").select("viewer").run()
    at.selectbox(key="users_role.viewer").select("analyst").run()
    at.button(key="users_set_role").click().run()
    assert "viewer is now a analyst" in at.success[0].value
    with pytest.raises(SessionExpired):
        resolve_session(engine, token, AuthSettings())
    at.button(key="users_toggle").click().run()
    with pytest.raises(Exception, match="disabled"):
        sign_in(engine, "viewer", PASSWORD, AuthSettings())
    at.button(key="users_reset").click().run()
    assert "New password for viewer" in at.success[0].value and len(at.code[0].value) >= 10


def test_an_admin_cannot_disable_their_own_account(engine: Engine) -> None:
    at = _open()
    at.selectbox(key="users_pick").select("admin").run()
    at.button(key="users_toggle").click().run()
    assert "you cannot disable your own account" in _errors(at)


def _audit(engine: Engine, n: int, action: str = "thing done", target: str = "node/node-a", days_ago: int = 0) -> None:
    with Session(engine) as s:
        for i in range(n):
            s.add(AuditEvent(actor="ana", action=action, target=f"{target}-{i}", details={"i": i},
                             at=utcnow() - timedelta(days=days_ago, seconds=i)))  # fmt: skip
        s.commit()


def test_the_audit_log_filters_and_pages_in_the_database(engine: Engine) -> None:
    _audit(engine, 120)
    _audit(engine, 3, action="dismissed", target="=cmd|x", days_ago=10)
    page = audit_page(engine, AuditFilter(action="thing done"), 3, actor=ADMIN)
    assert (page.total, page.pages, page.page, len(page.rows)) == (120, 3, 3, 20)
    assert audit_page(engine, AuditFilter(target="NODE-A-11"), actor=ADMIN).total == 11  # 11, 110..119
    today = utcnow().date()
    old = audit_page(engine, AuditFilter(until=today - timedelta(days=5)), actor=ADMIN)
    assert old.total == 3 and {r.action for r in old.rows} == {"dismissed"}
    assert audit_page(engine, AuditFilter(target="100%"), actor=ADMIN).total == 0  # % is a character, not a wildcard
    with pytest.raises(AuditFilterError, match="before the start date"):
        audit_page(engine, AuditFilter(since=today, until=today - timedelta(days=1)), actor=ADMIN)


def test_the_audit_export_holds_exactly_the_filtered_rows(engine: Engine) -> None:
    _audit(engine, 4)
    _audit(engine, 2, action="dismissed", target="=cmd|x")
    rows = list(csv.DictReader(io.StringIO(export_csv(engine, AuditFilter(action="dismissed"), actor=ADMIN))))
    assert [r["action"] for r in rows] == ["dismissed", "dismissed"]
    assert rows[0]["target"].startswith("'=cmd")  # no formula for a spreadsheet to run
    assert json.loads(rows[0]["details"]) == {"i": 0}
    doc = json.loads(export_json(engine, AuditFilter(action="thing done"), actor=ADMIN))
    assert len(doc) == 4 and doc[0]["actor"] == "ana" and doc[0]["target"] == "node/node-a-0"


def test_the_audit_tab_filters_by_action_and_offers_both_exports(engine: Engine) -> None:
    _audit(engine, 3)
    _audit(engine, 2, action="dismissed")
    at = _open()
    at.selectbox(key="audit_action").select("dismissed").run()
    table = at.dataframe[-1].value
    assert table["Action"].tolist() == ["dismissed", "dismissed"]
    assert {getattr(b, "label", "") for b in at.get("download_button")} == {"Export CSV", "Export JSON"}
    at.text_input(key="audit_target").input("no such target").run()
    assert "No audit row matches these filters." in at.info[0].value
