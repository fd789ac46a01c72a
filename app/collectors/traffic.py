"""Workload-to-service traffic from `traffic.csv` (for the cross-AZ data-transfer engine).

Called by `app.collectors.snapshot.build_snapshot`. Format: `namespace,source,destination,
bytes_per_day`, one edge per row; the same edge listed twice is summed (exports are often split
per day or per port). A directory without traffic.csv means "no traffic data", not an error; an
explicit file that is missing or malformed raises `CollectorError` naming the file and line.
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
FILE_NAME = "traffic.csv"


@runtime_checkable
class TrafficSource(Protocol):
    """Anything that returns traffic edges (a file today; service-mesh metrics later)."""

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
        totals: dict[tuple[str, str, str], float] = {}
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
                    edge = (key[0], key[1], key[2])
                    totals[edge] = totals.get(edge, 0.0) + value
        except csv.Error as exc:
            raise CollectorError(self.name, f"line {reader.line_num}: malformed CSV: {exc}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise CollectorError(self.name, f"cannot read: {exc}") from exc
        edges = [
            TrafficEdge(namespace=ns, source=src, destination=dst, bytes_per_day=value)
            for (ns, src, dst), value in sorted(totals.items())
        ]
        log.info("%s: %d traffic edges", self.name, len(edges))
        return edges
