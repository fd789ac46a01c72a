"""The command line that puts an uploaded engine's child into its namespaces (root only).

Used by `app.services.upload_sandbox`. `unshare` gives the child new network, mount and PID
namespaces; a short `sh` script then, still as root inside them, re-mounts every mount read-only,
covers the directories that may hold credentials or other users' files with empty tmpfs (binding
the Python installation and the project back, read-only), mounts a size-capped tmpfs as the
working directory, and finally `setpriv` drops to uid/gid 65534 with no capabilities and
no_new_privs, so the upload can neither remount anything nor escape RLIMIT_NPROC. Paths are
shell-quoted; the script is built here, never from the upload.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

NOBODY = 65534
HIDDEN = ("/root", "/home", "/tmp", "/var/tmp", "/dev/shm", "/run")
STAGING = "/mnt"  # an empty tmpfs here holds the bound-back paths while their parents are covered


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def script(work: Path, keeps: list[str], hides: list[str], child: list[str], workdir_mib: int) -> str:
    q = shlex.quote
    covered = [h for h in dict.fromkeys([*HIDDEN, *hides]) if h and h != "/"]
    staged = [k for k in keeps if _under(k, covered)]
    lines = [
        "set -e",
        # every mount of this (private) namespace read-only; the host's mounts are untouched
        "for m in $(awk '{print $5}' /proc/self/mountinfo); do mount -n -o remount,bind,ro \"$m\" 2>/dev/null || true; done",
        f"mount -n -t tmpfs -o size=1m,mode=0755 tmpfs {STAGING}",
    ]
    for i, keep in enumerate(staged):
        lines += [f"mkdir -p {STAGING}/k{i}", f"mount -n --rbind {q(keep)} {STAGING}/k{i}"]
    lines += [f"if [ -d {q(h)} ]; then mount -n -t tmpfs -o size=1m,mode=0755 tmpfs {q(h)}; fi" for h in covered]
    for i, keep in enumerate(staged):
        lines += [f"mkdir -p {q(keep)}", f"mount -n --move {STAGING}/k{i} {q(keep)}",
                  f"mount -n -o remount,bind,ro {q(keep)}"]
    lines += [
        f"mkdir -p {q(str(work))}",
        f"mount -n -t tmpfs -o size={workdir_mib}m,mode=0700,uid={NOBODY},gid={NOBODY} tmpfs {q(str(work))}",
    ]
    lines += [f"if [ -d {q(h)} ]; then mount -n -o remount,ro {q(h)}; fi" for h in [*covered, STAGING]]
    setpriv = shutil.which("setpriv") or "setpriv"
    lines += [
        f"cd {q(str(work))}",
        f"exec {setpriv} --reuid={NOBODY} --regid={NOBODY} --clear-groups --no-new-privs --inh-caps=-all "
        f"--bounding-set=-all {' '.join(q(c) for c in child)}",
    ]
    return "\n".join(lines)


def full_argv(work: Path, keeps: list[str], hides: list[str], child: list[str], workdir_mib: int) -> list[str]:
    unshare = shutil.which("unshare") or "unshare"
    sh = shutil.which("sh") or "/bin/sh"
    return [unshare, "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
            sh, "-c", script(work, keeps, hides, child, workdir_mib)]  # fmt: skip
