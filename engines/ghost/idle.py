"""The daily idle test of one running instance over the window, Trusted Advisor style.

Called by `engine.GhostProbeEngine` with the instance's `MetricSummary.daily` and the settings.
A day is measured when it lies in the window, has at least `min_hours_per_day` hours of data and
both CPU and network values; days without data (stopped, not yet launched, CloudWatch gap) are
absent from the collector's list and are counted as such, never as zero, as Cloud Custodian does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from engines.ghost.settings import GhostProbeSettings
from engines.snapshot_aws import DailyMetric

MB = 1_000_000  # Trusted Advisor's "5 MB" is decimal megabytes


@dataclass(frozen=True)
class DayVerdict:
    day: date
    hours: int
    cpu_avg: float
    cpu_max: float | None
    network_mb_per_day: float
    low: bool

    def as_evidence(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "hours": self.hours,
            "cpu_avg_percent": round(self.cpu_avg, 2),
            "cpu_max_percent": None if self.cpu_max is None else round(self.cpu_max, 2),
            "network_mb_per_day": round(self.network_mb_per_day, 3),
            "low": self.low,
        }


@dataclass(frozen=True)
class Window:
    """What the window holds: measured days with their verdict, and why other days do not count."""

    first_day: date
    last_day: date
    window_days: int
    days: tuple[DayVerdict, ...] = ()
    partial_days: tuple[str, ...] = ()
    incomplete_days: tuple[str, ...] = ()
    no_data_days: int = 0
    outside_days: int = 0

    @property
    def measured(self) -> int:
        return len(self.days)

    @property
    def low(self) -> int:
        return sum(1 for d in self.days if d.low)

    @property
    def low_share(self) -> float:
        return self.low / self.measured if self.measured else 0.0

    @property
    def peak_cpu(self) -> float | None:
        peaks = [d.cpu_max if d.cpu_max is not None else d.cpu_avg for d in self.days]
        return max(peaks) if peaks else None

    def as_evidence(self, settings: GhostProbeSettings) -> dict[str, Any]:
        return {
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "window_days": self.window_days,
            "measured_days": self.measured,
            "low_days": self.low,
            "min_low_days": settings.min_low_days,
            "min_measured_days": settings.min_measured_days,
            "days_without_data": self.no_data_days,
            "partial_days_dropped": list(self.partial_days),
            "days_missing_cpu_or_network": list(self.incomplete_days),
            "min_hours_per_day": settings.min_hours_per_day,
            "cpu_threshold_percent": settings.cpu_threshold_percent,
            "network_threshold_mb_per_day": settings.network_threshold_mb_per_day,
            "peak_cpu_percent": None if self.peak_cpu is None else round(self.peak_cpu, 2),
            "missing_data_rule": (
                "days without data or with fewer hours than the minimum are not counted (neither low nor "
                "busy), as Cloud Custodian and Trusted Advisor treat missing CloudWatch data"
            ),
            "days": [d.as_evidence() for d in self.days],
        }


def judge(daily: tuple[DailyMetric, ...], today: date, settings: GhostProbeSettings) -> Window:
    """Classify every day of the window ending on `today` (inclusive)."""
    first = today - timedelta(days=settings.window_days - 1)
    seen: set[date] = set()
    verdicts: list[DayVerdict] = []
    partial: list[str] = []
    incomplete: list[str] = []
    outside = 0
    for metric in sorted(daily, key=lambda m: m.day):
        if metric.day < first or metric.day > today or metric.day in seen:
            outside += 1
            continue
        seen.add(metric.day)
        if metric.hours < settings.min_hours_per_day:
            partial.append(f"{metric.day.isoformat()} ({metric.hours} h)")
            continue
        if metric.cpu_avg is None or metric.network_bytes is None:
            incomplete.append(metric.day.isoformat())
            continue
        # A partly measured day is scaled to 24 h, so fewer hours never make a day look quieter.
        network_mb = metric.network_bytes * 24 / max(1, min(metric.hours, 24)) / MB
        low = metric.cpu_avg <= settings.cpu_threshold_percent and network_mb <= settings.network_threshold_mb_per_day
        verdicts.append(DayVerdict(metric.day, metric.hours, metric.cpu_avg, metric.cpu_max, network_mb, low))
    return Window(
        first_day=first,
        last_day=today,
        window_days=settings.window_days,
        days=tuple(verdicts),
        partial_days=tuple(partial),
        incomplete_days=tuple(incomplete),
        no_data_days=settings.window_days - len(seen),
        outside_days=outside,
    )
