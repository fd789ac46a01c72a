"""Office-hours schedules of workloads: the `cloudoptim.io/schedule-*` annotations and the decision
of how many replicas a workload should run at a given moment.

A schedule is either two crontab lines (`scale-down`, `scale-up`; engines.schedule_cron) or a
readable `uptime` (`Mon-Fri 07:30-20:30 Europe/Berlin`; engines.schedule_syntax) with optional
public holidays and exception dates that are off all day (engines.schedule_calendar). A wake-up
lease (`lease-until`) keeps the workload up, waking it if it is down, until an instant.

Pure (annotations + live replicas + an aware `now` in, a `Decision` out) so that the executor's
schedule-scale action (which writes the schedule), the worker's enforcer (app.services.schedules,
which acts on it) and the Schedules page read the format one way.

The enforcer acts only on transitions (kube-green style): when the latest transition is newer
than the one it last acted on (`last-transition`), it scales; between transitions it leaves the
replicas alone, so a change made by hand lasts until the next transition. The end of a lease
during off-hours counts as a scale-down transition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from engines.schedule_cron import crontab_trigger, fires_ever, next_fire, previous_fire
from engines.schedule_syntax import ScheduleSyntaxError, zone
from engines.schedule_uptime import UptimeSchedule

__all__ = ["Decision", "Outcome", "Schedule", "crontab_trigger", "decide", "next_fire", "previous_fire"]

PREFIX = "cloudoptim.io/schedule-"
# Written by the schedule-scale action (or by hand, on a workload or its namespace).
SCALE_DOWN = PREFIX + "scale-down"
SCALE_UP = PREFIX + "scale-up"
UPTIME = PREFIX + "uptime"
HOLIDAYS = PREFIX + "holidays"
EXCEPTIONS = PREFIX + "exceptions"
TIMEZONE = PREFIX + "timezone"
REPLICAS_OFF = PREFIX + "replicas-off"
ORIGINAL_REPLICAS = PREFIX + "original-replicas"
SCHEDULE_KEYS = (SCALE_DOWN, SCALE_UP, UPTIME, HOLIDAYS, EXCEPTIONS, TIMEZONE, REPLICAS_OFF)
# Written by the lease service (app.services.schedule_leases); removed by the enforcer once over.
LEASE_UNTIL = PREFIX + "lease-until"
# Written by the enforcer: the replicas it scaled down from (removed once restored), the HPA
# minReplicas it lowered, and the transition it last acted on, e.g. "down 2025-03-31T17:00:00+00:00".
RESTORE_REPLICAS = PREFIX + "restore-replicas"
RESTORE_MIN_REPLICAS = PREFIX + "restore-min-replicas"
LAST_TRANSITION = PREFIX + "last-transition"
ENFORCER_KEYS = (RESTORE_REPLICAS, RESTORE_MIN_REPLICAS, LAST_TRANSITION, LEASE_UNTIL)
# A workload (or namespace) labelled or annotated with this = "true" is never scheduled.
EXCLUDE = "cloudoptim.io/exclude"


class Outcome(StrEnum):
    SCALE_DOWN = "scale-down"
    SCALE_UP = "scale-up"
    UNCHANGED = "unchanged"  # already as the schedule wants (bookkeeping annotations may still change)
    MANUAL = "manual"  # changed by hand since the transition the enforcer acted on: kept
    LEASED = "leased"  # a wake-up lease keeps it up
    EXCLUDED = "excluded"  # protected namespace or exclude label: never touched
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
    timezone: ZoneInfo
    replicas_off: int
    restore: int | None
    scale_down: CronTrigger | None = None  # the cron form ...
    scale_up: CronTrigger | None = None
    uptime: UptimeSchedule | None = None  # ... or the uptime form
    lease_until: datetime | None = None
    text: str = ""

    def off_since(self, now: datetime) -> tuple[bool, datetime] | None:
        """(off, the transition that made it so) at `now`, or None when none came within a year."""
        if self.uptime is not None:
            since = self.uptime.previous_transition(now)
            return None if since is None else (not self.uptime.is_up(now), since)
        assert self.scale_down is not None and self.scale_up is not None
        down, up = previous_fire(self.scale_down, now), previous_fire(self.scale_up, now)
        if down is None and up is None:
            return None
        off = up is None or (down is not None and down > up)  # both in one minute: up wins, capacity stays
        since = down if off else up
        assert since is not None
        return off, since

    def next_change(self, off: bool, now: datetime) -> datetime | None:
        if self.uptime is not None:
            return self.uptime.next_transition(now)
        trigger = self.scale_up if off else self.scale_down
        assert trigger is not None
        return next_fire(trigger, now)

    def off_reason(self, now: datetime) -> str:
        why = self.uptime.day_off(now) if self.uptime is not None else None
        return f"off all day ({why})" if why else "outside office hours"

    def local(self, when: datetime | None) -> str:
        return when.astimezone(self.timezone).strftime("%a %Y-%m-%d %H:%M %Z") if when else "never"


def is_scheduled(annotations: Mapping[str, str]) -> bool:
    return any(key in annotations for key in (SCALE_DOWN, SCALE_UP, UPTIME))


def is_excluded(labels: Mapping[str, str], annotations: Mapping[str, str]) -> bool:
    return "true" in (str(labels.get(EXCLUDE, "")).lower(), str(annotations.get(EXCLUDE, "")).lower())


def parse_schedule(annotations: Mapping[str, str]) -> Schedule | str:
    """The schedule the annotations describe, or the reason they cannot be used."""
    zone_name = annotations.get(TIMEZONE, "UTC")
    try:
        tz = zone(zone_name)
    except ScheduleSyntaxError:
        return f"annotation {TIMEZONE} {zone_name!r} is not a known timezone"
    counts: list[int | None] = []
    for key, default in ((REPLICAS_OFF, "0"), (RESTORE_REPLICAS, None)):
        text = annotations.get(key, default)
        if text is not None and not (text.strip().isdigit()):
            return f"annotation {key} {text!r} is not a replica count (a whole number >= 0)"
        counts.append(int(text) if text is not None else None)
    off, restore = counts
    assert off is not None
    lease = _lease(annotations.get(LEASE_UNTIL))
    if isinstance(lease, str):
        return lease
    if annotations.get(UPTIME, "").strip():
        if any(annotations.get(key, "").strip() for key in (SCALE_DOWN, SCALE_UP)):
            return f"annotations {UPTIME} and {SCALE_DOWN}/{SCALE_UP} are both set: use one schedule form"
        try:
            uptime = UptimeSchedule.parse(annotations[UPTIME], tz, annotations.get(HOLIDAYS),
                                          annotations.get(EXCEPTIONS))  # fmt: skip
        except ScheduleSyntaxError as exc:
            key = next((k for k in (HOLIDAYS, EXCEPTIONS) if str(exc).startswith(k[len(PREFIX) : -1])), UPTIME)
            return f"annotation {key}: {exc}"
        return Schedule(tz, off, restore, uptime=uptime, lease_until=lease, text=annotations[UPTIME].strip())
    return _cron_schedule(annotations, tz, off, restore, lease)


def _cron_schedule(annotations: Mapping[str, str], tz: ZoneInfo, off: int, restore: int | None,
                   lease: datetime | None) -> Schedule | str:  # fmt: skip
    for key in (SCALE_DOWN, SCALE_UP):
        if not annotations.get(key, "").strip():
            return f"annotation {key} is missing or empty"
    if any(annotations.get(key, "").strip() for key in (HOLIDAYS, EXCEPTIONS)):
        return f"annotations {HOLIDAYS}/{EXCEPTIONS} need an {UPTIME} schedule, not crontab lines"
    triggers = []
    for key in (SCALE_DOWN, SCALE_UP):
        try:
            trigger = crontab_trigger(annotations[key], tz)
        except ValueError as exc:
            return f"annotation {key} {annotations[key]!r} is not a crontab expression: {exc}"
        if not fires_ever(trigger):
            return f"annotation {key} {annotations[key]!r} never fires"
        triggers.append(trigger)
    text = f"down '{annotations[SCALE_DOWN]}', up '{annotations[SCALE_UP]}'"
    return Schedule(tz, off, restore, triggers[0], triggers[1], lease_until=lease, text=text)


def _lease(text: str | None) -> datetime | str | None:
    if text is None or not text.strip():
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return f"annotation {LEASE_UNTIL} {text!r} is not an ISO-8601 time"
    if when.tzinfo is None:
        return f"annotation {LEASE_UNTIL} {text!r} has no UTC offset"
    return when.astimezone(UTC)  # marks and comparisons are in UTC


def acted_on(annotations: Mapping[str, str]) -> datetime | None:
    """The time of the transition the enforcer last acted on ("down 2025-..." -> that instant)."""
    try:
        return datetime.fromisoformat(annotations.get(LAST_TRANSITION, "").partition(" ")[2])
    except ValueError:
        return None


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
    lease = schedule.lease_until
    if lease is not None and now < lease:
        return _leased(schedule, replicas, lease)
    ended: dict[str, str | None] = {LEASE_UNTIL: None} if lease is not None else {}
    state = schedule.off_since(now)
    if state is None:
        return Decision(Outcome.UNCHANGED, "the schedule did not change state in the past year", after=ended)
    off, since = state
    period = f"{schedule.off_reason(now)} since {schedule.local(since)}" if off else \
        f"inside office hours since {schedule.local(since)}"  # fmt: skip
    if off and lease is not None and lease > since:  # "keep it up until 22:00": 22:00 is the scale-down
        since, period = lease, f"outside office hours, the wake-up lease ended at {schedule.local(lease)}"
    mark = f"{'down' if off else 'up'} {since.isoformat()}"
    coming = schedule.next_change(off, now)
    then = f"the scale-{'up' if off else 'down'} at {schedule.local(coming)}" if coming else "no later transition"
    acted = acted_on(annotations)
    if acted is not None and acted >= since:  # this transition was acted on already
        if off and schedule.restore is not None and replicas != schedule.replicas_off:
            return Decision(Outcome.MANUAL, f"{period}, but runs {replicas} replicas set since then: kept until {then}",
                            after=ended)  # fmt: skip
        return Decision(Outcome.UNCHANGED, f"{period}: {replicas} replicas; next: {then}", after=ended)
    if off:
        if replicas <= schedule.replicas_off:
            return Decision(Outcome.UNCHANGED, f"{period}: already at {replicas} replicas "
                                               f"(off-hours {schedule.replicas_off}); next: {then}",
                            after={LAST_TRANSITION: mark, **ended})  # fmt: skip
        return Decision(Outcome.SCALE_DOWN, f"{period}: {replicas} -> {schedule.replicas_off} replicas; "
                                            f"{then} restores {replicas}", replicas=schedule.replicas_off,
                        before={RESTORE_REPLICAS: str(replicas)}, after={LAST_TRANSITION: mark, **ended})  # fmt: skip
    done = {LAST_TRANSITION: mark, RESTORE_REPLICAS: None, **ended}
    if schedule.restore is None:
        return Decision(Outcome.UNCHANGED, f"{period}: nothing was scaled down, {replicas} replicas; next: {then}",
                        after=done)  # fmt: skip
    if replicas >= schedule.restore:
        return Decision(Outcome.UNCHANGED, f"{period}: already at {replicas} replicas (restore {schedule.restore}); "
                                           f"next: {then}", after=done)  # fmt: skip
    return Decision(Outcome.SCALE_UP, f"{period}: {replicas} -> {schedule.restore} replicas; next: {then}",
                    replicas=schedule.restore, after=done)  # fmt: skip


def _leased(schedule: Schedule, replicas: int, lease: datetime) -> Decision:
    # The transition mark is left alone: the scale-down after the lease is then newer than it.
    until = f"kept up by a wake-up lease until {schedule.local(lease)}"
    if schedule.restore is not None and replicas < schedule.restore:
        return Decision(Outcome.SCALE_UP, f"{until}: {replicas} -> {schedule.restore} replicas",
                        replicas=schedule.restore, after={RESTORE_REPLICAS: None})  # fmt: skip
    return Decision(Outcome.LEASED, f"{until}: {replicas} replicas, no scale-down before then")


def restore_replicas(annotations: Mapping[str, str]) -> int | None:
    """The replicas the enforcer scaled a workload down from and has not restored yet."""
    text = annotations.get(RESTORE_REPLICAS, "").strip()
    return int(text) if text.isdigit() else None


@dataclass(frozen=True)
class Status:
    """What a schedule wants at `now`, for the Schedules page: up or not (a lease counts), the
    next change, and the problem when the annotations cannot be used."""

    text: str
    timezone: str
    wants_up: bool | None = None
    next_change: datetime | None = None
    lease_until: datetime | None = None
    problem: str | None = None


def status(annotations: Mapping[str, str], now: datetime) -> Status:
    schedule = parse_schedule(annotations)
    text = annotations.get(UPTIME) or f"down '{annotations.get(SCALE_DOWN, '')}', up '{annotations.get(SCALE_UP, '')}'"
    if isinstance(schedule, str):
        return Status(text, annotations.get(TIMEZONE, "UTC"), problem=schedule)
    lease = schedule.lease_until if schedule.lease_until and schedule.lease_until > now else None
    state = schedule.off_since(now)
    off = state[0] if state else False
    coming = schedule.next_change(off, now)
    if lease is not None and (off or coming is None or coming < lease):  # nothing goes down before the lease ends
        coming = lease
    return Status(schedule.text, schedule.timezone.key, lease is not None or not off, coming, lease)
