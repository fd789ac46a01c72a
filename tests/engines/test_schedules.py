"""The office-hours decision on plain annotations: weekdays and weekends, timezones, DST, crontab
weekday numbers, a change made by hand between transitions, and annotations that cannot be used."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engines import schedules as s
from engines.schedules import Decision, Outcome, decide

OFFICE = {s.SCALE_DOWN: "0 19 * * 1-5", s.SCALE_UP: "0 7 * * 1-5", s.TIMEZONE: "Europe/Berlin",
          s.REPLICAS_OFF: "0", s.ORIGINAL_REPLICAS: "4"}  # fmt: skip


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


# --- weekdays, weekends, a whole cycle ----------------------------------------------------------
def test_a_weekday_evening_scales_down_and_remembers_the_replicas_to_restore() -> None:
    decision = decide(OFFICE, 4, at(2025, 6, 2, 18, 30))  # Monday 20:30 CEST
    assert (decision.outcome, decision.replicas) == (Outcome.SCALE_DOWN, 0)
    assert decision.before == {s.RESTORE_REPLICAS: "4"}
    assert decision.after == {s.LAST_TRANSITION: "down 2025-06-02T17:00:00+00:00"}
    assert decision.reason == ("outside office hours since Mon 2025-06-02 19:00 CEST: 4 -> 0 replicas; "
                               "the scale-up at Tue 2025-06-03 07:00 CEST restores 4")  # fmt: skip


def test_a_weekend_stays_off_from_friday_evening_until_monday_morning() -> None:
    for saturday_or_sunday in (at(2025, 6, 7, 12, 0), at(2025, 6, 8, 23, 0)):
        decision = decide(OFFICE, 4, saturday_or_sunday)
        assert decision.outcome is Outcome.SCALE_DOWN
        assert decision.after == {s.LAST_TRANSITION: "down 2025-06-06T17:00:00+00:00"}  # Friday 19:00
        assert "the scale-up at Mon 2025-06-09 07:00 CEST" in decision.reason


def test_a_full_week_day_restores_exactly_the_replicas_it_took_away() -> None:
    annotations, replicas = dict(OFFICE), 5
    seen = []
    for now in (at(2025, 6, 3, 10, 0), at(2025, 6, 3, 18, 0), at(2025, 6, 3, 22, 0), at(2025, 6, 4, 5, 1),
                at(2025, 6, 4, 5, 2)):  # fmt: skip
        decision = decide(annotations, replicas, now)
        annotations, replicas = applied(annotations, replicas, decision)
        seen.append((decision.outcome, replicas))
    assert seen == [(Outcome.UNCHANGED, 5), (Outcome.SCALE_DOWN, 0), (Outcome.UNCHANGED, 0),
                    (Outcome.SCALE_UP, 5), (Outcome.UNCHANGED, 5)]  # fmt: skip
    assert s.RESTORE_REPLICAS not in annotations


def test_crontab_weekday_numbers_mean_what_cron_means_not_apschedulers_monday_zero() -> None:
    # APScheduler 3 alone reads "1-5" as Tuesday-Saturday: Monday morning would stay off.
    assert decide(OFFICE, 0, at(2025, 6, 2, 5, 30)).after[s.LAST_TRANSITION] == "up 2025-06-02T05:00:00+00:00"
    assert decide(OFFICE, 4, at(2025, 6, 7, 12, 0)).outcome is Outcome.SCALE_DOWN  # Saturday is off
    sunday = s.crontab_trigger("0 7 * * 0", "UTC")
    assert s.next_fire(sunday, at(2025, 6, 2)) == at(2025, 6, 8, 7, 0)
    assert str(s.crontab_trigger("0 7 * * 5-7", "UTC").fields[4]) == "fri,sat,sun"
    assert str(s.crontab_trigger("0 7 * * */2", "UTC").fields[4]) == "sun,tue,thu,sat"


# --- timezones and DST ------------------------------------------------------------------------
def test_the_same_instant_is_in_office_hours_in_tokyo_and_outside_them_in_new_york() -> None:
    now = at(2025, 6, 3, 2, 0)  # Tuesday 11:00 in Tokyo, Monday 22:00 in New York
    tokyo = decide({**OFFICE, s.TIMEZONE: "Asia/Tokyo"}, 4, now)
    new_york = decide({**OFFICE, s.TIMEZONE: "America/New_York"}, 4, now)
    assert tokyo.outcome is Outcome.UNCHANGED and tokyo.reason.startswith("inside office hours since Tue")
    assert new_york.outcome is Outcome.SCALE_DOWN and "since Mon 2025-06-02 19:00 EDT" in new_york.reason


@pytest.mark.parametrize(("now", "inside"), [
    (at(2025, 3, 31, 4, 30), False),  # Monday after spring forward: 06:30 CEST (07:30 at last week's offset)
    (at(2025, 3, 31, 5, 30), True),  # 07:30 CEST
    (at(2025, 10, 27, 5, 30), False),  # Monday after fall back: 06:30 CET (07:30 at last week's offset)
    (at(2025, 10, 27, 6, 30), True),  # 07:30 CET
])  # fmt: skip
def test_office_hours_follow_the_local_clock_across_a_dst_change(now: datetime, inside: bool) -> None:
    decision = decide({**OFFICE, s.RESTORE_REPLICAS: "4"}, 0, now)
    assert decision.outcome is (Outcome.SCALE_UP if inside else Outcome.UNCHANGED), decision.reason


def test_a_time_the_dst_change_skips_or_repeats_still_fires_once_a_night() -> None:
    nightly = s.crontab_trigger("30 2 * * *", "Europe/Berlin")
    # 02:30 does not exist on 2025-03-30: the fire is still that night, before the 03:00 UTC check.
    assert s.previous_fire(nightly, at(2025, 3, 30, 3, 0)) == at(2025, 3, 30, 1, 30)
    # 02:30 happens twice on 2025-10-26; the later one is the latest fire at 03:00 UTC.
    assert s.previous_fire(nightly, at(2025, 10, 26, 3, 0)) == at(2025, 10, 26, 1, 30)
    assert s.previous_fire(nightly, at(2025, 10, 27, 3, 0)) == at(2025, 10, 27, 1, 30)


# --- manual changes between transitions --------------------------------------------------------
def test_a_scale_up_by_hand_during_off_hours_is_kept_until_the_next_scale_up() -> None:
    annotations, replicas = applied(dict(OFFICE), 4, decide(OFFICE, 4, at(2025, 6, 2, 18, 0)))
    assert replicas == 0
    manual = decide(annotations, 2, at(2025, 6, 2, 21, 0))  # someone needed the service tonight
    assert (manual.outcome, manual.replicas, manual.before, manual.after) == (Outcome.MANUAL, None, {}, {})
    assert manual.reason == ("outside office hours since Mon 2025-06-02 19:00 CEST, but runs 2 replicas set since "
                             "then: kept until the scale-up at Tue 2025-06-03 07:00 CEST")  # fmt: skip
    morning = decide(annotations, 2, at(2025, 6, 3, 5, 0))
    assert (morning.outcome, morning.replicas) == (Outcome.SCALE_UP, 4)


def test_a_scale_up_never_scales_down_a_workload_someone_grew_beyond_the_restore_count() -> None:
    annotations = {**OFFICE, s.RESTORE_REPLICAS: "4", s.LAST_TRANSITION: "down 2025-06-02T17:00:00+00:00"}
    decision = decide(annotations, 6, at(2025, 6, 3, 5, 0))
    assert (decision.outcome, decision.replicas) == (Outcome.UNCHANGED, None)
    assert decision.after == {s.LAST_TRANSITION: "up 2025-06-03T05:00:00+00:00", s.RESTORE_REPLICAS: None}


def test_a_change_by_hand_in_office_hours_is_what_the_evening_remembers() -> None:
    annotations = {**OFFICE, s.LAST_TRANSITION: "up 2025-06-02T05:00:00+00:00"}
    assert decide(annotations, 2, at(2025, 6, 2, 12, 0)).outcome is Outcome.UNCHANGED
    evening = decide(annotations, 2, at(2025, 6, 2, 17, 0))
    assert evening.before == {s.RESTORE_REPLICAS: "2"}


def test_off_hours_replicas_above_zero_and_a_workload_already_below_them() -> None:
    one = {**OFFICE, s.REPLICAS_OFF: "1"}
    assert decide(one, 3, at(2025, 6, 2, 18, 0)).replicas == 1
    already = decide(one, 1, at(2025, 6, 2, 18, 0))
    assert (already.outcome, already.replicas, already.before) == (Outcome.UNCHANGED, None, {})
    assert already.after == {s.LAST_TRANSITION: "down 2025-06-02T17:00:00+00:00"}


def test_a_scale_down_and_a_scale_up_in_the_same_minute_leave_the_capacity_up() -> None:
    same = {**OFFICE, s.SCALE_DOWN: "0 7 * * *", s.SCALE_UP: "0 7 * * *"}
    assert decide(same, 4, at(2025, 6, 2, 12, 0)).outcome is Outcome.UNCHANGED


# --- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("change", "reason"), [
    ({s.SCALE_UP: None}, "annotation cloudoptim.io/schedule-scale-up is missing or empty"),
    ({s.SCALE_DOWN: "0 25 * * *"}, "annotation cloudoptim.io/schedule-scale-down '0 25 * * *' is not a crontab "
                                   "expression: Error validating expression '25': the last value (25) is higher "
                                   "than the maximum value (23)"),
    ({s.SCALE_DOWN: "at seven"}, "annotation cloudoptim.io/schedule-scale-down 'at seven' is not a crontab "
                                 "expression: wrong number of fields; got 2, expected 5"),
    ({s.SCALE_UP: "0 7 * * 8"}, "annotation cloudoptim.io/schedule-scale-up '0 7 * * 8' is not a crontab "
                                "expression: bad day of week '8'"),
    ({s.SCALE_UP: "0 7 30 2 *"}, "annotation cloudoptim.io/schedule-scale-up '0 7 30 2 *' never fires"),
    ({s.TIMEZONE: "Mars/Olympus"}, "annotation cloudoptim.io/schedule-timezone 'Mars/Olympus' is not a known timezone"),
    ({s.REPLICAS_OFF: "-1"}, "annotation cloudoptim.io/schedule-replicas-off '-1' is not a replica count "
                             "(a whole number >= 0)"),
    ({s.RESTORE_REPLICAS: "four"}, "annotation cloudoptim.io/schedule-restore-replicas 'four' is not a replica "
                                   "count (a whole number >= 0)"),
])  # fmt: skip
def test_annotations_that_cannot_be_used_change_nothing_and_say_why(change: dict[str, str | None], reason: str) -> None:
    annotations = {key: value for key, value in {**OFFICE, **change}.items() if value is not None}
    decision = decide(annotations, 4, at(2025, 6, 2, 18, 0))
    assert decision == Decision(Outcome.INVALID, f"{reason}; replicas left at 4")


def test_a_naive_time_is_refused_as_a_programming_error() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        decide(OFFICE, 4, datetime(2025, 6, 2, 18, 0))


def test_only_workloads_with_a_schedule_annotation_are_scheduled() -> None:
    assert s.is_scheduled({s.SCALE_DOWN: "0 19 * * *"}) and not s.is_scheduled({"team": "shop"})
    assert s.restore_replicas({s.RESTORE_REPLICAS: "3"}) == 3 and s.restore_replicas({s.RESTORE_REPLICAS: "x"}) is None
