"""Crontab schedules (the `schedule-scale-down`/`schedule-scale-up` annotations) on APScheduler's
CronTrigger: the trigger of a five-field crontab line, and its previous and next fire times.

Pure; used by engines.schedules (re-exported there) and the schedule-scale action.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering: 0 (and 7) = Sunday
# CronTrigger only looks forward; the previous fire time is searched in these growing windows.
_LOOKBACK = (timedelta(days=1), timedelta(days=8), timedelta(days=32), timedelta(days=367))


def crontab_trigger(expr: str, timezone: str | ZoneInfo) -> CronTrigger:
    """A CronTrigger for a standard five-field crontab line, weekday numbers read as crontab does.

    APScheduler 3's `from_crontab` passes the weekday field through with 0 = Monday (its issue
    286, fixed only in 4.x), so "1-5" would mean Tuesday to Saturday. Numbers are rewritten as
    names, which both read alike. Raises ValueError (or ZoneInfoNotFoundError) for bad input.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
    fields[4] = _weekday_names(fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=timezone)


def _weekday_names(text: str) -> str:
    if not any(ch.isdigit() for ch in text):
        return text  # "*", "mon-fri", "sat,sun": the same in both numberings
    days: list[str] = []
    for item in text.split(","):
        span, slash, step_text = item.partition("/")
        step = int(step_text) if slash else 1
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            first, _, last = span.partition("-")
            low, high = _weekday(first), _weekday(last)
        else:
            low = _weekday(span)
            high = 7 if slash else low  # "1/2": from Monday every other day, as cron reads it
        if step < 1 or low > high:
            raise ValueError(f"bad day-of-week item {item!r}")
        days.extend(_WEEKDAYS[day % 7] for day in range(low, high + 1, step))
    return ",".join(dict.fromkeys(days))


def _weekday(text: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text.lower() in _WEEKDAYS:
        return _WEEKDAYS.index(text.lower())
    raise ValueError(f"bad day of week {text!r}")


def previous_fire(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The latest fire time at or before `now` (UTC), or None when there is none within a year.

    Bisects on CronTrigger's own next-fire-time (fire times are whole seconds apart), in UTC so
    DST never makes the arithmetic jump; about 25 trigger calls for a yearly schedule.
    """
    now = now.astimezone(UTC)
    for window in _LOOKBACK:
        low, high = now - window, now
        if not _fires_by(trigger, low, now):
            continue
        while high - low > timedelta(seconds=1):  # invariant: a fire at or after `low` is <= now
            middle = low + (high - low) / 2
            low, high = (middle, high) if _fires_by(trigger, middle, now) else (low, middle)
        return _next(trigger, low)
    return None


def next_fire(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The first fire time strictly after `now` (UTC)."""
    return _next(trigger, now.astimezone(UTC) + timedelta(seconds=1))


def _next(trigger: CronTrigger, start: datetime) -> datetime | None:
    when = trigger.get_next_fire_time(None, start)
    return when.astimezone(UTC) if when is not None else None


def _fires_by(trigger: CronTrigger, start: datetime, now: datetime) -> bool:
    when = _next(trigger, start)
    return when is not None and when <= now


def fires_ever(trigger: CronTrigger) -> bool:
    return _next(trigger, datetime(2000, 1, 1, tzinfo=UTC)) is not None
