"""The readable office-hours language of `cloudoptim.io/schedule-uptime`, kube-downscaler style.

`Mon-Fri 07:30-20:30 Europe/Berlin, Sat 10:00-14:00` = one or more comma-separated periods, each
`<days> <HH:MM>-<HH:MM> [<IANA timezone>]`. Days are `Mon`..`Sun` (any case) or a range, which may
wrap (`Fri-Mon`). An end before the start runs past midnight into the next day (`Fri 22:00-02:00`
is Friday 22:00 to Saturday 02:00), `24:00` ends at midnight, so `Sat-Sun 00:00-24:00` is the
whole weekend. A period without a timezone uses the schedule's (the `schedule-timezone`
annotation, or the action's `timezone`).

Pure; read by engines.schedules (the decision), the schedule-scale action (validation) and the
office-hours engine's tests. Every error is a `ScheduleSyntaxError` that quotes the whole text,
names the wrong part and gives its 1-based character position, so an analyst can fix a typo
without reading this file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # index = datetime.weekday()
EXAMPLE = "Mon-Fri 07:30-20:30 Europe/Berlin"
_TOKEN = re.compile(r"\S+")
_TIMES = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
MINUTES_PER_DAY = 24 * 60
_Fail = Callable[[str, int], "ScheduleSyntaxError"]  # builds an error pointing into the text


class ScheduleSyntaxError(ValueError):
    """An uptime (or holiday/exception) text that cannot be read; the message points at the bad part."""


@dataclass(frozen=True)
class Period:
    """One weekly period: on each of `days` from `start` to `end` (minutes after local midnight).

    `end` <= `start` means the period ends on the next day; `end` may be 1440 (24:00).
    """

    days: frozenset[int]
    start: int
    end: int
    timezone: ZoneInfo
    text: str

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def contains(self, when: datetime) -> bool:
        """Whether the aware `when` is inside the period, read on the wall clock of its timezone
        (so a period keeps its local hours across a DST change)."""
        local = when.astimezone(self.timezone)
        day = local.weekday()
        second = local.hour * 3600 + local.minute * 60 + local.second
        start, end = self.start * 60, self.end * 60
        if not self.crosses_midnight:
            return day in self.days and start <= second < end
        # The evening part belongs to the listed day, the morning part to the day after it.
        return (day in self.days and second >= start) or ((day - 1) % 7 in self.days and second < end)


def zone(name: str, what: str = "timezone") -> ZoneInfo:
    """The IANA timezone `name`, or a ScheduleSyntaxError saying it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleSyntaxError(f"{what} {name!r} is not a known IANA timezone (e.g. Europe/Berlin)") from exc


def parse_uptime(text: str, default_timezone: str | ZoneInfo = "UTC") -> tuple[Period, ...]:
    """The periods of an uptime text; raises ScheduleSyntaxError naming the wrong part."""
    default = default_timezone if isinstance(default_timezone, ZoneInfo) else zone(default_timezone)
    if not text.strip():
        raise ScheduleSyntaxError(f'uptime {text!r} is empty; write e.g. "{EXAMPLE}"')
    periods, offset = [], 0
    for part in text.split(","):
        periods.append(_period(text, part, offset, default))
        offset += len(part) + 1
    return tuple(periods)


def _period(text: str, part: str, offset: int, default: ZoneInfo) -> Period:
    def fail(message: str, at: int) -> ScheduleSyntaxError:
        return ScheduleSyntaxError(f'uptime "{text}": {message} (at character {offset + at + 1})')

    tokens = [(m.group(), m.start()) for m in _TOKEN.finditer(part)]
    if not tokens:
        raise fail(f'an empty period; each period is "<days> <HH:MM>-<HH:MM> [timezone]", e.g. "{EXAMPLE}"', 0)
    if len(tokens) == 1:
        raise fail(f'period "{part.strip()}" has no hours; write e.g. "{EXAMPLE}"', tokens[0][1])
    if len(tokens) > 3:
        word, at = tokens[3]
        raise fail(f'unexpected "{word}" after the timezone; separate periods with commas', at)
    days = _days(tokens[0][0], tokens[0][1], fail)
    start, end = _hours(tokens[1][0], tokens[1][1], fail)
    timezone = default
    if len(tokens) == 3:
        name, at = tokens[2]
        try:
            timezone = zone(name)
        except ScheduleSyntaxError as exc:
            raise fail(str(exc), at) from exc
    return Period(days, start, end, timezone, part.strip())


def _days(word: str, at: int, fail: _Fail) -> frozenset[int]:
    first, dash, last = word.partition("-")
    low = _day(first, at, fail)
    if not dash:
        return frozenset({low})
    high = _day(last, at + len(first) + 1, fail)
    # A wrapping range (Fri-Mon) runs through Sunday into the new week.
    return frozenset((low + step) % 7 for step in range((high - low) % 7 + 1))


def _day(word: str, at: int, fail: _Fail) -> int:
    for index, name in enumerate(DAYS):
        if word.lower() == name.lower():
            return index
    raise fail(f'day "{word}" is not one of Mon..Sun', at)


def _hours(word: str, at: int, fail: _Fail) -> tuple[int, int]:
    match = _TIMES.match(word)
    if match is None:
        raise fail(f'hours "{word}" are not HH:MM-HH:MM (e.g. 07:30-20:30)', at)
    start_h, start_m, end_h, end_m = (int(g) for g in match.groups())
    if start_h > 23 or start_m > 59:
        raise fail(f'start "{word.partition("-")[0]}" is not a time of day 00:00..23:59', at)
    end_at = at + word.index("-") + 1
    if end_m > 59 or end_h > 24 or (end_h == 24 and end_m):
        raise fail(f'end "{word.partition("-")[2]}" is not a time of day 00:00..24:00', end_at)
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if start == end % MINUTES_PER_DAY and end != MINUTES_PER_DAY:
        raise fail(f'period "{word}" starts and ends at the same time; 00:00-24:00 is a whole day', at)
    return start, end
