"""Maintenance windows: when disruptive actions (drains, node replacements, terminations) may run.

A window is written the way change calendars say it: `[DAYS ]HH:MM-HH:MM`, for example
`sat,sun 00:00-06:00`, `mon-fri 22:00-05:00` (an end before the start runs past midnight into
the next day) or `01:00-04:00` (every day). Days are English three-letter names, lists and
ranges (`mon-fri`, `fri-mon` wraps). Times are local to an IANA timezone. Pure: `now` is passed
in, so the executor guard, the Apply review and the tests agree on what "inside" means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FORM = re.compile(r"^\s*(?:(?P<days>[a-z,\-\s]+?)\s+)?(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$", re.I)
EXAMPLE = "sat,sun 00:00-06:00"


class WindowError(ValueError):
    """A window that cannot be read; the message says what is wrong and shows an example."""


@dataclass(frozen=True)
class Window:
    days: frozenset[int]  # 0 = Monday, as datetime.weekday()
    start: time
    end: time
    timezone: str
    text: str

    @property
    def _tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def contains(self, now: datetime) -> bool:
        """Whether `now` (timezone-aware) falls inside the window."""
        local = now.astimezone(self._tz)
        day, at = local.weekday(), local.time()
        if self.start < self.end:
            return day in self.days and self.start <= at < self.end
        # Past midnight: the evening part belongs to the listed day, the morning part to the next.
        return (day in self.days and at >= self.start) or ((day - 1) % 7 in self.days and at < self.end)

    def next_opening(self, now: datetime) -> datetime:
        """The next start of the window after `now`, in the window's timezone."""
        local = now.astimezone(self._tz)
        for ahead in range(8):
            day = local.date() + timedelta(days=ahead)
            if day.weekday() in self.days:
                opening = datetime.combine(day, self.start, tzinfo=self._tz)
                if opening > local:
                    return opening
        raise AssertionError("a window with at least one day opens within 8 days")

    def describe(self) -> str:
        return f"{self.text} ({self.timezone})"


def _day(name: str, text: str) -> int:
    key = name.strip().lower()[:3]
    if key not in DAYS:
        raise WindowError(f"{name.strip()!r} in {text!r} is not a day (use mon, tue, wed, thu, fri, sat, sun)")
    return DAYS.index(key)


def _days(spec: str, text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in (p for p in spec.split(",") if p.strip()):
        if "-" in part:
            first, last = (_day(x, text) for x in part.split("-", 1))
            days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
        else:
            days.add(_day(part, text))
    return frozenset(days)


def _time(value: str, text: str) -> time:
    hours, minutes = (int(x) for x in value.split(":"))
    if hours > 23 or minutes > 59:
        raise WindowError(f"{value} in {text!r} is not a time of day (00:00 to 23:59)")
    return time(hours, minutes)


def parse_window(text: str, timezone: str = "UTC") -> Window:
    """Read a window; raise WindowError naming the problem."""
    found = _FORM.match(text)
    if not found:
        raise WindowError(f"{text!r} is not a window: write [DAYS ]HH:MM-HH:MM, for example {EXAMPLE!r}")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError(f"{timezone!r} is not an IANA timezone (for example Europe/Berlin or UTC)") from None
    start, end = _time(found["start"], text), _time(found["end"], text)
    if start == end:
        raise WindowError(f"{text!r} starts and ends at the same time; a window needs a length")
    days = _days(found["days"], text) if found["days"] else frozenset(range(7))
    return Window(days, start, end, timezone, " ".join(text.split()))
