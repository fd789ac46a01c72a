"""The worker's liveness file, for process managers (systemd, Kubernetes probes, supervisord).

The worker's `heartbeat` job (background.worker, every HEARTBEAT_S seconds) writes the file
after the database answered, so a fresh file means "the scheduler runs and the database is
reachable". `cloudoptim worker --check` calls `check` and exits 0 when the file is younger than
STALE_AFTER_HEARTBEATS heartbeats, 1 otherwise. The path is `settings.worker.liveness_file`, or
worker.alive in the data directory when that is empty.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.settings import Settings

HEARTBEAT_S = 30
# Three missed beats: one slow database round trip or a long GC pause must not fail a probe.
STALE_AFTER_HEARTBEATS = 3


def liveness_path(settings: Settings) -> Path:
    return Path(settings.worker.liveness_file) if settings.worker.liveness_file else settings.data_dir / "worker.alive"


def touch(path: Path, now: datetime | None = None) -> None:
    """Write when and who, through a temporary file so a reader never sees a half-written one."""
    now = now or datetime.now(UTC)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{now.isoformat(timespec='seconds')} {socket.gethostname()}:{os.getpid()}\n", encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class Liveness:
    alive: bool
    message: str


def check(path: Path, now: datetime | None = None, *, max_age: timedelta | None = None) -> Liveness:
    """Whether the file was written within `max_age` (default three heartbeats), with why not."""
    now = now or datetime.now(UTC)
    max_age = max_age or timedelta(seconds=HEARTBEAT_S * STALE_AFTER_HEARTBEATS)
    try:
        written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except FileNotFoundError:
        return Liveness(False, f"no liveness file at {path}: the worker is not running, or has not started yet")
    except OSError as exc:
        return Liveness(False, f"cannot read the liveness file {path}: {exc.strerror or exc}")
    age = (now - written).total_seconds()
    who = _owner(path)
    if age > max_age.total_seconds():
        return Liveness(False, f"the worker's last heartbeat was {age:.0f} s ago (at {written.isoformat(timespec='seconds')}"
                               f"{who}); stale after {max_age.total_seconds():.0f} s: it is stopped or stuck")  # fmt: skip
    return Liveness(True, f"the worker is alive: last heartbeat {max(age, 0):.0f} s ago{who} ({path})")


def _owner(path: Path) -> str:
    try:
        parts = path.read_text(encoding="utf-8").split()
    except OSError:
        return ""
    return f", by {parts[1]}" if len(parts) >= 2 else ""
