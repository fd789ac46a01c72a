"""Workload-to-service traffic from `traffic.csv` (for the cross-AZ data-transfer engine).

Called by `app.collectors.snapshot.build_snapshot`. Format: `namespace,source,destination,
bytes_per_day`, one edge per row, plus an optional `destination_namespace` column (empty = the
source's namespace) for traffic between namespaces; the same edge listed twice is summed (exports
are often split per day or per port). Mesh metrics come through `traffic_prometheus` instead.
A directory without traffic.csv means "no traffic data", not an error; an explicit file that is
missing or malformed raises `CollectorError` naming the file and line.
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path
from typing import Protocol, runtime_checkable

from app.collectors.errors import CollectorError
from engines.snapshot_aws import TrafficEdge

log = logging.getLogger(__name__)

COLUMNS = ("namespace", "source", "destination", "bytes_per_day")
OPTIONAL = "destination_namespace"
FILE_NAME = "traffic.csv"


@runtime_checkable
class TrafficSource(Protocol):
    """Anything that returns traffic edges (traffic.csv, or service-mesh metrics in Prometheus)."""

    name: str

    def fetch(self) -> list[TrafficEdge]: ...


class FileTrafficSource:
    """Traffic edges from traffic.csv, given the file or the directory holding it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.name = f"file:{self.path / FILE_NAME if self.path.is_dir() else self.path}"

    def fetch(self) -> list[TrafficEdge]:
        path = self.path / FILE_NAME if self.path.is_dir() else self.path
        if not path.exists():
            if self.path.is_dir():
                return []
            raise CollectorError(self.name, f"{path} does not exist")
        totals: dict[tuple[str, str, str, str], float] = {}
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle, strict=True)
                missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
                if missing:
                    raise CollectorError(self.name, f"line 1: missing columns {', '.join(missing)}")
                for row in reader:
                    line = reader.line_num
                    key = tuple((row.get(c) or "").strip() for c in COLUMNS[:3])
                    if not all(key):
                        raise CollectorError(self.name, f"line {line}: empty namespace, source or destination")
                    try:
                        value = float((row.get("bytes_per_day") or "").strip())
                    except ValueError as exc:
                        raise CollectorError(self.name, f"line {line}: bytes_per_day: {exc}") from exc
                    if not math.isfinite(value) or value < 0:
                        raise CollectorError(self.name, f"line {line}: bytes_per_day must be a non-negative number")
                    dst_ns = (row.get(OPTIONAL) or "").strip()
                    edge = (key[0], key[1], key[2], "" if dst_ns == key[0] else dst_ns)
                    totals[edge] = totals.get(edge, 0.0) + value
        except csv.Error as exc:
            raise CollectorError(self.name, f"line {reader.line_num}: malformed CSV: {exc}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise CollectorError(self.name, f"cannot read: {exc}") from exc
        edges = [
            TrafficEdge(namespace=ns, source=src, destination=dst, bytes_per_day=value,
                        destination_namespace=dst_ns or None)
            for (ns, src, dst, dst_ns), value in sorted(totals.items())
        ]
        log.info("%s: %d traffic edges", self.name, len(edges))
        return edges
