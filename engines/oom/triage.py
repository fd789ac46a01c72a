"""Triage of one OOM-killed container from its memory history, before anything is bumped.

Called by `engine.OomRemediationEngine` with the 5-minute `memory_bytes` series of every pod of
one owner's container. It drops missing slots, refuses garbage (NaN, negative, above any node's
memory) beyond the allowed share, and names the case: `limit-too-low` (per-day peaks sit at the
limit), `spike` (usage normally well under it), `leak` (memory grows in straight lines between
restarts), or, with too few samples, `crash-loop` / `no-usage` (sized from the limit instead).
Pure: plain numbers in, a `Triage` or a reason out.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

from engines.oom.settings import OomRemediationSettings
from engines.snapshot_aws import ContainerUsage

Kind = Literal["limit-too-low", "spike", "leak", "crash-loop", "no-usage"]
MIB = 2**20


@dataclass(frozen=True)
class Stretch:
    """One stretch of a pod's series between restarts, with its straight-line fit."""

    pod: str
    start: datetime
    hours: float
    slope_bytes_per_hour: float
    r2: float
    rise_bytes: float


@dataclass(frozen=True)
class Triage:
    kind: Kind
    samples: int
    missing: int
    bad: dict[str, int]
    peak: float | None = None
    p95: float | None = None
    median_daily_peak: float | None = None
    daily_peaks: tuple[tuple[date, float], ...] = ()
    stretches: tuple[Stretch, ...] = ()
    growing: tuple[Stretch, ...] = ()

    def as_evidence(self) -> dict[str, Any]:
        def mib(value: float | None) -> float | None:
            return None if value is None else round(value / MIB, 1)

        out: dict[str, Any] = {
            "class": self.kind,
            "valid_samples": self.samples,
            "missing_samples": self.missing,
            "dropped_samples": dict(sorted(self.bad.items())),
            "peak_mib": mib(self.peak),
            "p95_mib": mib(self.p95),
            "median_daily_peak_mib": mib(self.median_daily_peak),
            "daily_peaks_mib": [{"day": d.isoformat(), "peak_mib": mib(v)} for d, v in self.daily_peaks],
        }
        if self.stretches:
            out["stretches_fitted"] = len(self.stretches)
            out["growing_stretches"] = [
                {"pod": s.pod, "start": s.start.isoformat(), "hours": round(s.hours, 1),
                 "growth_mib_per_hour": round(s.slope_bytes_per_hour / MIB, 2), "r2": round(s.r2, 3),
                 "rise_mib": round(s.rise_bytes / MIB, 1)}
                for s in self.growing
            ]  # fmt: skip
        return out


def _fit(hours: Sequence[float], values: Sequence[float]) -> tuple[float, float]:
    """Least-squares slope and R squared of values over hours."""
    mean_x, mean_y = statistics.fmean(hours), statistics.fmean(values)
    sxx = sum((x - mean_x) ** 2 for x in hours)
    syy = sum((y - mean_y) ** 2 for y in values)
    if sxx == 0 or syy == 0:
        return 0.0, 0.0
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(hours, values, strict=True))
    return sxy / sxx, (sxy * sxy) / (sxx * syy)


def _stretches(pod: str, points: list[tuple[datetime, float]], s: OomRemediationSettings) -> list[Stretch]:
    """Split at restarts (a drop by more than reset_drop_fraction) and fit each long stretch."""
    runs: list[list[tuple[datetime, float]]] = [[]]
    for when, value in points:
        run = runs[-1]
        if run and value < run[-1][1] * (1 - s.reset_drop_fraction):
            runs.append([])
        runs[-1].append((when, value))
    out = []
    for run in runs:
        if len(run) < 3:
            continue
        hours = [(when - run[0][0]).total_seconds() / 3600 for when, _ in run]
        if hours[-1] < s.leak_min_hours:
            continue
        slope, r2 = _fit(hours, [v for _, v in run])
        out.append(Stretch(pod, run[0][0], hours[-1], slope, r2, slope * hours[-1]))
    return out


def classify(
    series: Sequence[ContainerUsage],
    *,
    limit: int,
    restarts: int,
    absurd_bytes: float,
    since: datetime,
    settings: OomRemediationSettings,
) -> Triage | str:
    """The case's class, or the reason its usage cannot be trusted (a skip)."""
    s = settings
    bad = {"nan": 0, "negative": 0, "above node memory": 0}
    missing = 0
    per_pod: dict[str, list[tuple[datetime, float]]] = {}
    for usage in sorted(series, key=lambda u: (u.pod, u.start)):
        step = timedelta(seconds=usage.step_seconds)
        for i, raw in enumerate(usage.memory_bytes):
            when = usage.start + i * step
            if when < since:
                continue
            if raw is None:
                missing += 1
            elif not math.isfinite(raw):
                bad["nan"] += 1
            elif raw < 0:
                bad["negative"] += 1
            elif raw > absurd_bytes:
                bad["above node memory"] += 1
            else:
                per_pod.setdefault(usage.pod, []).append((when, float(raw)))
    bad = {k: v for k, v in bad.items() if v}
    valid = sum(len(p) for p in per_pod.values())
    recorded = valid + sum(bad.values())
    if bad and sum(bad.values()) > s.max_bad_sample_share * recorded:
        detail = ", ".join(f"{n} {k}" for k, n in sorted(bad.items()))
        return (f"its memory series is unusable: {detail} of {recorded} recorded samples, more than the "
                f"{s.max_bad_sample_share:.0%} allowed; nothing is sized on it")
    if valid < s.min_valid_samples:
        kind: Kind = "crash-loop" if restarts >= s.crash_loop_min_restarts else "no-usage"
        return Triage(kind, valid, missing, bad)
    values = sorted(v for p in per_pod.values() for _, v in p)
    days: dict[date, float] = {}
    for points in per_pod.values():
        for when, value in points:
            days[when.date()] = max(days.get(when.date(), 0.0), value)
    daily = tuple(sorted(days.items()))
    median_peak = statistics.median(v for _, v in daily)
    stretches = [st for pod, points in sorted(per_pod.items()) for st in _stretches(pod, points, s)]
    growing = [st for st in stretches
               if st.slope_bytes_per_hour > 0 and st.r2 >= s.leak_min_r2 and st.rise_bytes >= s.leak_min_rise_fraction * limit]
    p95 = values[min(len(values) - 1, math.ceil(0.95 * len(values)) - 1)]
    base = Triage("spike", valid, missing, bad, values[-1], p95, median_peak, daily, tuple(stretches), tuple(growing))
    if stretches and 2 * len(growing) >= len(stretches):
        return replace(base, kind="leak")
    if median_peak >= s.steady_peak_fraction * limit:
        return replace(base, kind="limit-too-low")
    return base
