"""The running demo's lock and state file in the data directory (`demo.lock`, `demo.json`).

One demo per data directory: `cloudoptim demo` takes `demo.lock` before it touches anything (the
sandbox directory, its kubeconfig, the database, the state file), and the operating system
releases the lock when the process dies, however it dies, so a demo killed with SIGKILL never
blocks the next one. `demo.json` says where the running demo is (pid, UI URL, sandbox AWS
endpoint) for `cloudoptim demo --inject` and for the message a second demo prints; it counts
only while its pid is alive and the lock is held, so a stale file is simply overwritten.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

LOCK_FILE = "demo.lock"
STATE_FILE = "demo.json"
# A short wait, so `--inject` probing the lock at the same instant never makes a demo refuse.
_ACQUIRE_TIMEOUT_S = 2.0


@dataclass
class DemoState:
    pid: int
    url: str | None = None  # None while the demo is still starting
    aws_env: dict[str, str] = field(default_factory=dict)


class DemoRunning(Exception):
    """Another demo holds the lock of this data directory; `state` says where, when known."""

    def __init__(self, data_dir: Path, state: DemoState | None) -> None:
        self.data_dir, self.state = data_dir, state
        where = "still starting" if state is None or state.url is None else state.url
        pid = f"pid {state.pid}, " if state is not None else ""
        super().__init__(f"a demo is already running on {data_dir} ({pid}{where}); stop it before starting another")


def read_state(data_dir: Path) -> DemoState | None:
    try:
        raw = json.loads((data_dir / STATE_FILE).read_text(encoding="utf-8"))
        return DemoState(pid=int(raw["pid"]), url=raw.get("url"), aws_env=dict(raw.get("aws_env") or {}))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing, half-written or from an older version: as good as no state


def write_state(data_dir: Path, state: DemoState) -> None:
    path = data_dir / STATE_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(state)), encoding="utf-8")
    os.replace(tmp, path)  # `--inject` never reads a half-written file


def pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, dead but not reaped, does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _lock(data_dir: Path, timeout: float) -> FileLock:
    return FileLock(str(data_dir / LOCK_FILE), timeout=timeout)


def lock_held(data_dir: Path) -> bool:
    """Whether some process holds the demo lock of `data_dir` (probed without waiting)."""
    if not (data_dir / LOCK_FILE).exists():
        return False
    probe = _lock(data_dir, timeout=0)
    try:
        probe.acquire()
    except Timeout:
        return True
    probe.release()
    return False


def running_demo(data_dir: Path) -> DemoState | None:
    """The demo running on `data_dir`, or None when there is none (a stale state file is none)."""
    state = read_state(data_dir)
    if state is None or not pid_alive(state.pid) or not lock_held(data_dir):
        return None
    return state


@contextmanager
def demo_lock(data_dir: Path) -> Iterator[None]:
    """Hold the data directory's demo lock; raise DemoRunning if another demo has it."""
    lock = _lock(data_dir, timeout=_ACQUIRE_TIMEOUT_S)
    try:
        lock.acquire()
    except Timeout:
        state = read_state(data_dir)
        raise DemoRunning(data_dir, state if state is not None and pid_alive(state.pid) else None) from None
    try:
        write_state(data_dir, DemoState(pid=os.getpid()))  # replaces a stale file at once
        yield
    finally:
        (data_dir / STATE_FILE).unlink(missing_ok=True)
        lock.release()
