"""Run an uploaded engine module in a locked-down subprocess and re-validate what it returns.

Called by `app.services.engine_uploads` (validation by the worker, and scans of enabled uploads).
The child is `python -I -m engines.uploaded.child`: empty environment but PATH and LANG, a private
temporary working directory, `resource.setrlimit` limits (address space, CPU seconds, processes,
file size, open files) and a wall-clock timeout that kills the whole process tree. Where the
machine allows it (`containment()` probes once per process) it also gets:

- as root: new network, mount and PID namespaces (`unshare`), every mount re-mounted read-only,
  empty tmpfs over /root, /home, /tmp, /var/tmp, /dev/shm, /run and /mnt (only the Python
  installation and the project are bound back, read-only), its working directory a size-capped
  tmpfs, and the upload runs as uid 65534 with no capabilities, so RLIMIT_NPROC applies;
- as another user: a user + network namespace (`unshare -rn`) only;
- else: no namespace at all, which `Containment` says in words.

Nothing the child prints is trusted: the reply must be JSON within the size limit, and every
recommendation passes `engines.contract.Recommendation` again, names this module as its engine,
and saves money unless its purpose is reliability.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.services.sandbox_script import HIDDEN, NOBODY, full_argv
from engines.contract import ScanResult


@dataclass(frozen=True)
class Limits:
    wall_s: float = 30.0
    cpu_s: int = 20
    memory_mib: int = 1024
    processes: int = 16
    file_mib: int = 8  # also the cap on the reply: stdout is a file the child writes
    open_files: int = 64
    workdir_mib: int = 16
    max_recommendations: int = 5000


@dataclass(frozen=True)
class Containment:
    mode: str  # "namespaces", "network-only" or "none"
    network_isolated: bool
    network: str
    filesystem: str
    processes: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SandboxResult:
    ok: bool
    error: str | None = None
    stage: str | None = None
    engine: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    result: ScanResult | None = None
    exit: str = ""
    duration_s: float = 0.0
    stderr_tail: str = ""
    containment: Containment | None = None
    limits: Limits = field(default_factory=Limits)


def _probe(argv: list[str]) -> str | None:
    """None when `argv` runs, else why not."""
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, env={"PATH": os.defpath}, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if done.returncode == 0 else (done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}")


@lru_cache(maxsize=1)
def containment() -> Containment:
    """What this machine allows, probed once per process."""
    unshare, setpriv = shutil.which("unshare"), shutil.which("setpriv")
    if unshare is None:
        return Containment("none", False, "not isolated: the unshare command is not installed",
                           "not isolated: writable wherever this user may write (RLIMIT_FSIZE caps each file)",
                           "RLIMIT_NPROC counted over all processes of this user")  # fmt: skip
    if os.geteuid() == 0 and setpriv and Path("/mnt").is_dir():
        probe_dir = Path(tempfile.mkdtemp(prefix="cloudoptim-probe-"))
        try:
            why = _probe(full_argv(probe_dir, keep_paths(), [], [sys.executable, "-I", "-c", "import engines"], 1))
        finally:
            shutil.rmtree(probe_dir, ignore_errors=True)
        if why is None:
            return Containment(
                "namespaces", True, "isolated: own network namespace (unshare --net), no interface but loopback down",
                "read-only everywhere but the private working directory (a tmpfs); /root, /home, /tmp, /var/tmp, "
                "/dev/shm, /run hidden", f"RLIMIT_NPROC for uid {NOBODY} (the upload runs as that user, no "
                "capabilities) in its own PID namespace",
            )  # fmt: skip
    why = _probe([unshare, "-rn", "true"])
    if why is None:
        return Containment("network-only", True, "isolated: user + network namespace (unshare -rn)",
                           "not isolated (not root, no mount namespace): writes limited by file permissions and "
                           "RLIMIT_FSIZE", "RLIMIT_NPROC counted over all processes of this user")  # fmt: skip
    return Containment("none", False, f"not isolated: unshare -rn failed ({why[:200]})",
                       "not isolated: writable wherever this user may write (RLIMIT_FSIZE caps each file)",
                       "RLIMIT_NPROC counted over all processes of this user")  # fmt: skip


def _user_processes() -> int:
    uid, count = str(os.getuid()), 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            count += any(line.startswith("Uid:") and line.split()[1] == uid for line in status.splitlines())
    return count


def _rlimits(limits: Limits, nproc: int) -> Any:
    table = {
        resource.RLIMIT_AS: limits.memory_mib * 2**20,
        resource.RLIMIT_CPU: limits.cpu_s,
        resource.RLIMIT_NPROC: nproc,
        resource.RLIMIT_FSIZE: limits.file_mib * 2**20,
        resource.RLIMIT_NOFILE: limits.open_files,
        resource.RLIMIT_CORE: 0,
    }

    def apply() -> None:  # runs in the forked child before exec: only setrlimit calls
        for which, value in table.items():
            hard = value + 1 if which == resource.RLIMIT_CPU else value  # SIGXCPU first, SIGKILL a second later
            resource.setrlimit(which, (value, hard))

    return apply


def keep_paths() -> list[str]:
    """The Python installation, the venv and the project: bound back read-only under hidden dirs.
    Never a hidden directory itself or one of its parents (a script's own folder on sys.path may
    be /tmp), which would undo the hiding."""
    import engines

    candidates = [sys.base_prefix, sys.prefix, str(Path(engines.__file__).resolve().parents[1])]
    candidates += [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p)]
    real = sorted({str(Path(p).resolve()) for p in candidates})
    real = [p for p in real if not any(h == p or h.startswith(p.rstrip("/") + "/") for h in HIDDEN)]
    return [p for p in real if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in real)]


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    try:  # the PID namespace's init (unshare's child): killing it kills everything in the namespace
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    except OSError:
        children = []
    for pid in children:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _describe_exit(code: int, timed_out: bool, limits: Limits, cpu_used: float) -> str:
    if timed_out:
        return f"killed after the wall-clock timeout of {limits.wall_s:g} s"
    sig = -code if code < 0 else code - 128 if code > 128 else 0
    # unshare cannot always re-raise its child's fatal signal (it then exits 1): the CPU time the
    # child used tells a CPU-limit kill apart from any other failure.
    if sig == signal.SIGXCPU or (code != 0 and cpu_used >= limits.cpu_s - 0.05):
        return f"killed at the CPU limit of {limits.cpu_s} s"
    if sig == signal.SIGXFSZ:
        return f"killed at the file size limit of {limits.file_mib} MiB (output too large)"
    if sig:
        return f"killed by {signal.Signals(sig).name}" if sig in signal.Signals._value2member_map_ else f"signal {sig}"
    return f"exit code {code}"


def run_sandboxed(
    source: str,
    snapshot_json: str,
    *,
    module_name: str,
    prices: dict[str, Any],
    now: str,
    mode: str = "run",
    settings: dict[str, Any] | None = None,
    limits: Limits | None = None,
    hide: list[str] | None = None,
) -> SandboxResult:
    """Run `source` once in the sandbox over `snapshot_json` (a Snapshot as JSON); `mode="validate"`
    adds the child's contract checks. `hide` names more directories to cover (e.g. the SQLite
    database's). Never raises for anything the upload does."""
    limits = limits or Limits()
    box = containment()
    work = Path(tempfile.mkdtemp(prefix="cloudoptim-upload-"))
    out = SandboxResult(ok=False, containment=box, limits=limits)
    started = time.perf_counter()
    try:
        request = {"mode": mode, "source": source, "module_name": module_name, "prices": prices, "now": now,
                   "settings": settings or {}, "snapshot": json.loads(snapshot_json)}  # fmt: skip
        (work / "request.json").write_text(json.dumps(request), encoding="utf-8")
        child = [sys.executable, "-I", "-m", "engines.uploaded.child"]
        if box.mode == "namespaces":
            os.chown(work, NOBODY, NOBODY)
            argv, nproc = full_argv(work, keep_paths(), hide or [], child, limits.workdir_mib), limits.processes
        elif box.mode == "network-only":
            argv, nproc = ["unshare", "-rn", *child], _user_processes() + limits.processes
        else:
            argv, nproc = child, _user_processes() + limits.processes
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}  # -I ignores PYTHONPATH: engines comes from the venv
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(work / "request.json", "rb") as stdin, open(work / "reply.json", "wb") as stdout, \
                open(work / "stderr.txt", "wb") as stderr:  # fmt: skip
            proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr, cwd=work, env=env,
                                    start_new_session=True, preexec_fn=_rlimits(limits, nproc))  # noqa: PLW1509
            timed_out = False
            try:
                proc.wait(timeout=limits.wall_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            _kill_tree(proc)  # also reaps what a finished child left behind outside the PID namespace
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        out.exit = _describe_exit(proc.returncode or 0, timed_out, limits, cpu)
        out.stderr_tail = (work / "stderr.txt").read_bytes()[-2000:].decode(errors="replace")
        with open(work / "reply.json", "rb") as fh:
            raw = fh.read(limits.file_mib * 2**20 + 1)
        _read_reply(out, raw, proc.returncode or 0, timed_out, limits)
    finally:
        out.duration_s = round(time.perf_counter() - started, 3)
        shutil.rmtree(work, ignore_errors=True)
    return out


def _read_reply(out: SandboxResult, raw: bytes, code: int, timed_out: bool, limits: Limits) -> None:
    if timed_out or (code != 0 and not raw):
        out.stage, out.error = "run", f"the engine did not finish: {out.exit}" + _hint(out.stderr_tail)
        return
    if len(raw) >= limits.file_mib * 2**20:
        out.stage, out.error = "output", f"the output is larger than {limits.file_mib} MiB"
        return
    if not raw.strip():
        out.stage, out.error = "output", f"the engine wrote no output ({out.exit})"
        return
    try:
        reply = json.loads(raw)
        if not isinstance(reply, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        out.stage, out.error = "output", f"the engine's output is not valid JSON: {str(exc)[:200]}"
        return
    engine = reply.get("engine")
    out.engine = engine if isinstance(engine, dict) else {}
    out.checks = [c for c in reply.get("checks") or [] if isinstance(c, dict)][:50]
    error = reply.get("error")
    if error:
        stage = error.get("stage", "run") if isinstance(error, dict) else "run"
        message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
        out.stage, out.error = str(stage), str(message)[:1000] + _hint(str(message))
        return
    try:
        out.result = ScanResult.model_validate(reply.get("result"))
    except ValidationError as exc:
        out.stage, out.error = "output", f"the output does not match the ScanResult schema: {_first_error(exc)}"
        return
    out.ok = True


_HINTS = (
    ("MemoryError", "the memory limit was reached"),
    ("Resource temporarily unavailable", "the process limit was reached"),
    ("Network is unreachable", "the sandbox has no network"),
    ("Read-only file system", "only the working directory is writable"),
    ("Unable to locate credentials", "the sandbox has no credentials"),
)


def _hint(text: str) -> str:
    """Why, in the sandbox's terms, an upload's own error happened (empty when unknown)."""
    hints = [hint for needle, hint in _HINTS if needle in text]
    return f" ({'; '.join(hints)})" if hints else ""


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()))
    return f"{where}: {err.get('msg', '')}"[:300] + (f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else "")
