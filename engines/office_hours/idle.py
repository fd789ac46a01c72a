"""A namespace's CPU by local hour of the week, its office hours and the idle-off-hours test.

Called by `engine.OfficeHoursEngine` once per candidate namespace. `build_profile` adds the pods'
5-minute CPU series into one namespace series and buckets it by local hour of the week (zoneinfo,
so a DST change in the history moves the UTC hours, not the local ones); `find_window` derives the
office hours from it; `judge` runs the idle test. Each returns a reason string instead of a value
when the data cannot support a schedule, so the engine can skip with it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from engines.office_hours.settings import OfficeHoursSettings
from engines.snapshot_aws import ContainerUsage
from engines.windows import parse_window

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
HOURS_PER_WEEK = 168


@dataclass(frozen=True)
class Profile:
    """Measured slots of the namespace: total CPU cores and local hour of the week (0 = Mon 00:00)."""

    cores: np.ndarray
    hour_of_week: np.ndarray
    step_seconds: int
    days: float
    coverage: float

    def p95(self, how: int) -> float:
        return float(np.percentile(self.cores[self.hour_of_week == how], 95))

    def p50(self, how: int) -> float:
        return float(np.percentile(self.cores[self.hour_of_week == how], 50))


@dataclass(frozen=True)
class OfficeHours:
    days: tuple[int, ...]  # 0 = Monday
    start: int  # whole local hours, start < end <= 24
    end: int
    source: str  # "found in the history" or "default"

    def contains(self, how: np.ndarray) -> np.ndarray:
        day, hour = how // 24, how % 24
        return np.isin(day, self.days) & (hour >= self.start) & (hour < self.end)

    @property
    def hours_off_per_week(self) -> int:
        return HOURS_PER_WEEK - len(self.days) * (self.end - self.start)

    def uptime(self, timezone: str) -> str:
        """kube-downscaler style, as engines.schedule_syntax reads it: one `<days> HH:MM-HH:MM <tz>`
        period per run of consecutive days."""
        span = f"{self.start:02d}:00-{self.end:02d}:00"  # 24:00 = ends at midnight (engines.schedule_syntax)
        return ", ".join(f"{days} {span} {timezone}" for days in _day_runs(self.days))


@dataclass(frozen=True)
class Verdict:
    idle: bool
    in_hours_p50: float
    off_hours_p95: float
    limit: float
    off_hours_cpu_share: float
    busy_hours: str


@dataclass(frozen=True)
class Judged:
    """A namespace found idle outside its office hours, with what the finding rests on."""

    namespace: str
    tz_name: str
    tz: ZoneInfo
    series: list[ContainerUsage]
    profile: Profile
    hours: OfficeHours
    verdict: Verdict
    cpu_requests: float
    because: str = ""  # why it counts as non-production


def _day_runs(days: Iterable[int]) -> list[str]:
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return [DAY_NAMES[r[0]] if len(r) == 1 else f"{DAY_NAMES[r[0]]}-{DAY_NAMES[r[-1]]}" for r in runs]


def describe_hours(hours: Iterable[int], limit: int = 6) -> str:
    """Hours of the week as text, days with the same hours grouped: "Mon-Fri 02:00-04:00, Sat 10:00-24:00"."""
    by_day: dict[int, list[tuple[int, int]]] = {}
    for how in sorted(set(hours)):
        spans = by_day.setdefault(how // 24, [])
        if spans and spans[-1][1] == how % 24:
            spans[-1] = (spans[-1][0], how % 24 + 1)
        else:
            spans.append((how % 24, how % 24 + 1))
    groups: dict[tuple[tuple[int, int], ...], list[int]] = {}
    for day, spans in by_day.items():
        groups.setdefault(tuple(spans), []).append(day)
    parts = [f"{days} {a:02d}:00-{b:02d}:00"
             for spans, day_list in sorted(groups.items(), key=lambda g: g[1][0])
             for days in [",".join(_day_runs(day_list))] for a, b in spans]  # fmt: skip
    return ", ".join(parts[:limit]) + (f" and {len(parts) - limit} more" if len(parts) > limit else "")


def bad_samples(series: Iterable[ContainerUsage]) -> str | None:
    """The first series with NaN, infinite or negative CPU samples, named; None when all are sound."""
    for u in series:
        bad = [v for v in u.cpu_cores if v is not None and (not math.isfinite(v) or v < 0)]
        if bad:
            return (f"usage of pod {u.pod} container {u.container} has {len(bad)} CPU sample(s) that are NaN, "
                    f"infinite or negative (first {bad[0]!r}); the history cannot be trusted")  # fmt: skip
    return None


def build_profile(series: list[ContainerUsage], tz: ZoneInfo, s: OfficeHoursSettings) -> Profile | str:
    """The namespace's measured slots, or why its history cannot be judged."""
    if not series:
        return "no CPU usage history for its pods (the usage source has no series for this namespace)"
    series = [u for u in series if any(v is not None for v in u.cpu_cores)]
    if not series:
        return "its pods' usage series hold no CPU sample at all"
    bad = bad_samples(series)
    if bad:
        return bad
    steps = {u.step_seconds for u in series}
    if len(steps) != 1 or min(steps) <= 0:
        return f"its usage series have different or invalid steps ({sorted(steps)} seconds); cannot add them up"
    if any(u.start.tzinfo is None for u in series):
        return "a usage series starts at a naive time (no timezone); local hours cannot be known"
    step = steps.pop()
    # A pod's series spans its life, first to last sample: a short-lived (job) pod padded with
    # empty slots is not a gap; an empty slot inside its life is.
    lives = []
    for u in series:
        values = np.array([np.nan if v is None else v for v in u.cpu_cores], dtype=float)
        alive = np.flatnonzero(~np.isnan(values))
        lives.append((u.start + timedelta(seconds=int(alive[0]) * step), values[alive[0]:alive[-1] + 1]))
    t0 = min(start for start, _ in lives)
    offsets = [round((start - t0).total_seconds() / step) for start, _ in lives]
    n = max(o + len(values) for o, (_, values) in zip(offsets, lives, strict=True))
    total, spanning, present = np.zeros(n), np.zeros(n, dtype=int), np.zeros(n, dtype=int)
    for o, (_, values) in zip(offsets, lives, strict=True):
        total[o:o + len(values)] += np.nan_to_num(values)
        spanning[o:o + len(values)] += 1
        present[o:o + len(values)] += ~np.isnan(values)
    # A slot counts only when every series that spans it has a sample: a missing pod would look idle.
    measured = (spanning > 0) & (present == spanning)
    days, coverage = n * step / 86400, float(measured.mean())
    if days < s.min_history_days:
        return f"only {days:.1f} days of usage history; at least {s.min_history_days} are needed to judge the nights"
    if coverage * 100 < s.min_coverage_percent:
        return (f"usage history has gaps: {coverage:.0%} of the 5-minute slots of its {days:.1f} days are measured "
                f"(needs {s.min_coverage_percent:g} %)")  # fmt: skip
    index = np.flatnonzero(measured)
    how = np.array([_hour_of_week(t0 + timedelta(seconds=int(i) * step), tz) for i in index], dtype=int)
    counts = np.bincount(how, minlength=HOURS_PER_WEEK)
    thin = [h for h in range(HOURS_PER_WEEK) if counts[h] < s.min_samples_per_hour_of_week]
    if thin:
        return (f"too few samples in {len(thin)} hour(s) of the week (needs {s.min_samples_per_hour_of_week} each): "
                f"{describe_hours(thin)}")  # fmt: skip
    return Profile(total[index], how, step, days, coverage)


def _hour_of_week(moment: datetime, tz: ZoneInfo) -> int:
    local = moment.astimezone(tz)
    return local.weekday() * 24 + local.hour


def default_hours(s: OfficeHoursSettings) -> OfficeHours:
    window = parse_window(s.default_office_hours)
    end = window.end.hour or 24
    return OfficeHours(tuple(sorted(window.days)), window.start.hour, end, "default")


def find_window(profile: Profile, s: OfficeHoursSettings) -> OfficeHours | str:
    """The office hours: the smallest window of whole hours on the office days holding every active
    hour, padded; the default when finding is off or nothing stands out; a reason when the namespace
    is active outside any such window (at night or on other days)."""
    default = default_hours(s)
    if not s.find_office_hours:
        return default
    p95 = np.array([profile.p95(h) for h in range(HOURS_PER_WEEK)])
    peak = max(profile.p50(h) for h in range(HOURS_PER_WEEK))
    if peak <= 0:
        return default
    active = {h for h in range(HOURS_PER_WEEK) if p95[h] >= peak * s.activity_percent_of_peak / 100}
    off_days = {h for h in active if h // 24 not in default.days}
    hours = sorted({h % 24 for h in active - off_days})
    if not hours:
        return f"busy only outside the office days: active at {describe_hours(off_days)}"
    start, end = max(0, hours[0] - s.padding_hours), min(24, hours[-1] + 1 + s.padding_hours)
    if end - start > s.max_office_hours_per_day:
        # Name what lies outside the default hours: that is the activity that stretches the window.
        outside = {h for h in active if not (default.start <= h % 24 < default.end)} | off_days
        return (f"busy at night: active at {describe_hours(outside or active)}, so office hours would need "
                f"{end - start} hours a day (at most {s.max_office_hours_per_day})")  # fmt: skip
    if off_days:
        return f"busy outside the office days: active at {describe_hours(off_days)}"
    return OfficeHours(default.days, start, end, "found in the history")


def judge(profile: Profile, hours: OfficeHours, cpu_requests: float, s: OfficeHoursSettings) -> Verdict:
    """The idle test: off-hours p95 below both the request share and the in-hours median share."""
    inside = hours.contains(profile.hour_of_week)
    in_p50 = float(np.percentile(profile.cores[inside], 50)) if inside.any() else 0.0
    off_p95 = float(np.percentile(profile.cores[~inside], 95)) if (~inside).any() else 0.0
    limits = [in_p50 * s.idle_percent_of_in_hours / 100]
    if cpu_requests > 0:
        limits.append(cpu_requests * s.idle_percent_of_requests / 100)
    limit = min(limits)
    all_cpu = float(profile.cores.sum())
    share = float(profile.cores[~inside].sum()) / all_cpu if all_cpu > 0 else 0.0
    busy: list[int] = []
    if off_p95 >= limit:
        off_hours = sorted({int(h) for h in profile.hour_of_week[~inside]})
        busy = [h for h in off_hours if profile.p95(h) >= limit] or off_hours[:1]
    idle = in_p50 > 0 and off_p95 < limit
    return Verdict(idle, in_p50, off_p95, limit, share, describe_hours(busy) if busy else "")


def run_hours(series: list[ContainerUsage], tz: ZoneInfo, hours: OfficeHours, days: float) -> tuple[float, float]:
    """(pod-hours per week outside office hours, pod-hours per week in all) that a CronJob's pods ran:
    a pod runs in a slot when any of its containers has a sample there."""
    slots: dict[str, set[datetime]] = {}
    for u in series:
        seen = slots.setdefault(u.pod, set())
        seen.update(u.start + timedelta(seconds=i * u.step_seconds) for i, v in enumerate(u.cpu_cores) if v is not None)
    step = series[0].step_seconds if series else 300
    stamps = [t for seen in slots.values() for t in seen]
    if not stamps or days <= 0:
        return 0.0, 0.0
    how = np.array([_hour_of_week(t, tz) for t in stamps], dtype=int)
    off = int((~hours.contains(how)).sum())
    per_week = step / 3600 * 7 / days
    return off * per_week, len(stamps) * per_week


def hour_profile(profile: Profile) -> dict[str, list[float]]:
    """p95 namespace CPU (cores, 3 decimals) per local hour, one list of 24 per day, for the evidence."""
    return {DAY_NAMES[d]: [round(profile.p95(d * 24 + h), 3) for h in range(24)] for d in range(7)}
