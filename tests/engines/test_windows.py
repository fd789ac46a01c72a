"""Maintenance windows as change calendars write them: days, past-midnight windows, timezones,
the next opening, and clear errors for what cannot be read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engines.windows import WindowError, parse_window

# 2026-12-05 is a Saturday.
SAT_0300 = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def test_a_weekend_night_window_holds_saturday_early_morning_and_not_monday() -> None:
    window = parse_window("sat,sun 00:00-06:00")
    assert window.contains(SAT_0300)
    assert not window.contains(datetime(2026, 12, 7, 3, 0, tzinfo=UTC))
    assert not window.contains(datetime(2026, 12, 5, 6, 0, tzinfo=UTC))  # the end is outside


def test_a_window_past_midnight_belongs_to_the_day_it_starts() -> None:
    window = parse_window("fri 22:00-05:00")
    assert window.contains(datetime(2026, 12, 4, 23, 0, tzinfo=UTC))  # Friday evening
    assert window.contains(datetime(2026, 12, 5, 4, 59, tzinfo=UTC))  # Saturday morning
    assert not window.contains(datetime(2026, 12, 4, 4, 0, tzinfo=UTC))  # Friday morning belongs to Thursday


def test_day_ranges_wrap_around_the_week_and_no_days_means_every_day() -> None:
    assert parse_window("fri-mon 01:00-02:00").days == frozenset({4, 5, 6, 0})
    assert parse_window("01:00-04:00").days == frozenset(range(7))


def test_the_window_is_read_in_its_timezone() -> None:
    berlin = parse_window("sat 04:00-05:00", "Europe/Berlin")  # 03:00 UTC is 04:00 in Berlin in winter
    assert berlin.contains(SAT_0300) and not parse_window("sat 04:00-05:00").contains(SAT_0300)


def test_the_next_opening_is_the_next_listed_day_at_the_start_time() -> None:
    opens = parse_window("mon-fri 22:00-23:00").next_opening(SAT_0300)
    assert opens.isoformat() == "2026-12-07T22:00:00+00:00"


@pytest.mark.parametrize(("text", "timezone", "fragment"), [
    ("weekends", "UTC", "is not a window"),
    ("sat 24:00-01:00", "UTC", "is not a time of day"),
    ("someday 01:00-02:00", "UTC", "'someday' in 'someday 01:00-02:00' is not a day"),
    ("sat 01:00-01:00", "UTC", "needs a length"),
    ("sat 01:00-02:00", "Mars/Base", "is not an IANA timezone"),
])  # fmt: skip
def test_a_window_that_cannot_be_read_says_why(text: str, timezone: str, fragment: str) -> None:
    with pytest.raises(WindowError, match=fragment):
        parse_window(text, timezone)
