"""Days an office-hours schedule is off all day: public holidays and explicit exception dates.

`cloudoptim.io/schedule-holidays` names a country, optionally with a subdivision (`DE`, `DE-BY`,
`US-CA`); its public holidays come from the `holidays` package, which computes them offline from
rules (no network). `cloudoptim.io/schedule-exceptions` lists YYYY-MM-DD dates (a company day
off, a migration weekend). A day counts by its date on the schedule's own timezone, so
Christmas in Berlin starts at midnight Berlin time whatever the server's clock says.

Pure apart from the package's rule tables; read by engines.schedules and the schedule-scale
action. Errors are ScheduleSyntaxError naming the bad code or date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cache

import holidays

from engines.schedule_syntax import ScheduleSyntaxError


@cache
def _supported() -> dict[str, tuple[str, ...]]:
    return {code: tuple(subdivs) for code, subdivs in holidays.list_supported_countries().items()}


def check_holiday_code(code: str) -> tuple[str, str | None]:
    """(country, subdivision) of a code like `DE-BY`; ScheduleSyntaxError names what is unknown."""
    text = code.strip()
    country, dash, subdiv = text.partition("-")
    country, subdiv = country.upper(), subdiv.upper()
    supported = _supported()
    if len(country) != 2 or country not in supported:
        raise ScheduleSyntaxError(f"holidays {code!r}: country {country!r} is not a country the holidays "
                                  f"package knows (ISO 3166 alpha-2, e.g. DE, US, FR)")  # fmt: skip
    if not dash:
        return country, None
    subdivisions = supported[country]
    if subdiv not in subdivisions:
        known = ", ".join(subdivisions[:40]) + (" ..." if len(subdivisions) > 40 else "")
        raise ScheduleSyntaxError(f"holidays {code!r}: subdivision {subdiv!r} is not one of {country}'s "
                                  f"({known or 'it has none'})")  # fmt: skip
    return country, subdiv


@cache
def _holidays_of(country: str, subdiv: str | None, year: int) -> dict[date, str]:
    table = holidays.country_holidays(country, subdiv=subdiv, years=year)
    return {day: str(name) for day, name in table.items()}


def parse_exceptions(text: str) -> frozenset[date]:
    """The dates of a comma-separated YYYY-MM-DD list; ScheduleSyntaxError names the bad item."""
    days = set()
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            days.add(date.fromisoformat(item))
        except ValueError as exc:
            raise ScheduleSyntaxError(f"exception date {item!r} in {text!r} is not a YYYY-MM-DD date") from exc
        if len(item) != 10:  # fromisoformat also takes 20260101; one spelling keeps annotations diffable
            raise ScheduleSyntaxError(f"exception date {item!r} in {text!r} is not a YYYY-MM-DD date")
    return frozenset(days)


@dataclass(frozen=True)
class Calendar:
    """The whole days off of one schedule; an empty calendar has none."""

    holiday_code: str | None = None
    exceptions: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, holiday_code: str | None, exceptions: str | None) -> Calendar:
        code = holiday_code.strip() if holiday_code and holiday_code.strip() else None
        if code is not None:
            check_holiday_code(code)
        return cls(code, parse_exceptions(exceptions or ""))

    @property
    def empty(self) -> bool:
        return self.holiday_code is None and not self.exceptions

    def day_off(self, day: date) -> str | None:
        """Why `day` is off all day ("public holiday Christmas Day (DE)"), or None for a working day."""
        if day in self.exceptions:
            return "exception date"
        if self.holiday_code is None:
            return None
        country, subdiv = check_holiday_code(self.holiday_code)
        name = _holidays_of(country, subdiv, day.year).get(day)
        return f"public holiday {name} ({self.holiday_code})" if name else None
