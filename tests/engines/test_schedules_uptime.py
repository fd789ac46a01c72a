"""The office-hours decision for `uptime` schedules: local hours across DST changes, periods across
midnight and whole weekends, public holidays and exception dates off all day, wake-up leases, and
annotations that cannot be used."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engines import schedules as s
from engines.schedule_uptime import UptimeSchedule
from engines.schedules import Decision, Outcome, decide

BERLIN = {s.UPTIME: "Mon-Fri 07:30-20:30", s.TIMEZONE: "Europe/Berlin"}


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def applied(annotations: dict[str, str], replicas: int, decision: Decision) -> tuple[dict[str, str], int]:
    """The workload after the enforcer carried the decision out."""
    after = dict(annotations)
    for key, value in {**decision.before, **decision.after}.items():
        if value is None:
            after.pop(key, None)
        else:
            after[key] = value
    return after, replicas if decision.replicas is None else decision.replicas


def mark(annotations: dict[str, str], now: datetime) -> str | None:
    return decide(annotations, 4, now).after.get(s.LAST_TRANSITION)


def uptime(text: str, zone: str = "Europe/Berlin") -> UptimeSchedule:
    from zoneinfo import ZoneInfo

    return UptimeSchedule.parse(text, ZoneInfo(zone))


# --- office hours, a whole cycle ------------------------------------------------------------------
def test_a_weekday_evening_outside_the_uptime_scales_down_and_says_when_it_comes_back() -> None:
    decision = decide(BERLIN, 4, at(2026, 6, 8, 19, 0))  # Monday 21:00 CEST
    assert (decision.outcome, decision.replicas, decision.before) == (Outcome.SCALE_DOWN, 0, {s.RESTORE_REPLICAS: "4"})
    assert decision.after == {s.LAST_TRANSITION: "down 2026-06-08T18:30:00+00:00"}
    assert decision.reason == ("outside office hours since Mon 2026-06-08 20:30 CEST: 4 -> 0 replicas; "
                               "the scale-up at Tue 2026-06-09 07:30 CEST restores 4")  # fmt: skip


def test_a_week_of_minutes_scales_down_each_evening_and_restores_exactly_the_replicas_each_morning() -> None:
    annotations, replicas, seen = dict(BERLIN), 5, []
    for now in (at(2026, 6, 9, 10), at(2026, 6, 9, 18, 31), at(2026, 6, 9, 23), at(2026, 6, 10, 5, 30),
                at(2026, 6, 12, 18, 30), at(2026, 6, 14, 12), at(2026, 6, 15, 5, 30)):  # fmt: skip
        decision = decide(annotations, replicas, now)
        annotations, replicas = applied(annotations, replicas, decision)
        seen.append((decision.outcome, replicas))
    assert seen == [(Outcome.UNCHANGED, 5), (Outcome.SCALE_DOWN, 0), (Outcome.UNCHANGED, 0), (Outcome.SCALE_UP, 5),
                    (Outcome.SCALE_DOWN, 0), (Outcome.UNCHANGED, 0), (Outcome.SCALE_UP, 5)]  # fmt: skip
    assert s.RESTORE_REPLICAS not in annotations


def test_a_scale_up_by_hand_in_the_evening_is_kept_until_the_morning() -> None:
    annotations, _ = applied(dict(BERLIN), 4, decide(BERLIN, 4, at(2026, 6, 8, 19)))
    manual = decide(annotations, 2, at(2026, 6, 8, 21))
    assert (manual.outcome, manual.replicas) == (Outcome.MANUAL, None)
    assert decide(annotations, 2, at(2026, 6, 9, 5, 30)).replicas == 4


# --- DST ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("now", "want"), [
    (at(2026, 3, 28, 6, 30), "up 2026-03-28T06:30:00+00:00"),  # Saturday 07:30 CET
    (at(2026, 3, 29, 5, 29), "down 2026-03-28T19:30:00+00:00"),  # Sunday 07:29 CEST: the spring-forward day
    (at(2026, 3, 29, 5, 30), "up 2026-03-29T05:30:00+00:00"),  # 07:30 CEST, an hour earlier in UTC
    (at(2026, 3, 29, 18, 30), "down 2026-03-29T18:30:00+00:00"),  # 20:30 CEST
    (at(2026, 10, 25, 6, 0), "down 2026-10-24T18:30:00+00:00"),  # Sunday 07:00 CET: the fall-back day
    (at(2026, 10, 25, 6, 30), "up 2026-10-25T06:30:00+00:00"),  # 07:30 CET, an hour later in UTC
    (at(2026, 10, 25, 19, 30), "down 2026-10-25T19:30:00+00:00"),  # 20:30 CET
])  # fmt: skip
def test_uptime_hours_follow_the_berlin_wall_clock_on_both_dst_change_days(now: datetime, want: str) -> None:
    assert mark({**BERLIN, s.UPTIME: "Mon-Sun 07:30-20:30"}, now) == want


def test_a_night_period_across_a_dst_change_lasts_five_or_seven_real_hours() -> None:
    night = uptime("Sat 22:00-04:00")
    assert night.previous_transition(at(2026, 3, 29, 1)) == at(2026, 3, 28, 21)  # 22:00 CET
    assert night.next_transition(at(2026, 3, 29, 1)) == at(2026, 3, 29, 2)  # 04:00 CEST
    assert night.previous_transition(at(2026, 10, 25, 2)) == at(2026, 10, 24, 20)  # 22:00 CEST
    assert night.next_transition(at(2026, 10, 25, 2)) == at(2026, 10, 25, 3)  # 04:00 CET


def test_a_start_inside_the_skipped_hour_starts_at_the_first_instant_after_it() -> None:
    early = uptime("Sun 02:30-06:00")  # 02:00-03:00 does not exist in Berlin on 2026-03-29
    assert early.previous_transition(at(2026, 3, 29, 3)) == at(2026, 3, 29, 1)  # 03:00 CEST
    assert early.is_up(at(2026, 3, 29, 1)) and not early.is_up(at(2026, 3, 29, 0, 59))


# --- midnight and weekends ------------------------------------------------------------------------
def test_a_period_that_crosses_midnight_runs_into_the_next_day() -> None:
    late = {s.UPTIME: "Fri 22:00-02:00"}
    assert mark(late, at(2026, 6, 13, 1, 0)) == "up 2026-06-12T22:00:00+00:00"  # Saturday 01:00
    assert mark(late, at(2026, 6, 13, 2, 0)) == "down 2026-06-13T02:00:00+00:00"
    assert mark(late, at(2026, 6, 12, 21, 59)) == "down 2026-06-06T02:00:00+00:00"  # last week's end


def test_a_whole_weekend_and_touching_periods_make_no_transition_at_midnight() -> None:
    weekend = {s.UPTIME: "Sat-Sun 00:00-24:00"}
    assert mark(weekend, at(2026, 6, 14, 23, 59)) == "up 2026-06-13T00:00:00+00:00"  # Sunday night: since Saturday
    assert mark(weekend, at(2026, 6, 15, 0, 0)) == "down 2026-06-15T00:00:00+00:00"
    touching = uptime("Sun 20:00-24:00, Mon 00:00-08:00", "UTC")
    assert touching.next_transition(at(2026, 6, 14, 21)) == at(2026, 6, 15, 8)


# --- holidays and exception dates -----------------------------------------------------------------
def test_christmas_day_in_germany_is_off_all_day_and_says_so() -> None:
    decision = decide({**BERLIN, s.HOLIDAYS: "DE"}, 4, at(2026, 12, 25, 10))  # a Friday
    assert decision.outcome is Outcome.SCALE_DOWN
    assert decision.after[s.LAST_TRANSITION] == "down 2026-12-24T19:30:00+00:00"  # Thursday 20:30 CET
    assert decision.reason.startswith("off all day (public holiday Christmas Day (DE)) since Thu 2026-12-24 20:30 CET")
    assert "the scale-up at Mon 2026-12-28 07:30 CET" in decision.reason


def test_epiphany_is_off_in_bavaria_but_a_working_day_in_the_rest_of_germany() -> None:
    tuesday = at(2026, 1, 6, 10)
    assert mark({**BERLIN, s.HOLIDAYS: "DE-BY"}, tuesday) == "down 2026-01-05T19:30:00+00:00"
    assert mark({**BERLIN, s.HOLIDAYS: "DE"}, tuesday) == "up 2026-01-06T06:30:00+00:00"
    assert mark({**BERLIN, s.HOLIDAYS: "DE-BY"}, at(2026, 1, 7, 6, 30)) == "up 2026-01-07T06:30:00+00:00"


def test_exception_dates_are_off_all_day_from_local_midnight() -> None:
    always = {s.UPTIME: "Mon-Sun 00:00-24:00", s.TIMEZONE: "Europe/Berlin", s.EXCEPTIONS: "2026-07-01,2026-07-02"}
    assert mark(always, at(2026, 7, 1, 12)) == "down 2026-06-30T22:00:00+00:00"  # Berlin midnight
    assert mark(always, at(2026, 7, 3, 0)) == "up 2026-07-02T22:00:00+00:00"  # two days off, then up again
    assert mark({**BERLIN, s.EXCEPTIONS: "2026-07-01"}, at(2026, 7, 1, 12)) == "down 2026-06-30T18:30:00+00:00"


# --- wake-up leases -------------------------------------------------------------------------------
def test_a_lease_wakes_a_scaled_down_workload_keeps_it_up_and_its_end_scales_it_down_again() -> None:
    annotations, replicas = applied(dict(BERLIN), 4, decide(BERLIN, 4, at(2026, 6, 8, 19)))  # down at 20:30 CEST
    annotations[s.LEASE_UNTIL] = "2026-06-08T22:00:00+02:00"  # "keep it up until 22:00 today"
    woken = decide(annotations, replicas, at(2026, 6, 8, 19, 5))
    assert (woken.outcome, woken.replicas, woken.after) == (Outcome.SCALE_UP, 4, {s.RESTORE_REPLICAS: None})
    assert woken.reason == "kept up by a wake-up lease until Mon 2026-06-08 22:00 CEST: 0 -> 4 replicas"
    annotations, replicas = applied(annotations, replicas, woken)
    assert decide(annotations, replicas, at(2026, 6, 8, 19, 59)).outcome is Outcome.LEASED

    ended = decide(annotations, replicas, at(2026, 6, 8, 20, 0))
    assert (ended.outcome, ended.replicas) == (Outcome.SCALE_DOWN, 0)
    assert ended.after == {s.LAST_TRANSITION: "down 2026-06-08T20:00:00+00:00", s.LEASE_UNTIL: None}
    assert "the wake-up lease ended at Mon 2026-06-08 22:00 CEST" in ended.reason
    annotations, replicas = applied(annotations, replicas, ended)
    assert s.LEASE_UNTIL not in annotations and annotations[s.RESTORE_REPLICAS] == "4"
    assert decide(annotations, 1, at(2026, 6, 8, 21)).outcome is Outcome.MANUAL  # a later change by hand is kept
    assert decide(annotations, 0, at(2026, 6, 9, 5, 30)).replicas == 4


def test_a_lease_across_the_evening_scale_down_postpones_it_to_the_lease_end() -> None:
    annotations = {**BERLIN, s.LAST_TRANSITION: "up 2026-06-08T05:30:00+00:00",
                   s.LEASE_UNTIL: "2026-06-08T20:00:00+00:00"}  # fmt: skip
    assert decide(annotations, 4, at(2026, 6, 8, 18, 45)).outcome is Outcome.LEASED  # 20:45 CEST, past 20:30
    later = decide(annotations, 4, at(2026, 6, 8, 20, 1))
    assert (later.outcome, later.before) == (Outcome.SCALE_DOWN, {s.RESTORE_REPLICAS: "4"})


def test_an_expired_lease_in_office_hours_is_only_removed() -> None:
    annotations = {**BERLIN, s.LAST_TRANSITION: "up 2026-06-08T05:30:00+00:00",
                   s.LEASE_UNTIL: "2026-06-08T09:00:00+00:00"}  # fmt: skip
    decision = decide(annotations, 4, at(2026, 6, 8, 10))
    assert (decision.outcome, decision.replicas, decision.after) == (Outcome.UNCHANGED, None, {s.LEASE_UNTIL: None})


def test_a_lease_works_on_a_crontab_schedule_too() -> None:
    cron = {s.SCALE_DOWN: "0 19 * * *", s.SCALE_UP: "0 7 * * *", s.RESTORE_REPLICAS: "3",
            s.LAST_TRANSITION: "down 2026-06-08T19:00:00+00:00", s.LEASE_UNTIL: "2026-06-08T23:00:00+00:00"}  # fmt: skip
    assert decide(cron, 0, at(2026, 6, 8, 20)).replicas == 3


# --- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("change", "reason"), [
    ({s.UPTIME: "Mon-Fry 07:30-20:30"}, 'annotation cloudoptim.io/schedule-uptime: uptime "Mon-Fry 07:30-20:30": '
                                        'day "Fry" is not one of Mon..Sun (at character 5)'),
    ({s.TIMEZONE: "Europe/Berln"}, "annotation cloudoptim.io/schedule-timezone 'Europe/Berln' is not a known timezone"),
    ({s.HOLIDAYS: "QQ"}, "annotation cloudoptim.io/schedule-holidays: holidays 'QQ': country 'QQ' is not a country "
                         "the holidays package knows (ISO 3166 alpha-2, e.g. DE, US, FR)"),
    ({s.EXCEPTIONS: "2026-02-30"}, "annotation cloudoptim.io/schedule-exceptions: exception date '2026-02-30' in "
                                   "'2026-02-30' is not a YYYY-MM-DD date"),
    ({s.SCALE_DOWN: "0 19 * * *"}, "annotations cloudoptim.io/schedule-uptime and cloudoptim.io/schedule-scale-down/"
                                   "cloudoptim.io/schedule-scale-up are both set: use one schedule form"),
    ({s.LEASE_UNTIL: "tonight"}, "annotation cloudoptim.io/schedule-lease-until 'tonight' is not an ISO-8601 time"),
    ({s.LEASE_UNTIL: "2026-06-08T22:00"}, "annotation cloudoptim.io/schedule-lease-until '2026-06-08T22:00' has no "
                                          "UTC offset"),
])  # fmt: skip
def test_uptime_annotations_that_cannot_be_used_change_nothing_and_say_why(change: dict[str, str], reason: str) -> None:
    assert decide({**BERLIN, **change}, 4, at(2026, 6, 8, 19)) == Decision(
        Outcome.INVALID, f"{reason}; replicas left at 4"
    )


def test_holidays_on_a_crontab_schedule_are_refused_rather_than_ignored() -> None:
    cron = {s.SCALE_DOWN: "0 19 * * *", s.SCALE_UP: "0 7 * * *", s.HOLIDAYS: "DE"}
    assert decide(cron, 4, at(2026, 6, 8, 19)).outcome is Outcome.INVALID


def test_the_status_says_what_the_schedule_wants_now_and_when_it_changes() -> None:
    evening = s.status(BERLIN, at(2026, 6, 8, 19))
    assert (evening.wants_up, evening.next_change, evening.timezone) == (False, at(2026, 6, 9, 5, 30), "Europe/Berlin")
    leased = s.status({**BERLIN, s.LEASE_UNTIL: "2026-06-08T20:00:00+00:00"}, at(2026, 6, 8, 19))
    assert (leased.wants_up, leased.next_change, leased.lease_until) == (True, at(2026, 6, 8, 20), at(2026, 6, 8, 20))
    assert s.status({s.UPTIME: "Mon 25:00-26:00"}, at(2026, 6, 8)).problem is not None
    assert s.is_scheduled({s.UPTIME: "Mon 07:00-08:00"})
