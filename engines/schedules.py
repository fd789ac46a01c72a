"""Office-hours schedules of Deployments/StatefulSets: the `cloudoptim.io/schedule-*` annotations
and the decision of how many replicas a workload should run at a given moment.

Pure (annotations + live replicas + an aware `now` in, a `Decision` out) so that the executor's
schedule-scale action (executor.k8s_workload_actions, which writes the schedule) and the worker's
enforcer (app.services.schedules, which acts on it) read the format one way. Cron expressions are
evaluated by APScheduler's CronTrigger; see `crontab_trigger` for the one field translated first.

The enforcer acts only on transitions (kube-green style): when the latest scale-down or scale-up
time is newer than the one it last acted on (`last-transition`), it scales; between transitions
it leaves the replicas alone, so a change made by hand lasts until the next transition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

PREFIX = "cloudoptim.io/schedule-"
# Written by the schedule-scale action.
SCALE_DOWN = PREFIX + "scale-down"
SCALE_UP = PREFIX + "scale-up"
TIMEZONE = PREFIX + "timezone"
REPLICAS_OFF = PREFIX + "replicas-off"
ORIGINAL_REPLICAS = PREFIX + "original-replicas"
# Written by the enforcer: the replicas it scaled down from (removed once restored), and the
# transition it last acted on, e.g. "down 2025-03-31T17:00:00+00:00".
RESTORE_REPLICAS = PREFIX + "restore-replicas"
LAST_TRANSITION = PREFIX + "last-transition"
ENFORCER_KEYS = (RESTORE_REPLICAS, LAST_TRANSITION)

_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering: 0 (and 7) = Sunday
# CronTrigger only looks forward; the previous fire time is searched in these growing windows.
_LOOKBACK = (timedelta(days=1), timedelta(days=8), timedelta(days=32), timedelta(days=367))


class Outcome(StrEnum):
    SCALE_DOWN = "scale-down"
    SCALE_UP = "scale-up"
    UNCHANGED = "unchanged"  # already as the schedule wants (bookkeeping annotations may still change)
    MANUAL = "manual"  # changed by hand since the transition the enforcer acted on: kept
    INVALID = "invalid"


@dataclass(frozen=True)
class Decision:
    """What to do with one workload now. `replicas` None = leave them; `before` is written before
    scaling (what to restore, so a crash after the scale loses nothing), `after` once it is done."""

    outcome: Outcome
    reason: str
    replicas: int | None = None
    before: dict[str, str | None] = field(default_factory=dict)
    after: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Schedule:
    scale_down: CronTrigger
    scale_up: CronTrigger
    timezone: ZoneInfo
    replicas_off: int
    restore: int | None


def is_scheduled(annotations: Mapping[str, str]) -> bool:
    return SCALE_DOWN in annotations or SCALE_UP in annotations


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


def parse_schedule(annotations: Mapping[str, str]) -> Schedule | str:
    """The schedule the annotations describe, or the reason they cannot be used."""
    for key in (SCALE_DOWN, SCALE_UP):
        if not annotations.get(key, "").strip():
            return f"annotation {key} is missing or empty"
    zone_name = annotations.get(TIMEZONE, "UTC")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"annotation {TIMEZONE} {zone_name!r} is not a known timezone"
    triggers = []
    for key in (SCALE_DOWN, SCALE_UP):
        try:
            trigger = crontab_trigger(annotations[key], zone)
        except ValueError as exc:
            return f"annotation {key} {annotations[key]!r} is not a crontab expression: {exc}"
        if _next(trigger, datetime(2000, 1, 1, tzinfo=UTC)) is None:
            return f"annotation {key} {annotations[key]!r} never fires"
        triggers.append(trigger)
    counts: list[int | None] = []
    for key, default in ((REPLICAS_OFF, "0"), (RESTORE_REPLICAS, None)):
        text = annotations.get(key, default)
        if text is not None and not (text.strip().isdigit()):
            return f"annotation {key} {text!r} is not a replica count (a whole number >= 0)"
        counts.append(int(text) if text is not None else None)
    off = counts[0]
    assert off is not None
    return Schedule(triggers[0], triggers[1], zone, off, counts[1])


def decide(annotations: Mapping[str, str], replicas: int, now: datetime) -> Decision:
    """The replicas a workload running `replicas` should run at `now`, and why.

    At a new scale-down the workload goes to `replicas-off` (never up) and its replicas are kept
    in `restore-replicas`; at a new scale-up it goes back to them (never down). Between
    transitions nothing is scaled, so a change made by hand is kept until the next one.
    """
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}: pass a timezone-aware time")
    schedule = parse_schedule(annotations)
    if isinstance(schedule, str):
        return Decision(Outcome.INVALID, f"{schedule}; replicas left at {replicas}")
    down, up = previous_fire(schedule.scale_down, now), previous_fire(schedule.scale_up, now)
    if down is None and up is None:
        return Decision(Outcome.UNCHANGED, "neither the scale-down nor the scale-up time came in the past year")
    off = up is None or (down is not None and down > up)  # both in one minute: up wins, capacity stays
    since = down if off else up
    assert since is not None
    mark = f"{'down' if off else 'up'} {since.isoformat()}"
    period = (f"outside office hours since {_local(since, schedule)}" if off
              else f"inside office hours since {_local(since, schedule)}")  # fmt: skip
    coming = next_fire(schedule.scale_up if off else schedule.scale_down, now)
    then = f"the scale-{'up' if off else 'down'} at {_local(coming, schedule)}" if coming else "no later transition"
    if annotations.get(LAST_TRANSITION) == mark:  # this transition was acted on already
        if off and schedule.restore is not None and replicas != schedule.replicas_off:
            return Decision(Outcome.MANUAL, f"{period}, but runs {replicas} replicas set since then: kept until {then}")
        return Decision(Outcome.UNCHANGED, f"{period}: {replicas} replicas; next: {then}")
    if off:
        if replicas <= schedule.replicas_off:
            return Decision(Outcome.UNCHANGED, f"{period}: already at {replicas} replicas "
                                               f"(off-hours {schedule.replicas_off}); next: {then}",
                            after={LAST_TRANSITION: mark})  # fmt: skip
        return Decision(Outcome.SCALE_DOWN, f"{period}: {replicas} -> {schedule.replicas_off} replicas; "
                                            f"{then} restores {replicas}", replicas=schedule.replicas_off,
                        before={RESTORE_REPLICAS: str(replicas)}, after={LAST_TRANSITION: mark})  # fmt: skip
    done = {LAST_TRANSITION: mark, RESTORE_REPLICAS: None}
    if schedule.restore is None:
        return Decision(Outcome.UNCHANGED, f"{period}: nothing was scaled down, {replicas} replicas; next: {then}",
                        after=done)  # fmt: skip
    if replicas >= schedule.restore:
        return Decision(Outcome.UNCHANGED, f"{period}: already at {replicas} replicas (restore {schedule.restore}); "
                                           f"next: {then}", after=done)  # fmt: skip
    return Decision(Outcome.SCALE_UP, f"{period}: {replicas} -> {schedule.restore} replicas; next: {then}",
                    replicas=schedule.restore, after=done)  # fmt: skip


def restore_replicas(annotations: Mapping[str, str]) -> int | None:
    """The replicas the enforcer scaled a workload down from and has not restored yet."""
    text = annotations.get(RESTORE_REPLICAS, "").strip()
    return int(text) if text.isdigit() else None


def _local(when: datetime | None, schedule: Schedule) -> str:
    return when.astimezone(schedule.timezone).strftime("%a %Y-%m-%d %H:%M %Z") if when else "never"
