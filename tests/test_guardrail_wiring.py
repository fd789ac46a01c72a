"""The admin's stored guardrails and default schedule reach the code that acts on them: the
office-hours engine's settings where a cluster stores none, the executor's opt-out check, and
the worker's dry-run decision."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from app.services.app_config import load_guardrails, save_guardrails, save_schedule_defaults
from app.services.engine_settings import load_engine_settings, save_engine_settings
from app.settings import Settings
from engines.office_hours import OfficeHoursEngine
from executor.opt_out import marked
from tests.test_executions_seed import add_cluster


def test_the_default_schedule_becomes_the_office_hours_settings_of_a_cluster_that_stores_none(engine: Engine) -> None:
    cid = add_cluster(engine)
    save_schedule_defaults(engine, {"timezone": "Europe/Berlin", "default_uptime": "Mon-Fri 07:00-20:00",
                                    "holiday_country": "DE", "holiday_subdivision": "BY"},
                           actor="admin", expected_version=None)  # fmt: skip
    got: Any = load_engine_settings(engine, cid, OfficeHoursEngine())
    assert got.timezone == "Europe/Berlin" and got.default_office_hours == "Mon-Fri 07:00-20:00"
    assert got.holidays_country == "DE-BY"


def test_settings_stored_for_the_cluster_win_over_the_default_schedule(engine: Engine) -> None:
    cid = add_cluster(engine)
    save_schedule_defaults(engine, {"timezone": "Europe/Berlin"}, actor="admin", expected_version=None)
    save_engine_settings(engine, cid, OfficeHoursEngine(), {"timezone": "America/New_York"})
    got: Any = load_engine_settings(engine, cid, OfficeHoursEngine())
    assert got.timezone == "America/New_York"


def test_an_admins_extra_opt_out_mark_keeps_a_labelled_object_untouched(engine: Engine, settings: Settings) -> None:
    save_guardrails(engine, {"opt_out_marks": ["team=payments"]}, actor="admin", expected_version=None,
                    settings=settings)
    marks = load_guardrails(engine, settings).opt_out_marks
    node = {"metadata": {"name": "n1", "labels": {"team": "payments"}}}
    other = {"metadata": {"name": "n2", "labels": {"team": "search"}, "annotations": {"team": "payments-x"}}}
    assert marked(node, extra=marks) == "team=payments"
    assert marked(other, extra=marks) is None and marked(node) is None


def test_dry_run_switched_on_by_an_admin_overlays_the_environment(engine: Engine, settings: Settings) -> None:
    assert not load_guardrails(engine, settings).dry_run
    save_guardrails(engine, {"dry_run": True}, actor="admin", expected_version=None, settings=settings)
    assert load_guardrails(engine, settings).dry_run
