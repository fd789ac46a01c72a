"""Sizing and risk curves for all candidate containers at once, then the per-container decision.

`engine.py` calls `size_all` with one `Row` per candidate container: rows sharing a rule are sized
together with `stats.size` and their risk curves (p50, p90, p95, p99, max, each with the policy's
buffer, floor and cap) drawn with one `stats.quantiles` sort and `stats.exceed_shares`. `decide`
then rounds to what the API server stores, keeps what an HPA scales on, refuses to lower an
OOM-killed container's memory, derives limits per policy and skips changes too small to matter.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engines.rightsizing import report, stats
from engines.rightsizing.history import History, matrix
from engines.rightsizing.settings import LimitMode, RightsizingSettings

if TYPE_CHECKING:
    from engines.rightsizing.engine import Candidate

MIB = 2**20
PERCENTILES = [p for _, p in report.CURVE]


@dataclass(frozen=True)
class Row:
    hist: History
    rule: stats.Rule


@dataclass(frozen=True)
class Sized:
    cpu: float  # the rule's CPU request, cores
    memory: float  # the rule's memory request, bytes
    cpu_raw: float  # the same without the floor
    memory_raw: float
    cpu_curve: tuple[float, ...]  # values at report.CURVE
    memory_curve: tuple[float, ...]
    cpu_exceed: tuple[float, ...]  # share of CPU samples above each CPU value
    memory_exceed: tuple[float, ...]  # share of memory samples (whole history) above each value


@dataclass(frozen=True)
class Plan:
    """The four values a recommendation sets (None = no value, as the executor reads it) and its notes."""

    cpu_request: float | None
    memory_request: int | None
    cpu_limit: float | None
    memory_limit: int | None
    notes: list[str]


# Pooled rows differ in length (an owner with 400 replicas holds 400 pods' samples): rows are sized
# in groups of one rule and similar length (powers of two), at most this many matrix cells at a
# time, so NaN padding stays under 2x and memory stays bounded on 10,000 containers.
MAX_CELLS = 8_000_000


def _groups(rows: list[Row]) -> list[tuple[stats.Rule, list[int]]]:
    buckets: dict[tuple[stats.Rule, int], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        width = max(row.hist.cpu.size, row.hist.memory_all.size, 1)
        buckets[(row.rule, int(width - 1).bit_length())].append(i)
    out: list[tuple[stats.Rule, list[int]]] = []
    for (rule, bits), idx in buckets.items():
        per_chunk = max(1, MAX_CELLS // (1 << bits))
        out.extend((rule, idx[k:k + per_chunk]) for k in range(0, len(idx), per_chunk))
    return out


def size_all(rows: list[Row]) -> list[Sized]:
    out: list[Sized | None] = [None] * len(rows)
    for rule, idx in _groups(rows):
        # history.gather already turned NaN, inf and negative samples into NaN: the matrices are clean,
        # so one sort per matrix serves the rule's percentile and the whole curve. This is what
        # stats.size computes (tests/engines/test_rightsizing_stats.py checks they agree).
        cpu = matrix([rows[i].hist.cpu for i in idx])
        mem = matrix([rows[i].hist.memory for i in idx])
        mem_all = matrix([rows[i].hist.memory_all for i in idx])
        cpu_q = stats.quantiles(cpu, [*PERCENTILES, rule.cpu_percentile], cleaned=True)
        mem_q = stats.quantiles(mem, [*PERCENTILES, rule.memory_percentile], cleaned=True)
        cpu_req = stats.finish(cpu_q[:, -1], rule.cpu_buffer, rule.cpu_floor, rule.cpu_cap)
        mem_req = stats.finish(mem_q[:, -1], rule.memory_buffer, rule.memory_floor, rule.memory_cap)
        cpu_raw = stats.finish(cpu_q[:, -1], rule.cpu_buffer, 0.0, rule.cpu_cap)
        mem_raw = stats.finish(mem_q[:, -1], rule.memory_buffer, 0.0, rule.memory_cap)
        cpu_pts = stats.finish(cpu_q[:, :-1], rule.cpu_buffer, rule.cpu_floor, rule.cpu_cap)
        mem_pts = stats.finish(mem_q[:, :-1], rule.memory_buffer, rule.memory_floor, rule.memory_cap)
        cpu_ex = stats.exceed_shares(cpu, cpu_pts, cleaned=True)
        mem_ex = stats.exceed_shares(mem_all, mem_pts, cleaned=True)
        for j, i in enumerate(idx):
            out[i] = Sized(float(cpu_req[j]), float(mem_req[j]), float(cpu_raw[j]), float(mem_raw[j]), tuple(map(float, cpu_pts[j])), tuple(map(float, mem_pts[j])),
                           tuple(map(float, cpu_ex[j])), tuple(map(float, mem_ex[j])))
    return [s for s in out if s is not None]


def _limit(mode: LimitMode, request: float, old_request: float | None, old_limit: float | None) -> float | None:
    if mode == "none":
        return None
    if mode == "equal-request":
        return request
    if old_limit is None:
        return None  # keep-ratio: no limit stays no limit
    # Without a request the API server defaulted the request to the limit: a ratio of 1.
    ratio = old_limit / old_request if old_request else 1.0
    return request * max(ratio, 1.0)


def _floored(sized: float, raw: float, current: float | None) -> float:
    if current is None or current <= 0 or sized <= current or raw >= current:
        return sized
    return current


def _cpu(value: float) -> float:
    return math.ceil(round(value * 1000, 6)) / 1000  # whole millicores, rounded up: what the API stores


def _mem(value: float) -> int:
    return math.ceil(round(value / MIB, 6)) * MIB  # whole MiB, rounded up


def _rel(old: float | None, new: float | None) -> float:
    if old is None or old <= 0:
        return math.inf if new is not None else 0.0
    return abs((new or 0.0) - old) / old


def one_share(samples: np.ndarray, threshold: float | None) -> float:
    if threshold is None:
        return float("nan")
    return float(stats.exceed_share(samples.reshape(1, -1), np.array([threshold]))[0])


def decide(cand: Candidate, sized: Sized, settings: RightsizingSettings) -> Plan | str:
    """The four values to set, with notes and the chosen exceed shares; or the reason to skip."""
    spec, pol, h = cand.spec, cand.resolved.policy, cand.hist
    notes: list[str] = []
    if math.isnan(sized.cpu) or math.isnan(sized.memory):
        return "no valid CPU or memory sample to size from"
    # A floor keeps recommendations from going too low; it never raises a request that is already
    # below it when usage is lower still (that would cost more and protect nothing).
    cpu_req: float | None = _cpu(_floored(sized.cpu, sized.cpu_raw, spec.cpu_request))
    mem_req: int | None = _mem(_floored(sized.memory, sized.memory_raw, spec.memory_request))
    cpu_lim = None if cpu_req is None else _limit(pol.cpu_limit, cpu_req, spec.cpu_request, spec.cpu_limit)
    mem_lim_f = None if mem_req is None else _limit(pol.memory_limit, mem_req, spec.memory_request, spec.memory_limit)
    mem_lim: int | None = None if mem_lim_f is None else _mem(mem_lim_f)
    cpu_lim = None if cpu_lim is None else _cpu(cpu_lim)
    if "cpu" in cand.held:
        cpu_req, cpu_lim = spec.cpu_request, spec.cpu_limit
        notes.append("CPU request and limit kept: the HorizontalPodAutoscaler scales on CPU utilisation.")
    if "memory" in cand.held:
        mem_req, mem_lim = spec.memory_request, spec.memory_limit
        notes.append("Memory request and limit kept: the HorizontalPodAutoscaler scales on memory utilisation.")
    elif h.oom_kills:
        old = spec.memory_limit or spec.memory_request
        if old is not None and mem_req is not None and mem_req < old:
            mem_req = old
            mem_lim = None if mem_lim is None else max(mem_lim, old)
            notes.append("Memory not lowered: the container was OOM-killed, so its usage was capped by the old limit.")
    # Limits alone change no cost and no reservation: a recommendation needs a request to move.
    changed = max(_rel(spec.cpu_request, cpu_req), _rel(spec.memory_request, mem_req))
    if changed < settings.min_change_percent / 100:
        return (f"already right-sized: CPU {report.cores(spec.cpu_request)} vs {report.cores(cpu_req)}, memory "
                f"{report.mib(spec.memory_request)} vs {report.mib(mem_req)} differ by less than "
                f"{settings.min_change_percent:g} % (limits are not changed on their own)")
    replicas = len(cand.owner.pods)
    current = cand.rates.cpu_monthly(spec.cpu_request, replicas) + cand.rates.memory_monthly(spec.memory_request, replicas)
    projected = cand.rates.cpu_monthly(cpu_req, replicas) + cand.rates.memory_monthly(mem_req, replicas)
    if projected < current and current - projected < settings.savings_floor_monthly_usd:
        return (f"would save ${current - projected} a month in requests value, below the "
                f"${settings.savings_floor_monthly_usd} savings floor")
    return Plan(cpu_req, mem_req, cpu_lim, mem_lim, notes)


def curves(cand: Candidate, sized: Sized, plan: Plan, replicas: int) -> tuple[report.Curve, report.Curve]:
    spec, pol, h, rates = cand.spec, cand.resolved.policy, cand.hist, cand.rates
    # OOM risk is at the limit; with no memory limit the request is where node pressure evicts first.
    mem_factor = 1.0
    if plan.memory_limit is not None and plan.memory_request:
        mem_factor = plan.memory_limit / plan.memory_request
    cpu_points = tuple(report.Point(label, v, e, rates.cpu_monthly(v, replicas))
                       for (label, _), v, e in zip(report.CURVE, sized.cpu_curve, sized.cpu_exceed, strict=True))
    mem_points = tuple(report.Point(label, v, one_share(h.memory_all, v * mem_factor) if mem_factor != 1.0 else e,
                                    rates.memory_monthly(v, replicas))
                       for (label, _), v, e in zip(report.CURVE, sized.memory_curve, sized.memory_exceed, strict=True))
    cpu_label = "kept" if "cpu" in cand.held else report.label(pol.cpu_percentile, pol.cpu_buffer)
    mem_label = "kept" if "memory" in cand.held else report.label(pol.memory_percentile, pol.memory_buffer)
    cpu_chosen = report.Point(cpu_label, plan.cpu_request or 0.0, one_share(h.cpu, plan.cpu_request),
                              rates.cpu_monthly(plan.cpu_request, replicas))
    mem_at = plan.memory_limit or plan.memory_request
    mem_chosen = report.Point(mem_label, float(plan.memory_request or 0), one_share(h.memory_all, mem_at),
                              rates.memory_monthly(plan.memory_request, replicas))
    cpu_now = None if spec.cpu_request is None else report.Point(
        "current", spec.cpu_request, one_share(h.cpu, spec.cpu_request), rates.cpu_monthly(spec.cpu_request, replicas))
    mem_now_at = spec.memory_limit or spec.memory_request
    mem_now = None if spec.memory_request is None else report.Point(
        "current", float(spec.memory_request), one_share(h.memory_all, mem_now_at),
        rates.memory_monthly(spec.memory_request, replicas))
    return (report.Curve("cpu", "cores", cpu_points, cpu_chosen, cpu_now, "cpu" in cand.held),
            report.Curve("memory", "bytes", mem_points, mem_chosen, mem_now, "memory" in cand.held))
