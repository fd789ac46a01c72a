"""Usage history from CSV files: the demo's source, and the way to feed exported traces in.

Called through the `UsageSource` protocol by `app.collectors.snapshot.build_snapshot`. Accepts
a file or a directory of `*.csv` (traffic.csv is skipped). Formats, recognised by their header:

* long:  `timestamp,namespace,pod,container,cpu_cores,memory_bytes` (+ optional `workload_kind`,
  `workload_name`); timestamp ISO 8601 (naive = UTC) or epoch seconds; CPU in cores, memory bytes.
* koku:  koku-metrics-operator export (the Kruize traces): `interval_end`, `namespace`,
  `container_name`, `workload`, `workload_type`, `cpu_usage_container_avg` (cores),
  `memory_usage_container_max` (bytes). Rows are per workload, so `pod` = the workload name.
* kruize: the older Kruize aggregate (`interval_end_time`, `cpu_usage_avg_container`,
  `mem_usage_max_container`) with no identity columns; namespace "default", pod and container
  are the file's stem.

Interval rows are placed at their end time, so the interval lands in the grid slot (t - step, t]
it describes (see `usage.py`). Bad input raises `CollectorError` naming the file and line.
"""

from __future__ import annotations

import csv
import functools
import logging
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from app.collectors.errors import CollectorError
from app.collectors.usage import Key, UsageGrid
from engines.snapshot_aws import ContainerUsage

log = logging.getLogger(__name__)

LONG_COLUMNS = ("timestamp", "namespace", "pod", "container", "cpu_cores", "memory_bytes")
KOKU_COLUMNS = (
    "interval_end",
    "namespace",
    "container_name",
    "workload",
    "cpu_usage_container_avg",
    "memory_usage_container_max",
)
KRUIZE_COLUMNS = ("interval_end_time", "cpu_usage_avg_container", "mem_usage_max_container")
_KINDS = {
    "deployment": "Deployment",
    "statefulset": "StatefulSet",
    "daemonset": "DaemonSet",
    "replicaset": "ReplicaSet",
    "job": "Job",
    "cronjob": "CronJob",
}
Row = dict[str, str]
Parsed = tuple[Key, float, float | None, float | None, tuple[str | None, str | None]]


@functools.lru_cache(maxsize=65_536)  # long-format files repeat each timestamp once per container
def parse_time(text: str) -> datetime:
    """ISO 8601, epoch seconds, koku's "2023-03-15 13:15:00 +0000 UTC" or Kruize's `date` output."""
    text = text.strip()
    if not text:
        raise ValueError("empty timestamp")
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    if text.endswith(" UTC") and text[:4].isdigit():
        text = text[: -len(" UTC")]
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = datetime.strptime(text, "%a %b %d %H:%M:%S UTC %Y")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@functools.lru_cache(maxsize=65_536)
def _epoch(text: str) -> float:
    return parse_time(text).timestamp()


def _number(row: Row, column: str) -> float | None:
    text = row.get(column) or ""
    if not text or text.isspace():
        return None  # koku leaves cells empty when there is no data
    value = float(text)
    if not 0 <= value < math.inf:  # also rejects NaN
        raise ValueError(f"{column}={text.strip()!r} is not a non-negative number")
    return value


def _long(row: Row, _stem: str) -> Parsed:
    key = (row["namespace"].strip(), row["pod"].strip(), row["container"].strip())
    if not (key[0] and key[1] and key[2]):
        raise ValueError(f"empty {('namespace', 'pod', 'container')[[bool(k) for k in key].index(False)]}")
    workload = ((row.get("workload_kind") or None), (row.get("workload_name") or None))
    return key, _epoch(row["timestamp"]), _number(row, "cpu_cores"), _number(row, "memory_bytes"), workload


def _koku(row: Row, _stem: str) -> Parsed:
    workload_name = (row.get("workload") or "").strip()
    if not workload_name or not (row.get("namespace") or "").strip():
        raise ValueError("empty namespace or workload")
    kind = (row.get("workload_type") or "").strip().lower()
    key = (row["namespace"].strip(), workload_name, (row.get("container_name") or "").strip())
    cpu, memory = _number(row, "cpu_usage_container_avg"), _number(row, "memory_usage_container_max")
    return key, _epoch(row["interval_end"]), cpu, memory, (_KINDS.get(kind, kind or None), workload_name)


def _kruize(row: Row, stem: str) -> Parsed:
    cpu, memory = _number(row, "cpu_usage_avg_container"), _number(row, "mem_usage_max_container")
    return ("default", stem, stem), _epoch(row["interval_end_time"]), cpu, memory, (None, None)


def detect_format(header: list[str]) -> tuple[str, Callable[[Row, str], Parsed]]:
    columns = {h.strip() for h in header}
    for name, required, parser in (
        ("long", LONG_COLUMNS, _long),
        ("koku", KOKU_COLUMNS, _koku),
        ("kruize", KRUIZE_COLUMNS, _kruize),
    ):
        if set(required) <= columns:
            return name, parser
    expected = ",".join(LONG_COLUMNS)
    raise ValueError(f"unknown CSV header; expected the long format ({expected}) or a koku-metrics-operator export")


class FileUsageSource:
    """CSV usage history in one file or a directory of files."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.name = f"file:{self.path}"

    def files(self) -> list[Path]:
        if self.path.is_dir():
            return sorted(p for p in self.path.glob("*.csv") if p.name != "traffic.csv")
        if self.path.is_file():
            return [self.path]
        raise CollectorError(self.name, f"{self.path} does not exist")

    def fetch(
        self,
        namespace_pods: Iterable[Key] | None,
        start: datetime,
        end: datetime,
        step_seconds: int,
    ) -> list[ContainerUsage]:
        grid = UsageGrid(start, end, step_seconds, namespace_pods)
        for path in self.files():
            self._read(path, grid)
        result = grid.result()
        log.info("%s: %d container series", self.name, len(result))
        return result

    def _read(self, path: Path, grid: UsageGrid) -> None:
        source = f"file:{path}"
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle, strict=True)
                header = next(reader, None)
                if header is None:
                    raise CollectorError(source, "line 1: empty file, expected a CSV header")
                try:
                    _fmt, parser = detect_format(header)
                except ValueError as exc:
                    raise CollectorError(source, f"line 1: {exc}") from exc
                columns = [h.strip() for h in header]
                stem = path.stem
                for row_values in reader:
                    line = reader.line_num
                    if len(row_values) != len(columns):
                        if not any(v.strip() for v in row_values):
                            continue  # a blank line
                        raise CollectorError(
                            source, f"line {line}: expected {len(columns)} fields, found {len(row_values)}"
                        )
                    try:
                        key, ts, cpu, memory, workload = parser(dict(zip(columns, row_values, strict=True)), stem)
                    except (ValueError, KeyError) as exc:
                        raise CollectorError(source, f"line {line}: {exc}") from exc
                    grid.add(key, ts, cpu, memory, workload)
        except csv.Error as exc:
            raise CollectorError(source, f"line {reader.line_num}: {exc}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise CollectorError(source, f"cannot read: {exc}") from exc
