"""The usage-history interface (`UsageSource`) and the sample grid every source resamples onto.

Implemented by `usage_prometheus.PrometheusUsageSource` and `usage_file.FileUsageSource`; called
by `app.collectors.snapshot.build_snapshot`. All sources return the same shape for the same data:

* the grid is Prometheus' query_range grid: `start + i*step` for i = 0 .. floor((end-start)/step);
* the value at slot t covers the interval (t - step, t]: CPU is the mean of the samples in it
  (what `rate(counter[step])` yields for a counter), memory the maximum (a working-set peak is what
  an OOM-safe rightsizing needs); a slot with no sample is None.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from engines.snapshot_aws import ContainerUsage

Key = tuple[str, str, str]  # (namespace, pod, container)


@runtime_checkable
class UsageSource(Protocol):
    """Anything that can return per-container usage history on a regular grid."""

    name: str

    def fetch(
        self,
        namespace_pods: Iterable[Key] | None,
        start: datetime,
        end: datetime,
        step_seconds: int,
    ) -> list[ContainerUsage]:
        """Usage of the given (namespace, pod, container) keys, or of everything when None."""
        ...


def slot_count(start: datetime, end: datetime, step_seconds: int) -> int:
    if step_seconds <= 0:
        raise ValueError("step_seconds must be positive")
    if end < start:
        raise ValueError("end is before start")
    return int((end - start).total_seconds() // step_seconds) + 1


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC (CSV exports rarely carry an offset)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass
class _Series:
    workload_kind: str | None
    workload_name: str | None
    # Running aggregates per slot index: a 14-day, 5-minute file has ~4,000 slots per container.
    cpu_sum: dict[int, float] = field(default_factory=dict)
    cpu_count: dict[int, int] = field(default_factory=dict)
    memory_max: dict[int, float] = field(default_factory=dict)


class UsageGrid:
    """Collects raw samples of many containers and resamples them onto one query grid."""

    def __init__(self, start: datetime, end: datetime, step_seconds: int, keys: Iterable[Key] | None = None) -> None:
        self.start = as_utc(start)
        self._start_epoch = self.start.timestamp()
        self.step = step_seconds
        self.slots = slot_count(self.start, as_utc(end), step_seconds)
        self.keys = set(keys) if keys is not None else None
        self._series: dict[Key, _Series] = {}

    def wants(self, key: Key) -> bool:
        return self.keys is None or key in self.keys

    def slot(self, ts: datetime | float) -> int | None:
        """Index of the slot whose interval (t - step, t] holds ts (datetime or epoch seconds), or None."""
        epoch = ts if isinstance(ts, float | int) else as_utc(ts).timestamp()
        index = math.ceil((epoch - self._start_epoch) / self.step - 1e-9)  # tolerate float noise on grid points
        return index if 0 <= index < self.slots else None

    def add(
        self,
        key: Key,
        ts: datetime | float,
        cpu: float | None,
        memory: float | None,
        workload: tuple[str | None, str | None] = (None, None),
    ) -> None:
        if self.keys is not None and key not in self.keys:
            return
        index = self.slot(ts)
        if index is None:
            return
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(*workload)
        if cpu is not None and 0 <= cpu < math.inf:  # drops NaN/Inf that Prometheus can return
            series.cpu_sum[index] = series.cpu_sum.get(index, 0.0) + cpu
            series.cpu_count[index] = series.cpu_count.get(index, 0) + 1
        if memory is not None and 0 <= memory < math.inf and memory > series.memory_max.get(index, -1.0):
            series.memory_max[index] = memory

    def result(self) -> list[ContainerUsage]:
        out = []
        for (namespace, pod, container), series in sorted(self._series.items()):
            total, count, memory = series.cpu_sum, series.cpu_count, series.memory_max
            out.append(
                ContainerUsage(
                    namespace=namespace,
                    pod=pod,
                    container=container,
                    workload_kind=series.workload_kind,
                    workload_name=series.workload_name,
                    start=self.start,
                    step_seconds=self.step,
                    cpu_cores=tuple(total[i] / count[i] if i in total else None for i in range(self.slots)),
                    memory_bytes=tuple(memory.get(i) for i in range(self.slots)),
                )
            )
        return out
