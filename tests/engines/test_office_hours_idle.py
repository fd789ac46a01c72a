"""The office-hours engine's parts on their own: hour-of-week text, the uptime syntax, the profile's
refusals, the settings' validation, and the contract checks the registry-wide test runs once the
engine is registered (empty input, determinism, documented settings)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pydantic import ValidationError

from app.pricing import load_price_book
from engines.contract import ScanContext
from engines.office_hours import OfficeHoursEngine, OfficeHoursSettings
from engines.office_hours.idle import OfficeHours, build_profile, describe_hours, find_window, run_hours
from engines.snapshot_aws import ContainerUsage
from tests.engines.test_office_hours_helpers import Shape, one_namespace, run, usage
from tests.framework.estate import NOW as ESTATE_NOW
from tests.framework.estate import empty_snapshots, wasteful_snapshot


def test_hours_of_the_week_are_described_with_days_of_equal_hours_grouped() -> None:
    weekday_nights = [d * 24 + h for d in range(5) for h in (2, 3)]
    assert describe_hours([*weekday_nights, 5 * 24 + 10]) == "Mon-Fri 02:00-04:00, Sat 10:00-11:00"
    assert describe_hours([23, 6 * 24 + 23]) == "Mon,Sun 23:00-24:00"
    many = [d * 24 + h for d in range(7) for h in range(0, 24, 2)]
    assert describe_hours(many).endswith("more")


def test_the_uptime_is_one_period_per_run_of_consecutive_days_and_midnight_is_written_24_00() -> None:
    assert OfficeHours((0, 1, 2, 3, 4), 8, 18, "found").uptime("Europe/Berlin") == "Mon-Fri 08:00-18:00 Europe/Berlin"
    assert OfficeHours((0, 2, 3), 7, 24, "found").uptime("UTC") == "Mon 07:00-24:00 UTC, Wed-Thu 07:00-24:00 UTC"
    assert OfficeHours((0, 1, 2, 3, 4), 8, 18, "found").hours_off_per_week == 118


@pytest.mark.parametrize("hours", [OfficeHours((0, 1, 2, 3, 4), 8, 18, "found"), OfficeHours((0, 2, 3), 7, 24, "found"),
                                   OfficeHours((5, 6), 0, 24, "found")])  # fmt: skip
def test_the_schedule_parser_reads_the_uptime_back_as_the_same_hours(hours: OfficeHours) -> None:
    # The enforcer reads the text with engines.schedule_syntax: every hour of a Berlin week across
    # the end of summer time (2026-10-25) must be up exactly when the engine's window says so.
    from engines.schedule_syntax import parse_uptime

    periods = parse_uptime(hours.uptime("Europe/Berlin"))
    berlin = ZoneInfo("Europe/Berlin")
    for step in range(14 * 24):
        moment = datetime(2026, 10, 19, 0, 30, tzinfo=UTC) + timedelta(hours=step)
        local = moment.astimezone(berlin)
        expected = bool(hours.contains(np.array([local.weekday() * 24 + local.hour]))[0])
        assert any(p.contains(moment) for p in periods) == expected, moment


def _series(values: tuple[float | None, ...], start: datetime | None = None, step: int = 300) -> ContainerUsage:
    return ContainerUsage(namespace="n", pod="p", container="c", start=start or datetime(2026, 11, 1, tzinfo=UTC),
                          step_seconds=step, cpu_cores=values)  # fmt: skip


def test_the_profile_refuses_mixed_steps_and_inf_samples() -> None:
    s, tz = OfficeHoursSettings(), ZoneInfo("UTC")
    week = (0.1,) * (8 * 288)
    mixed = build_profile([_series(week), _series(week, step=60)], tz, s)
    assert isinstance(mixed, str) and "different or invalid steps" in mixed
    inf = build_profile([_series((float("inf"), *week))], tz, s)
    assert isinstance(inf, str) and "NaN, infinite or negative" in inf


def test_hours_of_the_week_with_too_few_samples_are_named() -> None:
    # Eight days, but every Sunday 03:00 slot missing: coverage is fine, that hour is not.
    start = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
    values = tuple(None if (start + timedelta(minutes=5 * i)).weekday() == 6 and (start + timedelta(minutes=5 * i)).hour == 3
                   else 0.1 for i in range(8 * 288))  # fmt: skip
    reason = build_profile([_series((0.1, *values[1:]), start)], ZoneInfo("UTC"), OfficeHoursSettings())
    assert isinstance(reason, str) and "too few samples in 1 hour(s) of the week" in reason and "Sun 03:00-04:00" in reason


def test_a_flat_zero_history_falls_back_to_the_default_window() -> None:
    profile = build_profile([_series((0.0,) * (8 * 288))], ZoneInfo("UTC"), OfficeHoursSettings())
    assert not isinstance(profile, str)
    window = find_window(profile, OfficeHoursSettings())
    assert isinstance(window, OfficeHours) and (window.start, window.end, window.source) == (8, 19, "default")


def test_job_run_hours_count_each_pod_once_per_slot_and_split_off_hours() -> None:
    start = datetime(2026, 11, 2, 2, tzinfo=UTC)  # Monday 02:00: off hours
    runs = [ContainerUsage(namespace="n", pod="job-1", container=c, start=start, cpu_cores=(0.1,) * 12) for c in "ab"]
    off, total = run_hours(runs, ZoneInfo("UTC"), OfficeHours((0, 1, 2, 3, 4), 8, 18, "found"), days=7)
    assert (off, total) == (1.0, 1.0)  # two containers of one pod: one pod-hour


@pytest.mark.parametrize("field,value", [("timezone", "Mars/Base"), ("default_office_hours", "Mon-Fri 08:30-19:00"),
                                         ("default_office_hours", "Mon-Fri 20:00-06:00"), ("holidays_country", "germany"),
                                         ("protected_namespaces", ["Not_A_Namespace"]), ("padding_hours", -1)])  # fmt: skip
def test_settings_refuse_values_the_engine_could_not_use(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        OfficeHoursSettings.model_validate({field: value})


def test_an_empty_holidays_box_means_no_holidays() -> None:
    assert OfficeHoursSettings.model_validate({"holidays_country": " "}).holidays_country is None
    assert OfficeHoursSettings.model_validate({"holidays_country": "DE-BY"}).holidays_country == "DE-BY"


def test_every_setting_is_described_with_its_default() -> None:
    fields = OfficeHoursSettings.model_fields
    assert fields and all((f.description or "").strip() and "Default" in (f.description or "") for f in fields.values())
    assert OfficeHoursSettings().protected_namespaces == ["kube-system", "kube-public", "kube-node-lease", "cloudoptim"]


def test_the_engine_is_named_titled_documented_and_calm_on_empty_input() -> None:
    engine = OfficeHoursEngine()
    assert (engine.name, engine.title) == ("office-hours", "Office-hours scheduler") and (type(engine).__doc__ or "").strip()
    ctx = ScanContext(prices=load_price_book(), now=ESTATE_NOW, settings=OfficeHoursSettings())
    for snap in empty_snapshots():
        assert engine.scan(snap, ctx).recommendations == []
    # The framework estate is a production-less "shop" namespace without marks and without usage.
    result = engine.scan(wasteful_snapshot(), ctx)
    assert result.recommendations == [] and [s.target for s in result.skipped] == ["namespace/shop"]


def test_output_is_deterministic_and_savings_are_never_negative() -> None:
    snap = one_namespace("team-dev", Shape(0.4, 0.005))
    first, second = run(snap), run(snap)
    assert first.model_dump_json() == second.model_dump_json()
    assert first.recommendations and all(r.monthly_savings >= 0 for r in first.recommendations)


def test_the_in_hours_mask_follows_the_window() -> None:
    hours = OfficeHours((0, 1, 2, 3, 4), 8, 18, "found")
    how = np.array([8, 17, 18, 7, 5 * 24 + 9])
    assert hours.contains(how).tolist() == [True, True, False, False, False]
    assert usage("n", "p-1", Shape(1, 0), days=1).cpu_cores  # the builder makes samples
