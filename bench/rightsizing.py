"""Rightsizing benchmark: engine speed on a large estate, and a backtest of the sizing rules.

`python -m bench rightsizing [--only speed,backtest] [--quick] [--json]` (bench/__main__.py); the
first row carries the command line. tests/test_bench_rightsizing.py runs the same functions small.

- speed: `RightsizingEngine().scan` (default settings, the real price book) on the estate of
  `bench/rightsizing_estate.py`, 10,000 pod containers x 4,032 samples (14 days at 5 minutes),
  and on 1,000 containers for the scaling (only 1,000 with --quick). Baseline measured in the
  same run on the same snapshot: the plain KRR rule, i.e. reading `Snapshot.usage` into one
  containers x samples matrix per resource plus `np.nanpercentile(cpu, 95)` and max memory
  + 15 % per row; `ratio_to_baseline` = engine seconds / baseline seconds. `core_seconds` is
  `engines.rightsizing.stats.size` with the default rule on that matrix (the sizing core alone).
  Peak memory: the process's peak resident set during the scan (VmHWM, reset when the scan
  starts; see bench/scan.py) and the resident set just before it, which holds the snapshot. The
  scan runs under an address-space budget (`MEMORY_BUDGET_GIB` above what the process already
  maps) so an engine that outgrows it fails its row with the reason instead of exhausting the
  machine. Targets: engine under `TARGET_ENGINE_S` at 10,000 containers.
- backtest: `bench/rightsizing_backtest.py` on `bench/rightsizing_data.py` (real Kruize traces and
  the sandbox's history): savings and violation rates of the default policy, KRR and VPA rules.
"""

from __future__ import annotations

import gc
import resource
import shlex
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from app.pricing import load_price_book
from bench.large_estate import NOW
from bench.rightsizing_backtest import run as backtest
from bench.rightsizing_data import FloatArray, datasets, matrices
from bench.rightsizing_estate import FULL_CONTAINERS, FULL_SAMPLES, usage_snapshot
from bench.scan import peak_mib, reset_peak
from engines.contract import PriceBook, ScanContext
from engines.rightsizing import RightsizingEngine
from engines.rightsizing.policy import to_rule
from engines.rightsizing.settings import RightsizingSettings
from engines.rightsizing.stats import size
from engines.snapshot_aws import ContainerUsage

TARGET_ENGINE_S = 10.0
MEMORY_BUDGET_GIB = 8.0
PARTS = ("speed", "backtest")
Row = dict[str, Any]


def _status_mib(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith(f"{field}:"))
        return round(int(line.split()[1]) / 1024, 1)
    except (OSError, StopIteration):
        return None


@contextmanager
def memory_budget(gib: float) -> Iterator[str]:
    """Allow `gib` more address space than the process maps now (RLIMIT_AS soft limit), then
    restore the old limit; yields how the budget is enforced."""
    mapped = _status_mib("VmSize")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if mapped is None:
        yield "no budget (no /proc/self/status)"
        return
    limit = int((mapped + gib * 1024) * 2**20)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield f"RLIMIT_AS {gib:g} GiB above the {mapped:.0f} MiB mapped"
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def baseline(usage: Sequence[ContainerUsage]) -> tuple[float, float, FloatArray, FloatArray]:
    """(seconds to read the usage into matrices, seconds of the plain KRR rule, cpu, memory)."""
    started = time.perf_counter()
    cpu, memory = matrices(usage)
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: containers with no sample
        np.nanpercentile(cpu, 95, axis=1)
        np.nanmax(memory, axis=1) * 1.15
    return read_s, time.perf_counter() - started, cpu, memory


def speed(
    containers: int,
    samples: int = FULL_SAMPLES,
    seed: int = 7,
    prices: PriceBook | None = None,
    budget_gib: float = MEMORY_BUDGET_GIB,
) -> Row:
    """One engine scan on `containers` x `samples`, with the baseline on the same snapshot."""
    prices = prices or load_price_book()
    started = time.perf_counter()
    snapshot = usage_snapshot(prices, containers, samples, seed)
    generate_s = time.perf_counter() - started
    read_s, krr_s, cpu, memory = baseline(snapshot.usage)
    started = time.perf_counter()
    size(cpu, memory, to_rule(RightsizingSettings().default_policy))
    core_s = time.perf_counter() - started
    del cpu, memory
    gc.collect()
    ctx = ScanContext(prices=prices, now=NOW, settings=RightsizingSettings())
    before = _status_mib("VmRSS")
    measure = reset_peak()
    error = ""
    engine_s: float | None = None
    cpu_s: float | None = None
    recommendations = skipped = 0
    with memory_budget(budget_gib) as budget:
        cpu_started, started = time.process_time(), time.perf_counter()
        try:
            result = RightsizingEngine().scan(snapshot, ctx)
            engine_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
            recommendations, skipped = len(result.recommendations), len(result.skipped)
            del result
        except MemoryError as exc:
            error = f"MemoryError after {time.perf_counter() - started:.1f} s: over the memory budget ({exc})"
    peak = peak_mib()
    baseline_s = read_s + krr_s
    nodes = len(snapshot.cluster.nodes) if snapshot.cluster else 0
    return {
        "part": "speed", "scenario": f"{containers}c-{samples}s", "containers": containers, "samples": samples,
        "nodes": nodes, "owners": len({(u.namespace, u.workload_kind, u.workload_name) for u in snapshot.usage}),
        "generate_seconds": round(generate_s, 3), "seconds": None if engine_s is None else round(engine_s, 3),
        "cpu_seconds": None if cpu_s is None else round(cpu_s, 3),
        "recommendations": recommendations, "skipped": skipped,
        "baseline_seconds": round(baseline_s, 3), "baseline_read_seconds": round(read_s, 3),
        "baseline_rule_seconds": round(krr_s, 3), "core_seconds": round(core_s, 3),
        "ratio_to_baseline": round(engine_s / baseline_s, 2) if baseline_s and engine_s is not None else None,
        "rss_before_mib": before, "peak_rss_mib": peak, "peak_measure": measure, "memory_budget": budget,
        "within_target": engine_s is not None and engine_s < TARGET_ENGINE_S, "error": error,
    }  # fmt: skip


def command_line(argv: list[str] | None = None) -> str:
    args = sys.argv[1:] if argv is None else argv
    return "python -m bench " + shlex.join(args) if args else "python -m bench rightsizing"


def run(quick: bool = False, only: str = "speed,backtest", seed: int = 7, command: str | None = None) -> list[Row]:
    """`only`: comma-separated parts (speed, backtest)."""
    parts = [p.strip() for p in only.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise SystemExit(f"rightsizing: unknown --only {only!r}; use any of {', '.join(PARTS)} (comma-separated)")
    prices = load_price_book()
    rows: list[Row] = []
    if "speed" in parts:
        for containers in (1_000,) if quick else (1_000, FULL_CONTAINERS):
            rows.append(speed(containers, FULL_SAMPLES, seed, prices))
            gc.collect()
    if "backtest" in parts:
        rows += backtest(datasets(seed))
    if rows:
        rows[0] = {"command": command or command_line(), **rows[0]}
    return rows
