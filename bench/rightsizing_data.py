"""Inputs of the rightsizing backtest: real Kruize container traces and the sandbox's usage history,
each turned into containers x samples matrices plus the requests the containers run with today.

Called by `bench/rightsizing_backtest.py` and tests/test_bench_rightsizing.py. Usage is read
through the product's own parser (`app.collectors.usage_file.FileUsageSource`), so the backtest
sees what a scan sees; the current requests, which that parser does not keep, come from the same
CSV columns (Kruize traces) or from the pod manifests the sandbox scales its usage to.

- `koku-metrics-operator`: `sandbox/estate/traces/` (already in the repository, Apache-2.0), one
  real operator container, 15-minute samples over four weeks with two gaps.
- `tfb`: `bench/data/kruize/tfb_data.csv` (Apache-2.0, see bench/data/README.md), one TechEmpower
  container, 37 samples of 15 minutes.
- `sandbox`: every container of every sandbox cluster (`sandbox.estate`), 14 days at 5 minutes,
  written by `sandbox.usage.write_usage` exactly as the demo writes it and read back. Its texture is
  the koku trace above, so the two are not independent evidence.
"""

from __future__ import annotations

import csv
import math
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.collectors.usage_file import FileUsageSource, parse_time
from engines.snapshot_aws import ContainerUsage

FloatArray = npt.NDArray[np.float64]
DATA_DIR = Path(__file__).with_name("data")
SANDBOX_TRACES = Path(__file__).resolve().parent.parent / "sandbox" / "estate" / "traces"
KOKU = SANDBOX_TRACES / "koku-metrics-operator_deployment_koku-metrics-operator.csv"
TFB = DATA_DIR / "kruize" / "tfb_data.csv"
# A fixed reference time, so the sandbox's daily and weekly envelope is the same in every run.
SANDBOX_NOW = datetime(2026, 5, 1, tzinfo=UTC)

# Column names of (end time, cpu request, memory request, memory limit) per Kruize format.
_REQUEST_COLUMNS = {
    "koku": ("interval_end", "cpu_request_container_avg", "memory_request_container_avg", "memory_limit_container_avg"),
    "kruize": (
        "interval_end_time",
        "cpu_request_avg_container",
        "mem_request_avg_container",
        "mem_limit_avg_container",
    ),
}


@dataclass(frozen=True)
class Dataset:
    """Usage matrices (rows = containers, columns = grid slots, NaN = missing) and, per row, the
    current CPU request (cores), memory request and memory limit (bytes); NaN = not set."""

    name: str
    source: str
    step_seconds: int
    names: tuple[str, ...]
    cpu: FloatArray
    memory: FloatArray
    cpu_request: FloatArray
    memory_request: FloatArray
    memory_limit: FloatArray

    @property
    def containers(self) -> int:
        return int(self.cpu.shape[0])

    @property
    def samples(self) -> int:
        return int(self.cpu.shape[1])


def matrices(usage: Sequence[ContainerUsage]) -> tuple[FloatArray, FloatArray]:
    """Snapshot-shaped usage to two float matrices; None becomes NaN (numpy does that for float dtype)."""
    if not usage:
        return np.empty((0, 0)), np.empty((0, 0))
    width = max(max(len(u.cpu_cores), len(u.memory_bytes)) for u in usage)
    cpu, memory = np.full((len(usage), width), np.nan), np.full((len(usage), width), np.nan)
    for i, u in enumerate(usage):
        cpu[i, : len(u.cpu_cores)] = np.array(u.cpu_cores, dtype=np.float64)
        memory[i, : len(u.memory_bytes)] = np.array(u.memory_bytes, dtype=np.float64)
    return cpu, memory


def _constant(rows: list[dict[str, str]], column: str) -> float:
    """The median of a per-row request column, NaN when every cell is empty (requests not set)."""
    values = [float(r[column]) for r in rows if (r.get(column) or "").strip()]
    values = [v for v in values if math.isfinite(v) and v > 0]
    return statistics.median(values) if values else math.nan


def kruize_trace(path: Path, name: str, step_seconds: int = 900) -> Dataset:
    """One Kruize/koku CSV: usage through FileUsageSource, requests from the file's own columns."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path}: no data rows")
    fmt = "koku" if "interval_end" in rows[0] else "kruize"
    end_col, cpu_col, mem_col, lim_col = _REQUEST_COLUMNS[fmt]
    ends = [parse_time(r[end_col]) for r in rows]
    # Half a step of slack on each side: Kruize's end times drift by seconds from a 15-minute
    # grid, and a grid starting exactly on the first sample would push drifted ones a slot late.
    half = timedelta(seconds=step_seconds / 2)
    usage = FileUsageSource(path).fetch(None, min(ends) - half, max(ends) + half, step_seconds)
    if len(usage) != 1:
        raise ValueError(f"{path}: expected one container series, found {len(usage)}")
    cpu, memory = matrices(usage)
    one = np.ones(1)
    return Dataset(name=name, source=str(path), step_seconds=step_seconds, names=(usage[0].container,),
                   cpu=cpu, memory=memory, cpu_request=one * _constant(rows, cpu_col),
                   memory_request=one * _constant(rows, mem_col), memory_limit=one * _constant(rows, lim_col))  # fmt: skip


def sandbox_history(seed: int = 7, now: datetime = SANDBOX_NOW) -> Dataset:
    """Every sandbox container's 14-day history, as `write_usage` writes it for the demo."""
    from sandbox.estate import CLUSTERS, node_plans
    from sandbox.estate_pods import cluster_objects
    from sandbox.usage import POINTS, STEP_SECONDS, targets_from_pods, write_usage

    plans = node_plans(seed)
    targets = []
    for cluster in CLUSTERS:
        # Placeholder instance ids: the pods only need a node name; no EC2 (moto) is started.
        ids = {n.name: f"i-{0x0B00000000000000 + i:017x}" for i, n in enumerate(plans[cluster.name])}
        objs = cluster_objects(cluster, plans[cluster.name], ids, seed=seed, now=now)
        targets += targets_from_pods(o for o in objs if o["kind"] == "Pod")
    start = now - timedelta(seconds=STEP_SECONDS * (POINTS - 1))
    with tempfile.TemporaryDirectory(prefix="bench-rightsizing-") as tmp:
        path = Path(tmp) / "usage.csv"
        write_usage(path, targets, seed=seed, now=now)
        usage = FileUsageSource(path).fetch(None, start, now, STEP_SECONDS)
    by_key = {(u.namespace, u.pod, u.container): u for u in usage}
    keys = [(t.namespace, t.pod, t.container) for t in targets]
    missing = [k for k in keys if k not in by_key]
    if missing:
        raise ValueError(f"sandbox usage has no series for {len(missing)} containers, e.g. {missing[0]}")
    cpu, memory = matrices([by_key[k] for k in keys])

    def per_row(values: list[float | int | None]) -> FloatArray:
        return np.array([math.nan if v is None else float(v) for v in values])

    return Dataset(name="sandbox", source=f"sandbox.usage.write_usage(seed={seed}, now={now.isoformat()})",
                   step_seconds=STEP_SECONDS, names=tuple("/".join(k) for k in keys), cpu=cpu, memory=memory,
                   cpu_request=per_row([t.cpu_request for t in targets]),
                   memory_request=per_row([t.memory_request for t in targets]),
                   memory_limit=per_row([t.memory_limit for t in targets]))  # fmt: skip


def datasets(seed: int = 7) -> list[Dataset]:
    """Every backtest input present here, real traces first."""
    return [kruize_trace(KOKU, "kruize/koku-metrics-operator"), kruize_trace(TFB, "kruize/tfb"), sandbox_history(seed)]
