"""The uptime language, holiday codes and exception dates: what they read as, and errors that point
at the wrong part of the text."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from engines.actions import ScheduleScale
from engines.schedule_calendar import Calendar, check_holiday_code, parse_exceptions
from engines.schedule_syntax import ScheduleSyntaxError, parse_uptime

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_kube_downscaler_style_text_reads_as_weekly_periods_with_their_timezones() -> None:
    office, saturday = parse_uptime("mon-FRI 07:30-20:30 America/New_York, Sat 10:00-14:00", BERLIN)
    assert (sorted(office.days), office.start, office.end, office.timezone.key) == (
        [0, 1, 2, 3, 4],
        450,
        1230,
        "America/New_York",
    )
    assert (sorted(saturday.days), saturday.timezone.key) == ([5], "Europe/Berlin")  # the default timezone


def test_a_wrapping_day_range_and_an_end_before_the_start_run_through_the_weekend_and_midnight() -> None:
    (late,) = parse_uptime("Fri-Mon 22:00-02:00")
    assert sorted(late.days) == [0, 4, 5, 6] and late.crosses_midnight
    (weekend,) = parse_uptime("Sat-Sun 00:00-24:00")
    assert (weekend.start, weekend.end, weekend.crosses_midnight) == (0, 1440, False)


@pytest.mark.parametrize(("text", "message"), [
    ("Mon-Fry 07:30-20:30", 'uptime "Mon-Fry 07:30-20:30": day "Fry" is not one of Mon..Sun (at character 5)'),
    ("Funday 07:30-20:30", 'uptime "Funday 07:30-20:30": day "Funday" is not one of Mon..Sun (at character 1)'),
    ("Mon-Fri 7.30-20.30", 'uptime "Mon-Fri 7.30-20.30": hours "7.30-20.30" are not HH:MM-HH:MM (e.g. 07:30-20:30) '
                           "(at character 9)"),
    ("Mon-Fri 07:30-20:30, Sat 25:00-26:00", 'uptime "Mon-Fri 07:30-20:30, Sat 25:00-26:00": start "25:00" is not '
                                             "a time of day 00:00..23:59 (at character 26)"),
    ("Mon 07:30-24:30", 'uptime "Mon 07:30-24:30": end "24:30" is not a time of day 00:00..24:00 (at character 11)'),
    ("Mon 08:00-08:00", 'uptime "Mon 08:00-08:00": period "08:00-08:00" starts and ends at the same time; '
                        "00:00-24:00 is a whole day (at character 5)"),
    ("Mon-Fri", 'uptime "Mon-Fri": period "Mon-Fri" has no hours; write e.g. "Mon-Fri 07:30-20:30 Europe/Berlin" '
                "(at character 1)"),
    ("Mon 07:30-20:30,", 'uptime "Mon 07:30-20:30,": an empty period; each period is "<days> <HH:MM>-<HH:MM> '
                         '[timezone]", e.g. "Mon-Fri 07:30-20:30 Europe/Berlin" (at character 17)'),
    ("Mon 07:30-20:30 UTC now", 'uptime "Mon 07:30-20:30 UTC now": unexpected "now" after the timezone; separate '
                                "periods with commas (at character 21)"),
    ("Mon 07:30-20:30 Europe/Berln", 'uptime "Mon 07:30-20:30 Europe/Berln": timezone \'Europe/Berln\' is not a '
                                     "known IANA timezone (e.g. Europe/Berlin) (at character 17)"),
])  # fmt: skip
def test_each_parse_error_names_the_wrong_part_and_where_it_is(text: str, message: str) -> None:
    with pytest.raises(ScheduleSyntaxError) as caught:
        parse_uptime(text)
    assert str(caught.value) == message


def test_an_unknown_default_timezone_is_a_clear_error() -> None:
    with pytest.raises(ScheduleSyntaxError, match="timezone 'Mars/Olympus' is not a known IANA timezone"):
        parse_uptime("Mon 07:30-20:30", "Mars/Olympus")


def test_holiday_codes_are_checked_against_the_holidays_package_and_name_the_bad_part() -> None:
    assert check_holiday_code("de-by") == ("DE", "BY") and check_holiday_code("US") == ("US", None)
    with pytest.raises(ScheduleSyntaxError, match="holidays 'XX': country 'XX' is not a country the holidays"):
        check_holiday_code("XX")
    with pytest.raises(ScheduleSyntaxError, match=r"holidays 'DE-ZZ': subdivision 'ZZ' is not one of DE's \(BB, BE"):
        check_holiday_code("DE-ZZ")


def test_public_holidays_of_a_country_and_of_a_subdivision_are_days_off() -> None:
    germany, bavaria = Calendar.parse("DE", None), Calendar.parse("DE-BY", None)
    assert germany.day_off(date(2026, 12, 25)) == "public holiday Christmas Day (DE)"
    assert germany.day_off(date(2026, 1, 6)) is None  # Epiphany is not a holiday in all of Germany
    assert bavaria.day_off(date(2026, 1, 6)) == "public holiday Epiphany (DE-BY)"
    assert bavaria.day_off(date(2026, 1, 7)) is None


def test_exception_dates_are_days_off_and_a_bad_one_is_named() -> None:
    assert parse_exceptions(" 2026-07-01, 2026-07-02 ,") == {date(2026, 7, 1), date(2026, 7, 2)}
    assert Calendar.parse(None, "2026-07-01").day_off(date(2026, 7, 1)) == "exception date"
    for bad in ("2026-13-01", "20260701", "July 1st"):
        with pytest.raises(ScheduleSyntaxError, match=f"exception date '{bad}' in '2026-07-01,{bad}' is not a "):
            parse_exceptions(f"2026-07-01,{bad}")


def test_a_schedule_scale_action_needs_exactly_one_schedule_form() -> None:
    base = {"namespace": "shop", "workload_kind": "Deployment", "workload_name": "web"}
    assert ScheduleScale(**base, uptime="Mon-Fri 07:30-20:30", holidays="DE").uptime == "Mon-Fri 07:30-20:30"
    assert ScheduleScale(**base, scale_down_cron="0 19 * * 1-5", scale_up_cron="0 7 * * 1-5").uptime is None
    with pytest.raises(ValueError, match="needs `uptime`"):
        ScheduleScale(**base, scale_down_cron="0 19 * * 1-5")
    with pytest.raises(ValueError, match="not both"):
        ScheduleScale(**base, uptime="Mon 07:30-20:30", scale_down_cron="0 19 * * 1-5", scale_up_cron="0 7 * * 1-5")
    with pytest.raises(ValueError, match="need an `uptime` schedule"):
        ScheduleScale(**base, scale_down_cron="0 19 * * 1-5", scale_up_cron="0 7 * * 1-5", holidays="DE")
