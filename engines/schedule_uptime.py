"""When an uptime schedule (engines.schedule_syntax periods + engines.schedule_calendar days off)
is up, and the instants its state changes.

A workload is up at `t` when `t` is inside one of the periods (each on its own wall clock) and
the date of `t` in the schedule's timezone is not a day off. The state is constant between
"boundaries": each period's start and end on every local day, and every local midnight (where a
day off begins or ends). A transition is a boundary where the state really changes, so two
periods that touch (`Sun 20:00-24:00, Mon 00:00-08:00`) do not make a transition at midnight.

Boundaries are built from local dates and wall-clock times with zoneinfo, so 07:30 stays 07:30 in
summer and winter; on a spring-forward day a start inside the skipped hour falls at the first
instant after it. Pure; used by engines.schedules.decide and by the Schedules page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from engines.schedule_calendar import Calendar
from engines.schedule_syntax import Period, parse_uptime

# Searched in growing windows; a year covers any realistic run of exception dates and holidays.
_WINDOWS_DAYS = (2, 9, 40, 400)
_EPSILON = timedelta(seconds=1)  # boundaries are whole minutes: one second before is the state before


@dataclass(frozen=True)
class UptimeSchedule:
    periods: tuple[Period, ...]
    calendar: Calendar
    timezone: ZoneInfo

    @classmethod
    def parse(cls, uptime: str, timezone: ZoneInfo, holidays: str | None = None,
              exceptions: str | None = None) -> UptimeSchedule:  # fmt: skip
        """Raises ScheduleSyntaxError for a bad text, holiday code or exception date."""
        return cls(parse_uptime(uptime, timezone), Calendar.parse(holidays, exceptions), timezone)

    def is_up(self, when: datetime) -> bool:
        if self.calendar.day_off(when.astimezone(self.timezone).date()) is not None:
            return False
        return any(period.contains(when) for period in self.periods)

    def day_off(self, when: datetime) -> str | None:
        return self.calendar.day_off(when.astimezone(self.timezone).date())

    def previous_transition(self, now: datetime) -> datetime | None:
        """The latest instant at or before `now` (UTC) where the state changed, or None within a year."""
        now = now.astimezone(UTC)
        for days in _WINDOWS_DAYS:
            for boundary in sorted(self._boundaries(now - timedelta(days=days), now), reverse=True):
                if self._changes_at(boundary):
                    return boundary
        return None

    def next_transition(self, now: datetime) -> datetime | None:
        """The first instant strictly after `now` (UTC) where the state changes, or None within a year."""
        now = now.astimezone(UTC)
        for days in _WINDOWS_DAYS:
            for boundary in sorted(self._boundaries(now + _EPSILON, now + timedelta(days=days))):
                if self._changes_at(boundary):
                    return boundary
        return None

    def _changes_at(self, boundary: datetime) -> bool:
        return self.is_up(boundary) != self.is_up(boundary - _EPSILON)

    def _boundaries(self, low: datetime, high: datetime) -> set[datetime]:
        """Every instant in [low, high] (UTC) where the state may change.

        The state is a function of the wall clock, which moves continuously except at a DST
        change: so the candidates are each boundary's wall-clock time (both readings of a repeated
        hour) and the DST changes themselves (a skipped or repeated hour jumps over boundaries).
        """
        found = set()
        for tz, day, minute in self._local_boundaries(low, high):
            wall = datetime.combine(day, time(0)) + timedelta(minutes=minute)
            for fold in (0, 1):
                found.add(wall.replace(tzinfo=tz, fold=fold).astimezone(UTC))
        for tz in self._zones():
            found.update(_offset_changes(tz, low, high))
        return {when for when in found if low <= when <= high}

    def _zones(self) -> set[ZoneInfo]:
        return {self.timezone, *(period.timezone for period in self.periods)}

    def _local_boundaries(self, low: datetime, high: datetime) -> Iterator[tuple[ZoneInfo, date, int]]:
        for zone in self._zones():
            first = low.astimezone(zone).date() - timedelta(days=1)
            last = high.astimezone(zone).date() + timedelta(days=1)
            day = first
            while day <= last:
                if zone == self.timezone:
                    yield zone, day, 0  # midnight: a day off begins or ends
                for period in self.periods:
                    if period.timezone == zone and day.weekday() in period.days:
                        yield zone, day, period.start
                        yield zone, day, period.end + (24 * 60 if period.crosses_midnight else 0)
                day += timedelta(days=1)


def _offset_changes(tz: ZoneInfo, low: datetime, high: datetime) -> Iterator[datetime]:
    """The instants in about [low, high] where `tz` changes its UTC offset, to the second."""
    step = timedelta(hours=12)  # zones change offset at most a few times a year, never twice in 12 h
    start = low - step
    while start < high:
        end = start + step
        if start.astimezone(tz).utcoffset() != end.astimezone(tz).utcoffset():
            before, after = int(start.timestamp()), int(end.timestamp())
            while after - before > 1:  # invariant: the first second of the new offset is in (before, after]
                middle = (before + after) // 2
                if _offset(tz, middle) == _offset(tz, before):
                    before = middle
                else:
                    after = middle
            yield datetime.fromtimestamp(after, UTC)
        start = end


def _offset(tz: ZoneInfo, timestamp: int) -> timedelta | None:
    return datetime.fromtimestamp(timestamp, UTC).astimezone(tz).utcoffset()
